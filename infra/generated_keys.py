"""Keys that ``pulumi up`` makes when the configuration gives none (kept in the state, secret).

* AWS (single server and fleet): a user key when ``llmhost:apiKeys`` is absent and an admin key
  when ``llmhost:adminApiKeys`` is absent, both written into the SSM parameter
  (infra/aws_common.py);
* hetzner, ssh: the user keys are required, so only the admin key is ever generated; it
  reaches the server in proxy.env, over SSH, like every inline key (:func:`with_admin_key`).

Each is a ``pulumi_random.RandomPassword`` of ``GENERATED_KEY_LENGTH`` letters and digits,
made once and kept until the resource is replaced; the stack output ``adminApiKey`` (secret)
shows it: ``pulumi stack output adminApiKey --show-secrets``.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_random as random

from bootstrap.spec import Spec
from infra.key_config import GENERATED_ADMIN_NAME, GENERATED_KEY_LENGTH


def generated_key(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A key made once by pulumi_random and kept in the state (secret); ``name`` is the resource name."""
    password = random.RandomPassword(
        name, length=GENERATED_KEY_LENGTH, special=False, opts=pulumi.ResourceOptions(parent=parent)
    )
    return pulumi.Output.secret(password.result)


def with_admin_key(name: str, spec: Spec, parent: pulumi.Resource) -> tuple[pulumi.Output[Spec], pulumi.Output[str]]:
    """The spec with its admin keys, or with one generated (``<name>-admin-key``, named
    ``admin-1``) when it has none; and the first admin key (secret) for the ``adminApiKey`` output."""
    if spec.admin_keys:
        return pulumi.Output.from_input(spec), pulumi.Output.secret(spec.admin_keys[0])
    key = generated_key(f"{name}-admin-key", parent)
    keyed = key.apply(lambda k: dataclasses.replace(spec, admin_keys=(k,), admin_key_names=(GENERATED_ADMIN_NAME,)))
    return keyed, key
