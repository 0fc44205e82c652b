"""The floors a twin's epoch is held against: the FLOPs of an epoch, this machine's GEMM peak, and
the step's own GEMMs timed alone on their real shapes."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from compare.config import ModelSpec


def flops_per_sample(spec: ModelSpec) -> int:
    """Multiply-adds ×2 of one training step per sample: forward x·Wᵀ, backward gᵀ·x for every
    layer and g·W for every layer but the first (its input gradient is not needed)."""
    sizes = [spec.in_features, *spec.hidden, spec.out_features]
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * (sum(macs) + sum(macs) + sum(macs[1:]))


def gemm_peak(dtype: str, n: int = 2048, repeats: int = 10) -> dict:
    """Best GEMM rate of NumPy and of torch on this machine, FLOP/s (2n³ per n×n product)."""
    np_dtype = np.dtype(dtype)
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np_dtype)
    b = a.T.copy()
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    np.matmul(a, b)
    torch.mm(ta, tb)
    rates = {
        "numpy": 2 * n**3 / timed(lambda: np.matmul(a, b), repeats)["min"],
        "torch": 2 * n**3 / timed(lambda: torch.mm(ta, tb), repeats)["min"],
    }
    return {"flops": max(rates.values()), **rates}


def gemm_floor(spec: ModelSpec, batch_size: int, dtype: str, repeats: int = 5, inner: int = 50) -> dict:
    """Seconds per training step spent in the step's own GEMMs alone, on these shapes: forward x·Wᵀ,
    weight gradient gᵀ·x for every layer, input gradient g·W for every layer but the first; the
    better of NumPy and torch (the matmul floor of this machine for this batch size)."""
    rng = np.random.default_rng(0)
    sizes = [spec.in_features, *spec.hidden, spec.out_features]
    item = np.dtype(dtype)
    Ws = [rng.standard_normal((o, i)).astype(item) for i, o in zip(sizes[:-1], sizes[1:])]
    xs = [rng.standard_normal((batch_size, i)).astype(item) for i in sizes[:-1]]
    gs = [rng.standard_normal((batch_size, o)).astype(item) for o in sizes[1:]]

    def gemms(W_, x_, g_):
        for k, (W, x, g) in enumerate(zip(W_, x_, g_)):
            x @ W.T
            g.T @ x
            if k:
                g @ W

    tensors = [[torch.from_numpy(a) for a in arrs] for arrs in (Ws, xs, gs)]
    numpy_step, torch_step = (lambda: gemms(Ws, xs, gs)), (lambda: gemms(*tensors))

    best = {}
    for name, fn in (("numpy", numpy_step), ("torch", torch_step)):
        fn()
        best[name] = timed(lambda: [fn() for _ in range(inner)], repeats)["min"] / inner
    return {"seconds_per_step": min(best.values()), **best}


def summary(samples: list[float]) -> dict:
    return {"min": min(samples), "median": statistics.median(samples), "samples": samples}


def timed(fn, repeats: int) -> dict:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return summary(samples)
