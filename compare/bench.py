"""``simplenet bench``: how fast each twin trains, side by side in one run, against a FLOP floor.

A benchmark, not a test: it prints figures (and writes them as JSON); the targets are shown
as met or missed, never asserted.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import NamedTuple

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
    rates = {
        "numpy": 2 * n**3 / timed(lambda: np.matmul(a, b), repeats)["min"],
        "torch": 2 * n**3 / timed(lambda: torch.mm(ta, tb), repeats)["min"],
    }
    return {"flops": max(rates.values()), **rates}


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
            stepper.step(s, s * batch_size, min(n, (s + 1) * batch_size))
    finally:
        stepper.close()
    for t in twins:
        t.host_losses(0, steps)  # waits for a GPU to finish


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


def plain_numpy_loop(
    x: np.ndarray, y: np.ndarray, state: dict, batch_size: int, lr: float = 0.05, momentum: float = 0.9
):
    """The baseline a user writes in ten minutes with NumPy alone: the same math as the manual twin
    (ReLU MLP, mean softmax cross-entropy, SGD with torch's momentum), the same batch order, the same
    per-step outputs (loss and correct count) - and none of our abstractions."""
    depth = len(state) // 2
    W = [state[f"layer{k}.weight"].astype(x.dtype) for k in range(1, depth + 1)]
    b = [state[f"layer{k}.bias"].astype(x.dtype) for k in range(1, depth + 1)]
    vW, vb = [np.zeros_like(w) for w in W], [np.zeros_like(v) for v in b]
    n = len(x)
    steps = -(-n // batch_size)

    def run(epoch: int = 0):
        perm = epoch_permutation(0, epoch, n)
        losses, correct = np.zeros(steps), 0
        for s in range(steps):
            idx = perm[s * batch_size : (s + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            m, rows = len(idx), np.arange(len(idx))
            h = [xb]
            for k in range(depth - 1):
                h.append(np.maximum(h[-1] @ W[k].T + b[k], 0))
            z = h[-1] @ W[-1].T + b[-1]
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            total = e.sum(axis=1, keepdims=True)
            losses[s] = np.mean(np.log(total[:, 0]) - z[rows, yb])
            correct += np.count_nonzero(z.argmax(axis=1) == yb)
            g = e / total
            g[rows, yb] -= 1
            g /= m
            for k in range(depth - 1, -1, -1):
                gW, gb = g.T @ h[k], g.sum(axis=0)
                if k:
                    g = (g @ W[k]) * (h[k] > 0)
                vW[k] = momentum * vW[k] + gW
                vb[k] = momentum * vb[k] + gb
                W[k] -= lr * vW[k]
                b[k] -= lr * vb[k]
        return losses, correct

    return run


def plain_torch_loop(
    x: np.ndarray, y: np.ndarray, state: dict, batch_size: int, lr: float = 0.05, momentum: float = 0.9
):
    """The torch baseline a user writes: nn.Sequential, preloaded tensors, torch.optim.SGD with its
    defaults, F.cross_entropy - same math, batch order and per-step outputs as the torch twin."""
    from torch import nn

    depth = len(state) // 2
    layers = []
    for k in range(1, depth + 1):
        w = torch.from_numpy(state[f"layer{k}.weight"]).to(torch.from_numpy(np.array(x[:1])).dtype)
        lin = nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(torch.from_numpy(state[f"layer{k}.bias"]))
        layers += [lin, nn.ReLU()] if k < depth else [lin]
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    xt, yt = torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y))  # its own copy: the twin's is read-only
    n = len(x)
    steps = -(-n // batch_size)

    def run(epoch: int = 0):
        perm = torch.from_numpy(epoch_permutation(0, epoch, n))
        losses, correct = torch.zeros(steps, dtype=xt.dtype), torch.zeros((), dtype=torch.int64)
        for s in range(steps):
            idx = perm[s * batch_size : (s + 1) * batch_size]
            xb, yb = xt[idx], yt[idx]
            out = model(xb)
            loss = torch.nn.functional.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[s] = loss.detach()
            correct += (out.argmax(dim=1) == yb).sum()
        return losses.numpy().astype(np.float64), int(correct)

    return run


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


def startup_figures(root: Path, log=print) -> dict:
    """Per command a user runs, with its defaults: wall time, time to the first training step and the
    wall time outside the steps, each as a ratio to a bare ``import torch`` timed in the same run."""
    import json
    import subprocess
    import sys
    import tempfile

    def wall(argv):
        t0 = time.time()
        r = subprocess.run(argv, capture_output=True, text=True)
        return time.time() - t0, t0, r

    # the command as the console script runs it, and at its exit whether it had imported torch
    probe = (
        "import atexit, sys\n"
        "out = sys.argv.pop(1)\n"
        "atexit.register(lambda: open(out, 'w').write(str('torch' in sys.modules)))\n"
        "from compare.cli import main\n"
        "sys.exit(main())"
    )

    bare = min(wall([sys.executable, "-c", "import torch"])[0] for _ in range(3))
    out = {"bare_import_torch": bare, "commands": {}}
    log(f"bare `import torch`: {bare:.2f}s")
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "gradcheck": ["gradcheck"],
            "train --impl manual": ["train", "--impl", "manual"],
            "train --impl torch": ["train", "--impl", "torch"],
            "compare": ["compare"],
        }
        for name, args in commands.items():
            js = Path(tmp) / "r.json"
            extra = ["--json", str(js)] + (
                [] if name == "gradcheck" else ["--quiet", "--logdir", str(Path(tmp) / "runs")]
            )
            imports = Path(tmp) / "imports"
            seconds, t0, r = wall([sys.executable, "-c", probe, str(imports), *args, "--data-dir", str(root), *extra])
            row = {
                "wall": seconds,
                "wall_x_import": seconds / bare,
                "returncode": r.returncode,
                "imported_torch": imports.read_text() == "True" if imports.exists() else None,
            }
            if r.returncode == 0 and name != "gradcheck":
                t = json.loads(js.read_text())["timing"]
                row.update(
                    to_first_step=t["first_step_at"] - t0,
                    step_seconds=t["step_seconds"],
                    outside_steps=seconds - t["step_seconds"],
                )
                row.update(
                    to_first_step_x_import=row["to_first_step"] / bare,
                    outside_x_import=row["outside_steps"] / bare,
                    outside_fraction=row["outside_steps"] / seconds,
                )
                parts = {"start_up": row["to_first_step"], **t["outside_steps_seconds"]}
                # the rest: between epochs, the results, closing the logs, the interpreter's exit
                parts["rest"] = row["outside_steps"] - sum(parts.values())
                row["outside_parts"] = parts
            out["commands"][name] = row
            log(
                f"  {name}: {seconds:.1f}s wall"
                + (
                    f", first step after {row['to_first_step']:.1f}s, "
                    f"{row['outside_fraction']:.0%} outside steps (" + outside_parts_text(row["outside_parts"]) + ")"
                    if "to_first_step" in row
                    else ""
                )
            )
    return out


PART_NAMES = {
    "start_up": "start-up",
    "step_logging": "per-step logging",
    "epoch_ends": "epoch ends",
    "checkpoints": "checkpoints",
    "rest": "the rest (closing, exit)",
}


def logging_cost(scalars: int = 20_000, per_call: int = 50) -> dict:
    """Microseconds per logged scalar: at the call site (buffered) and amortised with its encoding and
    write (``RunLogger``/``compare.events``), as the runner logs per-step losses."""
    import tempfile

    import numpy as np

    from compare.events import FAST_CRC
    from compare.tblog import RunLogger

    losses = np.random.default_rng(0).random(per_call)
    with tempfile.TemporaryDirectory() as tmp:
        log = RunLogger(Path(tmp))
        call = flush = 0.0
        for i in range(scalars // per_call):
            t = time.perf_counter()
            log.step_losses(i * per_call, losses, tag="curves/loss")
            call += time.perf_counter() - t
            t = time.perf_counter()
            log.flush()
            flush += time.perf_counter() - t
        log.close()
    return {"call_site_us": call / scalars * 1e6, "amortised_us": (call + flush) / scalars * 1e6, "c_crc32c": FAST_CRC}


def outside_parts_text(parts: dict) -> str:
    """Where a run's time outside the training steps went, in words."""
    return ", ".join(f"{PART_NAMES[k]} {v:.1f}s" for k, v in parts.items())


def nproc_figures(root: Path, nprocs: list[int], batch_size: int, device: str, log=print) -> dict:
    """``train --impl torch --nproc N`` for each N: seconds per epoch (steps only, the second epoch) and
    one step's gradient all-reduce, measured in the workers."""
    import json
    import subprocess
    import sys
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in nprocs:
            js = Path(tmp) / f"n{n}.json"
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "compare.cli",
                    "train",
                    "--impl",
                    "torch",
                    "--nproc",
                    str(n),
                    "--epochs",
                    "2",
                    "--batch-size",
                    str(batch_size),
                    "--data-dir",
                    str(root),
                    "--device",
                    device,
                    "--logdir",
                    str(Path(tmp) / "runs"),
                    "--quiet",
                    "--no-images",
                    "--json",
                    str(js),
                ],
                capture_output=True,
                text=True,
            )
            if r.returncode:
                out[str(n)] = {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
                log(f"  --nproc {n}: failed ({out[str(n)]['error']})")
                continue
            payload = json.loads(js.read_text())
            epochs = payload["epochs"]
            row = {
                "epoch_seconds": epochs[-1]["seconds"],
                "steps": payload["steps"] // len(epochs),
                "allreduce_seconds": payload["timing"]["allreduce_seconds"],
            }
            out[str(n)] = row
            log(
                f"  --nproc {n}: {row['epoch_seconds']:.2f}s per epoch"
                + (f", all-reduce {row['allreduce_seconds'] * 1e6:.0f} µs per step" if row["allreduce_seconds"] else "")
            )
    return out


BASELINE_OF = {"manual": "plain-numpy", "torch": "plain-torch"}


class Figure(NamedTuple):
    """What one timed figure is of: a twin (or a loop or baseline), a dtype, a batch size.  The JSON keys
    it under ``key`` ("manual/float32/64"), which ``parse`` reads back."""

    impl: str
    dtype: str
    batch: int

    @property
    def key(self) -> str:
        return f"{self.impl}/{self.dtype}/{self.batch}"

    @classmethod
    def parse(cls, key: str) -> "Figure":
        impl, dtype, batch = key.split("/")
        return cls(impl, dtype, int(batch))


def timing_order(keys: list[Figure], round_: int) -> list[Figure]:
    """The order of one round: each float32 twin right beside the plain loop it is compared with,
    the twin first in even rounds and the loop first in odd ones.  Whatever runs after a torch
    epoch starts some 5-10 % slower on a small CPU (measured: torch's and OpenBLAS's thread pools
    hand the cores over), so a fixed order would bias the twin-to-loop ratio one way."""
    pairs, order = {}, []
    for key in keys:
        base = key._replace(impl=BASELINE_OF.get(key.impl))
        if key.impl in BASELINE_OF and key.dtype == "float32" and base in keys:
            pair = [key, base]
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
            plain[f"{impl}/{bs}"] = s
            twin = epochs[Figure(impl, "float32", bs).key]
            twin["x_gemm_floor"] = twin["median"] / (floor["seconds_per_step"] * steps)
            log(
                f"  plain {base_name[6:]} loop batch {bs:>4}: {s['median']:.3f}s per epoch; {impl} twin "
                f"{s['twin_ratio']:.2f}× it; GEMM floor {floor['seconds_per_step'] * 1e6:.0f} µs/step, "
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
    result["targets"] = targets(result, batch_sizes)
    return result


def targets(r: dict, batch_sizes) -> list[dict]:
    out = []

    def add(name, value, limit, fmt="{:.2f}"):
        out.append(
            {"target": name, "measured": value, "limit": limit, "met": value <= limit, "text": fmt.format(value)}
        )

    e = r["epoch_seconds"]
    for bs in batch_sizes:
        if Figure("manual", "float32", bs).key in e:
            add(
                f"manual / torch epoch time, float32, batch {bs} ≤ 1.0",
                e[Figure("manual", "float32", bs).key]["ratio_to_torch"],
                1.0,
            )
    for bs, s in r["dataloader_seconds"].items():
        add(
            f"torch twin ≥ 10× faster than DataLoader+ToTensor, batch {bs} (shown: DataLoader / torch, ≥ 10)",
            -s["torch_speedup"],
            -10.0,
            "{:.1f}×",
        )
    big = max(batch_sizes)
    for impl in ("manual", "torch"):
        key = Figure(impl, "float32", big).key
        if key in e:
            add(f"{impl} ≤ 3× FLOP floor, float32, batch {big}", e[key]["x_floor"], 3.0, "{:.1f}×")
    for bs, s in r["lockstep"].items():
        add(f"lockstep compare ≤ 1.15× the twins apart, batch {bs}", s["ratio"], 1.15)
    for key, s in r.get("plain_loops", {}).items():
        impl, bs = key.split("/")  # plain loops: "impl/batch"
        add(f"{impl} twin ≤ 1.0× its plain-loop baseline, float32, batch {bs}", s["twin_ratio"], 1.0, "{:.2f}×")
    for bs in r.get("gemm_floor", {}):
        limit = 2.0 if int(bs) >= 256 else 3.0
        for impl in ("manual", "torch"):
            if Figure(impl, "float32", bs).key in e:
                add(
                    f"{impl} twin ≤ {limit:g}× the GEMM floor, float32, batch {bs}",
                    e[Figure(impl, "float32", bs).key]["x_gemm_floor"],
                    limit,
                    "{:.1f}×",
                )
    cmds = r.get("startup", {}).get("commands", {})
    for name, limit in (("train --impl manual", 0.20), ("train --impl torch", 0.25), ("compare", 0.25)):
        if "outside_fraction" in cmds.get(name, {}):
            add(
                f"default `simplenet {name}`: ≤ {limit:.0%} of the wall time outside training steps",
                cmds[name]["outside_fraction"],
                limit,
                "{:.0%}",
            )
    manual = cmds.get("train --impl manual", {})
    if "to_first_step" in manual:
        add(
            "default `simplenet train --impl manual`: first step ≤ 1.0 s after start",
            manual["to_first_step"],
            1.0,
            "{:.2f}s",
        )
    if manual.get("imported_torch") is not None:
        add(
            "`simplenet train --impl manual` never imports torch (1 = it did)",
            float(manual["imported_torch"]),
            0.0,
            "{:.0f}",
        )
    if "logging" in r:
        add("per-step logging at the call site ≤ 2 µs per scalar", r["logging"]["call_site_us"], 2.0, "{:.2f} µs")
        add(
            "per-step logging amortised with the write ≤ 5 µs per scalar",
            r["logging"]["amortised_us"],
            5.0,
            "{:.2f} µs",
        )
    if "gradcheck" in cmds:
        add(
            "`simplenet gradcheck` wall ≤ 1.3× a bare `import torch`",
            cmds["gradcheck"]["wall_x_import"],
            1.3,
            "{:.2f}×",
        )
    worst_load = max(v["median"] for v in r["load_seconds"].values())
    add("MNIST load into memory ≤ 1 s (slowest twin/dtype)", worst_load, 1.0, "{:.2f}s")
    if r["device"].startswith("cuda"):
        add(
            "H100: torch twin ≤ 0.3 s per epoch, batch 64",
            e.get(Figure("torch", "float32", 64).key, {}).get("median", 1e9),
            0.3,
        )
    for t in out:
        if t["text"].endswith("×") and t["measured"] < 0:  # the ≥ target shown as a positive figure
            t["text"] = f"{-t['measured']:.1f}×"
    return out


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
