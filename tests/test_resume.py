"""Interrupt a real training process, resume it, and get exactly the uninterrupted run."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

CASES = {
    "compare-sigint": (["compare"], ["manual", "torch"], signal.SIGINT, 130),
    "train-manual-sigterm": (["train", "--impl", "manual"], ["manual"], signal.SIGTERM, 143),
    "train-torch-sigint": (["train", "--impl", "torch"], ["torch"], signal.SIGINT, 130),
    # running statistics in the checkpoints, the step's dropout masks a function of (seed, epoch, step)
    "compare-batchnorm-dropout-sigint": (
        ["compare", "--norm", "batchnorm", "--dropout", "0.2"],
        ["manual", "torch"],
        signal.SIGINT,
        130,
    ),
}


def cli(*args):
    return [sys.executable, "-m", "compare.cli", *map(str, args)]


def final_checkpoint(ckpts):
    return sorted(ckpts.glob("ckpt-*"))[-1]


def read_checkpoint(ckpt, impls):
    """History (per-step losses) and final parameters of each twin, straight from the files."""
    out = {}
    for impl in impls:
        if impl == "manual":
            with np.load(ckpt / "manual.npz", allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                params = {k: z[k] for k in z.files if k.startswith("model/")}
        else:
            payload = torch.load(ckpt / "torch.pt", weights_only=True)
            meta = json.loads(payload["meta"])
            params = {k: v.numpy() for k, v in payload["model"].items()}
        out[impl] = (meta["history"][impl]["step_loss"], params, meta)
    return out


def tb_losses(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars("curves/loss")]


@pytest.mark.parametrize("case", sorted(CASES))
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, mnist_factory, case):
    command, impls, sig, code = CASES[case]
    data = mnist_factory(tmp_path / "data", n_train=1500, n_test=200)  # 375 steps an epoch at batch 4
    steps = 6 * 375
    common = [
        "--data-dir",
        data,
        "--logdir",
        tmp_path / "runs",
        "--epochs",
        "6",
        "--batch-size",
        "4",
        "--dtype",
        "float64",
        "--quiet",
        "--log-every",
        "20",
    ]

    for attempt in range(4):  # a signal that lands between epochs is retried: we want mid-epoch
        name = f"cut{attempt}"
        proc = subprocess.Popen(
            cli(*command, *common, "--experiment", name), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        ckpts = tmp_path / "runs" / name / "checkpoints"
        deadline = time.time() + 120
        while not any(ckpts.glob("ckpt-*")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(0.05 + 0.04 * attempt)  # into the second epoch
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == code, err
        assert "resume with:" in err and "Traceback" not in err
        cut = final_checkpoint(ckpts)
        cut_meta = read_checkpoint(cut, impls)[impls[0]][2]
        assert 0 < cut_meta["step"] < steps
        if cut_meta["step_in_epoch"] > 0:  # stopped mid-epoch, after the current step
            break
    else:
        pytest.fail("four signals in a row landed between epochs")

    r = subprocess.run(cli(*command, "--resume", cut, "--data-dir", data, "--quiet"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(cli(*command, *common, "--experiment", "whole"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

    resumed = read_checkpoint(final_checkpoint(ckpts), impls)
    whole = read_checkpoint(final_checkpoint(tmp_path / "runs" / "whole" / "checkpoints"), impls)
    for impl in impls:
        assert len(resumed[impl][0]) == steps
        assert resumed[impl][0] == whole[impl][0]  # every per-step loss, bit for bit
        for k, v in whole[impl][1].items():
            np.testing.assert_array_equal(resumed[impl][1][k], v)  # final parameters, bit for bit
        cut_points, whole_points = (
            tb_losses(tmp_path / "runs" / name / impl),
            tb_losses(tmp_path / "runs" / "whole" / impl),
        )
        assert [s for s, _ in cut_points] == list(range(1, steps + 1))  # each step exactly once
        assert cut_points == whole_points
