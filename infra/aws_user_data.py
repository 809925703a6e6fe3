"""The AWS user data: the bundle's cloud-config gzipped, as EC2 takes it.

EC2 takes user data as base64 and counts the decoded bytes against its 16 KB ("User data is
limited to 16 KB, in raw form, before it is base64-encoded": EC2 User Guide,
instancedata-add-user-data.html). The single server passes the base64 as the instance's
``user_data_base64`` (pulumi-aws: "gzip-encoded user data must be base64-encoded and passed via
this argument to avoid corruption"); a launch template's ``user_data`` is base64 already.

No Pulumi import: infra/aws_config.py renders it once with placeholders, so that user data over the
limit fails before anything is created.
"""

from __future__ import annotations

import base64

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.cloudinit import user_data_payload
from bootstrap.spec import Spec


def payload(spec: Spec) -> bytes:
    """The raw user data EC2 counts: ``user-data.yaml`` gzipped (bootstrap.cloudinit.user_data_payload).

    Raises what bootstrap.render_bundle raises, e.g. UserDataTooLarge over spec.user_data_limit.
    """
    return user_data_payload(spec, render_bundle(spec).files[layout.USER_DATA_FILE].content)


def payload_base64(spec: Spec) -> str:
    """:func:`payload` in base64 (ASCII), for ``user_data_base64`` or a launch template's ``user_data``."""
    return base64.b64encode(payload(spec)).decode("ascii")
