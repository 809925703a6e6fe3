"""Pulumi entry point: configuration -> spec -> bundle -> stack outputs.

No cloud resources yet: the target components come later and will receive the rendered
bundle from here. Pulumi runs this file with ``runpy.run_path`` and ``run_name="__main__"``
(see ``infra/__init__.py`` for what that means for imports); the in-process tests in
``tests/infra`` run it exactly the same way under Pulumi's mocks.
"""

from __future__ import annotations

import pulumi

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.spec import SpecError
from infra.config import load, spec_error_to_config_error


def main() -> None:
    settings = load()
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    spec = settings.spec
    try:
        bundle = render_bundle(spec)
    except SpecError as err:
        # The renderers re-check what only they can see (e.g. the user-data size limit).
        raise spec_error_to_config_error(err) from None

    user_data = bundle.files[layout.USER_DATA_FILE].content
    pulumi.export("target", settings.target)
    pulumi.export("runtime", spec.runtime)
    pulumi.export("models", list(spec.models))
    pulumi.export("siteAddress", spec.site_address)
    pulumi.export("bundleDigest", bundle.digest)
    pulumi.export("userDataBytes", len(user_data.encode("utf-8")))


if __name__ == "__main__":
    main()
