"""``simplenet bench``: how fast each twin trains, side by side in one run, against a FLOP floor.

A benchmark, not a test: it prints figures (and writes them as JSON); the targets are shown
as met or missed, never asserted.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from compare.config import ModelSpec, TrainConfig
from compare.runner import Stepper, epoch_permutation


def summary(samples: list[float]) -> dict:
    return {"min": min(samples), "median": statistics.median(samples), "samples": samples}


def timed(fn, repeats: int) -> dict:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return summary(samples)


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
    rates = {"numpy": 2 * n ** 3 / timed(lambda: np.matmul(a, b), repeats)["min"],
             "torch": 2 * n ** 3 / timed(lambda: torch.mm(ta, tb), repeats)["min"]}
    return {"flops": max(rates.values()), **rates}


def train_epoch(twins, batch_size: int, epoch: int = 0) -> None:
    """One epoch of training steps (no evaluation, no logging), every twin on the same batches."""
    n = len(twins[0].y_train)
    steps = -(-n // batch_size)
    perm = epoch_permutation(0, epoch, n)
    for t in twins:
        t.begin_epoch(perm, steps)
    stepper = Stepper(twins)                  # the runner's own stepping, lockstep for two twins
    try:
        for s in range(steps):
            stepper.step(s, s * batch_size, min(n, (s + 1) * batch_size))
    finally:
        stepper.close()
    for t in twins:
        t.host_losses(0, steps)               # waits for a GPU to finish


def dataloader_epoch(root: Path, batch_size: int, spec: ModelSpec, lr: float = 0.05) -> callable:
    """The idiomatic baseline: torchvision MNIST + ToTensor/Normalize per sample, DataLoader, torch model."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    import torch_impl

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=tf)
    model = torch_impl.SimpleNet(**spec.kwargs())
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)

    def run():
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return run


def run_bench(root: Path, *, batch_sizes=(64, 256), dtypes=("float32", "float64"), repeats: int = 3,
              device: torch.device = torch.device("cpu"), baseline: bool = True, log=print) -> dict:
    from compare.envcard import environment_card
    from compare.twins import ManualTwin, TorchTwin, initial_state

    spec = ModelSpec()
    state = initial_state(spec, 0)
    threads = torch.get_num_threads()
    result = {"environment": environment_card(device, "float32", 0), "cpu_count": os.cpu_count(),
              "repeats": repeats, "batch_sizes": list(batch_sizes), "device": str(device)}
    result["flops_per_sample"] = flops_per_sample(spec)
    result["gemm_peak"] = {dt: gemm_peak(dt) for dt in dtypes}
    log("GEMM peak: " + ", ".join(f"{dt} {p['flops'] / 1e9:.0f} GFLOP/s" for dt, p in result["gemm_peak"].items()))

    twins, load = {}, {}
    for dt in dtypes:
        cfg = TrainConfig(dtype=dt)
        made = {}
        load[f"manual/{dt}"] = timed(lambda: made.__setitem__("manual", ManualTwin(cfg, state, root)), repeats)
        load[f"torch/{dt}"] = timed(lambda: made.__setitem__("torch", TorchTwin(cfg, state, root, device)), repeats)
        twins[dt] = made
    result["load_seconds"] = load
    n = len(twins[dtypes[0]]["manual"].y_train)
    result["train_examples"] = n
    result["flops_per_epoch"] = result["flops_per_sample"] * n
    log("MNIST into memory (train + test, normalised): " + ", ".join(
        f"{k} {v['median']:.2f}s" for k, v in load.items()))

    # Every configuration is timed once per round, round after round, so that a slow spell of a
    # shared machine hits all of them alike; the ratios are then taken round by round.
    def lockstep(bs):
        pair = [twins["float32"]["manual"], twins["float32"]["torch"]]

        def run():                  # one thread per twin, as `simplenet compare` runs them
            torch.set_num_threads(1)
            try:
                with threadpool_limits(1, user_api="blas"):
                    train_epoch(pair, bs)
            finally:
                torch.set_num_threads(threads)
        return run

    configs = {f"{impl}/{dt}/{bs}": (lambda t=twins[dt][impl], bs=bs: train_epoch([t], bs))
               for dt in dtypes for bs in batch_sizes for impl in ("manual", "torch")}
    configs.update({f"lockstep/float32/{bs}": lockstep(bs) for bs in batch_sizes})
    if baseline:
        configs.update({f"dataloader/float32/{bs}": dataloader_epoch(root, bs, spec) for bs in batch_sizes})
    for run in configs.values():
        run()                                              # warm-up: allocations, caches, CUDA kernels
    samples = {key: [] for key in configs}
    for _ in range(repeats):
        for key, run in configs.items():
            start = time.perf_counter()
            run()
            samples[key].append(time.perf_counter() - start)
    result["gemm_peak"] = {dt: max((first, gemm_peak(dt)), key=lambda p: p["flops"])
                           for dt, first in result["gemm_peak"].items()}      # the better of two reads

    epochs = {}
    for dt in dtypes:
        floor = result["flops_per_epoch"] / result["gemm_peak"][dt]["flops"]
        for bs in batch_sizes:
            for impl in ("manual", "torch"):
                s = summary(samples[f"{impl}/{dt}/{bs}"])
                steps = -(-n // bs)
                s.update(steps=steps, floor_seconds=floor, x_floor=s["median"] / floor,
                         us_per_step=s["median"] / steps * 1e6)
                epochs[f"{impl}/{dt}/{bs}"] = s
                log(f"  {impl:<6} {dt} batch {bs:>4}: {s['median']:.3f}s per epoch "
                    f"({s['us_per_step']:.0f} µs/step, {s['x_floor']:.1f}× floor)")
            manual, torch_ = samples[f"manual/{dt}/{bs}"], samples[f"torch/{dt}/{bs}"]
            epochs[f"manual/{dt}/{bs}"]["ratio_to_torch"] = statistics.median(
                a / b for a, b in zip(manual, torch_))
    result["epoch_seconds"] = epochs

    lock = {}
    for bs in batch_sizes:
        s = summary(samples[f"lockstep/float32/{bs}"])
        apart = [a + b for a, b in zip(samples[f"manual/float32/{bs}"], samples[f"torch/float32/{bs}"])]
        s.update(separate_sum=statistics.median(apart),
                 ratio=statistics.median(x / y for x, y in zip(s["samples"], apart)))
        lock[str(bs)] = s
        log(f"  lockstep float32 batch {bs:>4}: {s['median']:.3f}s vs {s['separate_sum']:.3f}s apart "
            f"({s['ratio']:.2f}×)")
    result["lockstep"] = lock

    base = {}
    for bs in batch_sizes if baseline else ():
        s = summary(samples[f"dataloader/float32/{bs}"])
        s["torch_speedup"] = statistics.median(a / b for a, b in zip(s["samples"], samples[f"torch/float32/{bs}"]))
        base[str(bs)] = s
        log(f"  DataLoader+ToTensor batch {bs:>4}: {s['median']:.2f}s per epoch "
            f"(torch twin {s['torch_speedup']:.1f}× faster)")
    result["dataloader_seconds"] = base
    result["targets"] = targets(result, batch_sizes)
    return result


def targets(r: dict, batch_sizes) -> list[dict]:
    out = []

    def add(name, value, limit, fmt="{:.2f}"):
        out.append({"target": name, "measured": value, "limit": limit, "met": value <= limit,
                    "text": fmt.format(value)})

    e = r["epoch_seconds"]
    for bs in batch_sizes:
        if f"manual/float32/{bs}" in e:
            add(f"manual / torch epoch time, float32, batch {bs} ≤ 1.0",
                e[f"manual/float32/{bs}"]["ratio_to_torch"], 1.0)
    for bs, s in r["dataloader_seconds"].items():
        add(f"torch twin ≥ 10× faster than DataLoader+ToTensor, batch {bs} (shown: DataLoader / torch, ≥ 10)",
            -s["torch_speedup"], -10.0, "{:.1f}×")
    big = max(batch_sizes)
    for impl in ("manual", "torch"):
        key = f"{impl}/float32/{big}"
        if key in e:
            add(f"{impl} ≤ 3× FLOP floor, float32, batch {big}", e[key]["x_floor"], 3.0, "{:.1f}×")
    for bs, s in r["lockstep"].items():
        add(f"lockstep compare ≤ 1.15× the twins apart, batch {bs}", s["ratio"], 1.15)
    worst_load = max(v["median"] for v in r["load_seconds"].values())
    add("MNIST load into memory ≤ 1 s (slowest twin/dtype)", worst_load, 1.0, "{:.2f}s")
    if r["device"].startswith("cuda"):
        add("H100: torch twin ≤ 0.3 s per epoch, batch 64", e.get("torch/float32/64", {}).get("median", 1e9), 0.3)
    for t in out:
        if t["text"].endswith("×") and t["measured"] < 0:    # the ≥ target shown as a positive figure
            t["text"] = f"{-t['measured']:.1f}×"
    return out
