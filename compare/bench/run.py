"""The timing itself: rounds of every configuration, each twin beside its plain loop, and
``simplenet bench``'s command."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from compare.architecture.dropout import step_masks
from compare.bench.baselines import bare_manual_loop, dataloader_epoch, plain_numpy_loop, plain_torch_loop
from compare.bench.commands import logging_cost, nproc_figures, startup_figures
from compare.bench.figure import Figure
from compare.bench.floors import flops_per_sample, gemm_floor, gemm_peak, summary, timed
from compare.config import ModelSpec, TrainConfig
from compare.runner import Stepper, epoch_permutation


def train_epoch(twins, batch_size: int, epoch: int = 0) -> None:
    """One epoch of training steps (no evaluation, no logging), every twin on the same batches."""
    n = len(twins[0].y_train)
    steps = -(-n // batch_size)
    perm = epoch_permutation(0, epoch, n)
    for t in twins:
        t.begin_epoch(perm, steps)
    stepper = Stepper(twins)  # the runner's own stepping, lockstep for two twins
    try:
        for s in range(steps):
            lo, hi = s * batch_size, min(n, (s + 1) * batch_size)
            stepper.step(s, lo, hi, step_masks(twins[0].cfg.spec, 0, epoch, s, hi - lo))
    finally:
        stepper.close()
    for t in twins:
        t.host_losses(0, steps)  # waits for a GPU to finish


BASELINE_OF = {"manual": "plain-numpy", "torch": "plain-torch"}
BARE_OF = {"manual": "bare-manual"}


def timing_order(keys: list[Figure], round_: int) -> list[Figure]:
    """The order of one round: each float32 twin right beside the plain loop it is compared with,
    the twin first in even rounds and the loop first in odd ones (the manual twin's code without the
    judge on the loop's other side).  Whatever runs after a torch epoch starts some 5-10 % slower on a
    small CPU (measured: torch's and OpenBLAS's thread pools hand the cores over), so a fixed order
    would bias the twin-to-loop ratio one way."""
    pairs, order = {}, []
    for key in keys:
        base = key._replace(impl=BASELINE_OF.get(key.impl))
        if key.impl in BASELINE_OF and key.dtype == "float32" and base in keys:
            bare = key._replace(impl=BARE_OF.get(key.impl))
            pair = [key, base] + ([bare] if bare in keys else [])  # the twin, its loop, its code without the judge
            order += pair if round_ % 2 == 0 else pair[::-1]
            pairs.update(dict.fromkeys(pair))
    return order + [key for key in keys if key not in pairs]


def run_bench(
    root: Path,
    *,
    batch_sizes=(64, 256),
    dtypes=("float32", "float64"),
    repeats: int = 4,
    device: torch.device = torch.device("cpu"),
    baseline: bool = True,
    startup: bool = True,
    nprocs: list[int] | None = None,
    log=print,
) -> dict:
    from compare.envcard import environment_card
    from compare.twins import ManualTwin, TorchTwin, initial_state

    spec = ModelSpec()
    state = initial_state(spec, 0)
    threads = torch.get_num_threads()
    result = {
        "environment": environment_card(device, "float32", 0),
        "cpu_count": os.cpu_count(),
        "repeats": repeats,
        "batch_sizes": list(batch_sizes),
        "device": str(device),
    }
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
    log(
        "MNIST into memory (train + test, normalised): " + ", ".join(f"{k} {v['median']:.2f}s" for k, v in load.items())
    )

    # Every configuration is timed once per round, round after round, so that a slow spell of a
    # shared machine hits all of them alike; the ratios are then taken round by round.
    def lockstep(bs):
        pair = [twins["float32"]["manual"], twins["float32"]["torch"]]

        def run():  # one thread per twin, as `simplenet compare` runs them
            torch.set_num_threads(1)
            try:
                with threadpool_limits(1, user_api="blas"):
                    train_epoch(pair, bs)
            finally:
                torch.set_num_threads(threads)

        return run

    configs = {
        Figure(impl, dt, bs): (lambda t=twins[dt][impl], bs=bs: train_epoch([t], bs))
        for dt in dtypes
        for bs in batch_sizes
        for impl in ("manual", "torch")
    }
    configs.update({Figure("lockstep", "float32", bs): lockstep(bs) for bs in batch_sizes})
    if baseline:
        configs.update({Figure("dataloader", "float32", bs): dataloader_epoch(root, bs, spec) for bs in batch_sizes})
    for bs in batch_sizes:  # the plain loops a user would write, float32 on the CPU
        m = twins["float32"]["manual"]
        configs[Figure("plain-numpy", "float32", bs)] = plain_numpy_loop(m.x_train, m.y_train, state, bs)
        configs[Figure("plain-torch", "float32", bs)] = plain_torch_loop(m.x_train, m.y_train, state, bs)
        configs[Figure("bare-manual", "float32", bs)] = bare_manual_loop(m.x_train, m.y_train, state, bs)
    for run in configs.values():
        run()  # warm-up: allocations, caches, CUDA kernels
    samples = {key: [] for key in configs}
    for r in range(repeats):
        for key in timing_order(list(configs), r):
            start = time.perf_counter()
            configs[key]()
            samples[key].append(time.perf_counter() - start)
    result["gemm_peak"] = {
        dt: max((first, gemm_peak(dt)), key=lambda p: p["flops"]) for dt, first in result["gemm_peak"].items()
    }  # the better of two reads

    epochs = {}
    for dt in dtypes:
        floor = result["flops_per_epoch"] / result["gemm_peak"][dt]["flops"]
        for bs in batch_sizes:
            for impl in ("manual", "torch"):
                s = summary(samples[Figure(impl, dt, bs)])
                steps = -(-n // bs)
                s.update(
                    steps=steps, floor_seconds=floor, x_floor=s["median"] / floor, us_per_step=s["median"] / steps * 1e6
                )
                epochs[Figure(impl, dt, bs).key] = s
                log(
                    f"  {impl:<6} {dt} batch {bs:>4}: {s['median']:.3f}s per epoch "
                    f"({s['us_per_step']:.0f} µs/step, {s['x_floor']:.1f}× floor)"
                )
            manual, torch_ = samples[Figure("manual", dt, bs)], samples[Figure("torch", dt, bs)]
            epochs[Figure("manual", dt, bs).key]["ratio_to_torch"] = statistics.median(
                a / b for a, b in zip(manual, torch_)
            )
    result["epoch_seconds"] = epochs

    lock = {}
    for bs in batch_sizes:
        s = summary(samples[Figure("lockstep", "float32", bs)])
        apart = [
            a + b for a, b in zip(samples[Figure("manual", "float32", bs)], samples[Figure("torch", "float32", bs)])
        ]
        s.update(
            separate_sum=statistics.median(apart), ratio=statistics.median(x / y for x, y in zip(s["samples"], apart))
        )
        lock[str(bs)] = s
        log(
            f"  lockstep float32 batch {bs:>4}: {s['median']:.3f}s vs {s['separate_sum']:.3f}s apart "
            f"({s['ratio']:.2f}×)"
        )
    result["lockstep"] = lock

    base = {}
    for bs in batch_sizes if baseline else ():
        s = summary(samples[Figure("dataloader", "float32", bs)])
        s["torch_speedup"] = statistics.median(
            a / b for a, b in zip(s["samples"], samples[Figure("torch", "float32", bs)])
        )
        base[str(bs)] = s
        log(
            f"  DataLoader+ToTensor batch {bs:>4}: {s['median']:.2f}s per epoch "
            f"(torch twin {s['torch_speedup']:.1f}× faster)"
        )
    result["dataloader_seconds"] = base

    plain, floors = {}, {}
    for bs in batch_sizes:
        floors[str(bs)] = floor = gemm_floor(spec, bs, "float32")
        steps = -(-n // bs)
        for impl, base_name in BASELINE_OF.items():
            s = summary(samples[Figure(base_name, "float32", bs)])
            twin_samples = samples[Figure(impl, "float32", bs)]
            s["twin_ratio"] = statistics.median(a / b for a, b in zip(twin_samples, s["samples"]))
            s["twin_ratio_of_fastest"] = min(twin_samples) / min(s["samples"])  # the least disturbed rounds
            if impl == "manual":  # our twin's code without the judge, and what judging it adds per step
                bare = samples[Figure("bare-manual", "float32", bs)]
                s["bare_ratio"] = statistics.median(a / b for a, b in zip(bare, s["samples"]))
                s["judging_us_per_step"] = statistics.median(a - b for a, b in zip(twin_samples, bare)) / steps * 1e6
                s["judging_share"] = statistics.median((a - b) / b for a, b in zip(twin_samples, bare))  # of a step
            plain[f"{impl}/{bs}"] = s
            twin = epochs[Figure(impl, "float32", bs).key]
            twin["x_gemm_floor"] = twin["median"] / (floor["seconds_per_step"] * steps)
            without_judge = (
                f"; bare {impl} twin {s['bare_ratio']:.2f}× it (judging {s['judging_us_per_step']:.0f} µs/step)"
                if "bare_ratio" in s
                else ""
            )
            log(
                f"  plain {base_name[6:]} loop batch {bs:>4}: {s['median']:.3f}s per epoch; {impl} twin "
                f"{s['twin_ratio']:.2f}× it{without_judge}; GEMM floor {floor['seconds_per_step'] * 1e6:.0f} µs/step, "
                f"{impl} twin {twin['x_gemm_floor']:.1f}× it"
            )
    result["plain_loops"], result["gemm_floor"] = plain, floors
    result["logging"] = logging_cost()
    log(
        f"  logging: {result['logging']['call_site_us']:.2f} µs per scalar at the call site, "
        f"{result['logging']['amortised_us']:.2f} µs with its write"
    )
    if startup:
        result["startup"] = startup_figures(root, log)
    if nprocs:
        result["nproc"] = nproc_figures(root, nprocs, batch_sizes[0], device.type, log)
    from compare.bench.targets import targets

    result["targets"] = targets(result, batch_sizes)
    return result


def bench_command(
    *,
    batch_sizes: str,
    dtypes: str,
    repeats: int,
    device: str,
    baseline: bool,
    startup: bool,
    nprocs: str | None,
    data_dir: str | None,
    download: bool,
    dataset: str,
    quiet: bool,
) -> dict:
    """``simplenet bench`` from its flags' values: checked, then timed (``run_bench``)."""
    from compare.config import DTYPES
    from compare.data import ensure_mnist, resolve_root
    from compare.errors import ConfigError
    from compare.process import start_up_done
    from torch_impl.device import resolve_device, strict_numerics

    if dataset != "mnist":
        raise ConfigError(f"--dataset {dataset}: bench times MNIST only (its figures are MNIST's)")
    try:
        sizes = [int(v) for v in batch_sizes.split(",")]
    except ValueError:
        raise ConfigError(f"--batch-sizes {batch_sizes!r} is malformed; give e.g. 64,256") from None
    try:
        counts = [int(v) for v in nprocs.split(",")] if nprocs else []
    except ValueError:
        raise ConfigError(f"--nproc {nprocs!r} is malformed; give e.g. 1,2") from None
    if any(n < 1 for n in counts):
        raise ConfigError("--nproc: every process count must be at least 1")
    kinds = [d.strip() for d in dtypes.split(",")]
    if "float32" not in kinds or any(d not in DTYPES for d in kinds):
        raise ConfigError(f"--dtypes {dtypes!r}: give float32 and optionally float64")
    if any(b < 1 for b in sizes) or repeats < 1:
        raise ConfigError("--batch-sizes and --repeats must be at least 1")
    where = resolve_device(device)
    strict_numerics()
    root = ensure_mnist(resolve_root(data_dir), download=download)
    log = (lambda *a, **k: None) if quiet else (lambda *a, **k: print(*a, **k, flush=True))
    start_up_done()
    return run_bench(
        root,
        batch_sizes=sizes,
        dtypes=kinds,
        repeats=repeats,
        device=where,
        baseline=baseline,
        startup=startup,
        nprocs=counts,
        log=log,
    )
