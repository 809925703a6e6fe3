"""What an EC2 instance type implies: CPU architecture, GPU, and the AMI to boot.

The architecture and the GPU follow the instance type, so an operator changes one key
(``llmhost:instanceType``) and gets the matching AMI; nothing else has to agree with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bootstrap.echo import shown

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
            f"{shown(name)} is not an EC2 instance type; use family.size such as {DEFAULT_INSTANCE_TYPE}"
        )
    family = match["family"]
    arm = bool(_GRAVITON_RE.match(family))
    gpu = family in GPU_FAMILIES
    if arm and family.startswith("g"):
        # g5g: Graviton with T4 GPUs; no Deep Learning Base OSS AMI for arm64 GPUs.
        raise InstanceTypeError(
            f"{shown(name)} is an arm64 GPU type, which llmhost does not support; use g4dn, g5, g6 or g6e"
        )
    return InstanceType(name=name, family=family, arch="arm64" if arm else "amd64", gpu=gpu)


@dataclass(frozen=True)
class InstanceSize:
    """vCPUs, memory and GPU memory (GiB) of an instance type, for the capacity sizing."""

    vcpus: int
    memory_gib: float
    gpu_memory_gib: float | None = None


# AWS instance type pages (docs.aws.amazon.com/ec2/latest/instancetypes: general purpose,
# compute optimized, memory optimized, accelerated computing), read 2026-11. On x86 types a
# vCPU is a hyper-thread (2 per core); on Graviton a whole core. GPU memory: T4 16 GB,
# A10G 24 GB, L4 24 GB, L40S 48 GB. The same types as infra/prices.py.
INSTANCE_SIZES: dict[str, InstanceSize] = {
    "t3.large": InstanceSize(2, 8),
    "t3.xlarge": InstanceSize(4, 16),
    "t4g.large": InstanceSize(2, 8),
    "t4g.xlarge": InstanceSize(4, 16),
    "m7g.large": InstanceSize(2, 8),
    "m7g.xlarge": InstanceSize(4, 16),
    "m7g.2xlarge": InstanceSize(8, 32),
    "m8g.large": InstanceSize(2, 8),
    "m8g.xlarge": InstanceSize(4, 16),
    "c7g.large": InstanceSize(2, 4),
    "c7g.xlarge": InstanceSize(4, 8),
    "c7g.2xlarge": InstanceSize(8, 16),
    "r7g.large": InstanceSize(2, 16),
    "r7g.xlarge": InstanceSize(4, 32),
    "m7i.large": InstanceSize(2, 8),
    "m7i.xlarge": InstanceSize(4, 16),
    "m7i.2xlarge": InstanceSize(8, 32),
    "c7i.large": InstanceSize(2, 4),
    "c7i.xlarge": InstanceSize(4, 8),
    "g4dn.xlarge": InstanceSize(4, 16, 16),
    "g4dn.2xlarge": InstanceSize(8, 32, 16),
    "g5.xlarge": InstanceSize(4, 16, 24),
    "g5.2xlarge": InstanceSize(8, 32, 24),
    "g6.xlarge": InstanceSize(4, 16, 24),
    "g6.2xlarge": InstanceSize(8, 32, 24),
    "g6e.xlarge": InstanceSize(4, 32, 48),
}
