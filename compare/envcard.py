"""The environment card saved with every run: what produced these numbers."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np


def blas_info() -> list[dict]:
    """BLAS libraries loaded in this process (NumPy's and torch's), with their thread counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return [{"note": "threadpoolctl not installed"}]
    return [
        {k: info.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "filepath")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]


def package_version(name: str) -> str | None:
    """An installed package's version from its metadata: no import (torchvision's costs seconds)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def torch_facts(device) -> dict:
    """What torch decides about the numbers, when this run loaded torch (the torch twin's runs);
    a hand-written twin's run never imports it, and says so (the version comes from the metadata)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {
            "torch": package_version("torch"),
            "torch_loaded": False,
            "torch_threads": None,
            "torch_blas": None,
            "device_name": platform.processor() or platform.machine(),
        }
    device = torch.device(device)
    return {
        "torch": torch.__version__,
        "torch_loaded": True,
        "torch_threads": torch.get_num_threads(),
        "torch_blas": "MKL" if torch.backends.mkl.is_available() else "not MKL (see torch.__config__.show())",
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }


def environment_card(device, dtype: str, seed: int, world=None) -> dict:
    """``device`` is a torch device or its name ("cpu" for the hand-written twin alone)."""
    kind = str(device).split(":")[0]
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        **torch_facts(device),
        "torchvision": package_version("torchvision"),
        "blas": blas_info(),
        "device": str(device),
        "dtype": dtype,
        "seed": seed,
        "git_commit": git_commit(),
        "world_size": getattr(world, "size", 1),
        "backend": getattr(world, "backend", None),
        "devices": [f"{kind}:{r}" if kind == "cuda" else "cpu" for r in range(getattr(world, "size", 1))],
    }
