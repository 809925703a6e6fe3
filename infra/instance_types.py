"""What an EC2 instance type implies: CPU architecture, GPU, and the AMI to boot.

The architecture and the GPU follow the instance type, so an operator changes one key
(``llmhost:instanceType``) and gets the matching AMI; nothing else has to agree with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_INSTANCE_TYPE = "m7g.large"

_TYPE_RE = re.compile(r"^(?P<family>[a-z][a-z0-9-]*)\.(?P<size>[a-z0-9-]+)$")
# Graviton: a "g" right after the generation digit (t4g, m7g, c7gn, r8gd, g5g), and a1.
_GRAVITON_RE = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)$")
# NVIDIA GPU families that the Deep Learning Base OSS Nvidia Driver AMI supports (x86_64).
GPU_FAMILIES = ("g4dn", "g5", "g6", "g6e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en")

UBUNTU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id"
GPU_AMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"

CPU_ROOT_GIB = 20
GPU_ROOT_GIB = 120
"""The Deep Learning AMI's own root snapshot is large (drivers, CUDA); a smaller root fails."""


class InstanceTypeError(ValueError):
    """The instance type cannot be used; the message says why and what is allowed."""


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    arch: str
    """amd64 or arm64, as Canonical names them in the AMI parameter path."""
    gpu: bool

    @property
    def ami_parameter(self) -> str:
        return GPU_AMI_PARAMETER if self.gpu else UBUNTU_AMI_PARAMETER.format(arch=self.arch)

    @property
    def root_volume_gib(self) -> int:
        return GPU_ROOT_GIB if self.gpu else CPU_ROOT_GIB


def classify(name: str) -> InstanceType:
    match = _TYPE_RE.match(name)
    if not match:
        raise InstanceTypeError(
            f"{name!r} is not an EC2 instance type; use family.size such as {DEFAULT_INSTANCE_TYPE}"
        )
    family = match["family"]
    arm = bool(_GRAVITON_RE.match(family))
    gpu = family in GPU_FAMILIES
    if arm and family.startswith("g"):
        # g5g: Graviton with T4 GPUs; no Deep Learning Base OSS AMI for arm64 GPUs.
        raise InstanceTypeError(
            f"{name!r} is an arm64 GPU type, which llmhost does not support; use g4dn, g5, g6 or g6e"
        )
    return InstanceType(name=name, family=family, arch="arm64" if arm else "amd64", gpu=gpu)
