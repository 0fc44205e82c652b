"""Which device the autograd twin runs on, and the numerics that keep GPU float32 comparable."""

from __future__ import annotations

import torch

from compare.errors import UserError


class DeviceError(UserError, ValueError):
    """The requested device is not available here."""


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; asking for an absent device is an error."""
    has = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if has[d])
    if name not in has:
        raise DeviceError(f"--device {name!r} is unknown; choose auto, cpu, cuda or mps")
    if not has[name]:
        raise DeviceError(
            f"--device {name} was asked for but no {name} device is available here; use --device cpu (or auto)"
        )
    return torch.device(name)


def strict_numerics() -> None:
    """Full-precision float32 matmuls on every device (TF32 off), so the twins stay comparable."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
