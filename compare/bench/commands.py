"""Whole commands as a user runs them: start-up, the time outside the steps and its parts, the
imports, TensorBoard logging per scalar, and the DDP torch twin."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


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

    # the command as the console script runs it, and at its exit whether it had imported torch (read in the
    # worker, which runs the command; its supervisor, the process itself, never imports torch)
    probe = (
        "import atexit, os, sys\n"
        "out = sys.argv.pop(1)\n"
        "atexit.register(lambda: os.environ.get('SIMPLENET_SUPERVISED') and open(out, 'w').write(str('torch' in sys.modules)))\n"
        "from compare.cli import main\n"
        "sys.exit(main())"
    )

    bare = min(wall([sys.executable, "-c", "import torch"])[0] for _ in range(3))
    out = {"bare_import_torch": bare, "commands": {}}
    log(f"bare `import torch`: {bare:.2f}s")
    with tempfile.TemporaryDirectory() as tmp:
        layers = str(Path(__file__).resolve().parents[2] / "examples" / "cs231n_layers.py")
        commands = {
            "gradcheck": ["gradcheck"],
            "layercheck": ["layercheck", layers],
            "train --impl manual": ["train", "--impl", "manual"],
            "train --impl torch": ["train", "--impl", "torch"],
            "compare": ["compare"],
        }
        for name, args in commands.items():
            js = Path(tmp) / "r.json"
            extra = ["--json", str(js)] + (
                [] if name in ("gradcheck", "layercheck") else ["--quiet", "--logdir", str(Path(tmp) / "runs")]
            )
            imports = Path(tmp) / "imports"
            data = [] if name == "layercheck" else ["--data-dir", str(root)]  # layercheck needs no data
            seconds, t0, r = wall([sys.executable, "-c", probe, str(imports), *args, *data, *extra])
            row = {
                "wall": seconds,
                "wall_x_import": seconds / bare,
                "returncode": r.returncode,
                "imported_torch": imports.read_text() == "True" if imports.exists() else None,
            }
            if r.returncode == 0 and name not in ("gradcheck", "layercheck"):
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
                row["epoch_end_parts"] = t.get("epoch_end_seconds", {})
                row["pictures_fraction"] = row["epoch_end_parts"].get("pictures", 0.0) / seconds
                if name == "compare":  # the one-file report of that run, as a share of the run itself
                    run_dir = json.loads(js.read_text())["run_dir"]
                    took, _, rep = wall(
                        [sys.executable, "-m", "compare.cli", "report", run_dir, "-o", str(Path(tmp) / "r.html")]
                    )
                    row["report_seconds"], row["report_fraction"] = took, took / seconds
                    row["report_returncode"] = rep.returncode
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
            if row.get("epoch_end_parts"):
                log(
                    "    epoch ends: "
                    + ", ".join(f"{k} {v:.2f}s" for k, v in row["epoch_end_parts"].items())
                    + f"; pictures {row['pictures_fraction']:.1%} of the run"
                    + (
                        f"; `simplenet report` of it {row['report_seconds']:.1f}s ({row['report_fraction']:.1%})"
                        if "report_seconds" in row
                        else ""
                    )
                )
    out["supervisor"] = supervisor_overhead(log=log)
    return out


def supervisor_overhead(repeats: int = 7, log=print) -> dict:
    """What the supervisor adds to a command (compare.supervisor): the same short command - ``optimcheck
    --help``, parsed and printed in the worker - run supervised and unsupervised (SIMPLENET_SUPERVISED set,
    as in a worker), interleaved, the fastest of ``repeats`` each; the difference is its fork, its wait and
    its exit."""
    import os
    import subprocess
    import sys

    argv = [sys.executable, "-m", "compare.cli", "optimcheck", "--help"]
    env = {k: v for k, v in os.environ.items() if k != "SIMPLENET_SUPERVISED"}
    best = {"supervised": float("inf"), "unsupervised": float("inf")}
    for _ in range(repeats):
        for how, extra in (("supervised", {}), ("unsupervised", {"SIMPLENET_SUPERVISED": "1"})):
            t0 = time.perf_counter()
            subprocess.run(argv, env={**env, **extra}, capture_output=True, check=True)
            best[how] = min(best[how], time.perf_counter() - t0)
    overhead_ms = 1000 * (best["supervised"] - best["unsupervised"])
    log(
        f"  supervisor: {overhead_ms:.1f} ms on `simplenet optimcheck --help` "
        f"({best['supervised']:.3f}s supervised, {best['unsupervised']:.3f}s without)"
    )
    return {**best, "overhead_ms": overhead_ms}


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
