"""The machine fails, not the run: disk full, unwritable paths, no memory, kill -9 - and torch's defaults."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from compare import checkpoint
from compare.cli import main


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "compare.cli", *map(str, args)], capture_output=True, text=True, **kw)


def one_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def no_tmp_left(root: Path) -> None:
    assert not list(root.rglob(".ckpt-*.tmp-*")), list(root.rglob(".ckpt-*"))


def train_args(data, tmp_path, *extra):
    return [
        "train",
        "--impl",
        "manual",
        "--quiet",
        "--data-dir",
        str(data),
        "--logdir",
        str(tmp_path / "runs"),
        "--experiment",
        "x",
        "--batch-size",
        "16",
        *map(str, extra),
    ]


# --- disk full --------------------------------------------------------------------------------
def test_disk_full_during_a_checkpoint(tiny_mnist, tmp_path, monkeypatch, capsys):
    real = checkpoint._save_manual
    calls = []

    def full_on_second(twin, path, meta):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as f:  # half a file, then the disk is full
                f.write(b"PK\x03\x04")
            raise OSError(errno.ENOSPC, "No space left on device")
        real(twin, path, meta)

    monkeypatch.setattr(checkpoint, "_save_manual", full_on_second)
    assert main(train_args(tiny_mnist, tmp_path, "--epochs", "3")) == 4
    one_line(capsys.readouterr().err, "No space left on device", "checkpoints", "ckpt-000000006 is intact")
    ckpts = tmp_path / "runs" / "x" / "checkpoints"
    no_tmp_left(ckpts)
    first = checkpoint.find(ckpts)
    assert first.name == "ckpt-000000006"
    assert checkpoint.read_meta(first, ["manual"])["epoch"] == 1  # the earlier checkpoint loads


def test_disk_full_during_event_writes(tiny_mnist, tmp_path, monkeypatch, capsys):
    from compare.events import EventWriter

    real, count = EventWriter._write, [0]

    def full_after_some(self, data):
        count[0] += 1
        if count[0] > 12:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(EventWriter, "_write", full_after_some)
    assert main(train_args(tiny_mnist, tmp_path, "--epochs", "5", "--log-every", "1")) == 4
    one_line(capsys.readouterr().err, "TensorBoard log", "runs/x/manual", "No space left on device")
    acc = EventAccumulator(str(tmp_path / "runs" / "x" / "manual"), size_guidance={"scalars": 0})
    acc.Reload()  # what was written stays readable
    assert len(acc.Scalars("curves/loss")) >= 6
    no_tmp_left(tmp_path)


def test_disk_full_writing_json(tiny_mnist, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    r = cli(*train_args(tiny_mnist, tmp_path, "--epochs", "1", "--json", "/dev/full"))
    assert r.returncode == 4
    one_line(r.stderr, "/dev/full", "No space left on device")
    assert checkpoint.find(tmp_path / "runs" / "x" / "checkpoints")  # the run's checkpoint is there


def test_a_real_full_disk(tiny_mnist, tmp_path):
    """A 300 KB tmpfs as --logdir (where this machine lets us mount one): one line, exit 4."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        data = tmp_path / "data"
        from conftest import make_mnist

        make_mnist(data, n_train=3000, n_test=100)
        r = cli("compare", "--quiet", "--data-dir", data, "--logdir", mnt, "--epochs", "5", "--batch-size", "8")
        assert r.returncode == 4, r.stderr
        one_line(r.stderr, "No space left on device", str(mnt))
        no_tmp_left(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# --- paths that cannot be written; memory that is not there ----------------------------------
@pytest.mark.parametrize("flag", ["--logdir", "--checkpoint-dir"])
@pytest.mark.parametrize("where", ["under a file", "in /proc"])
def test_unwritable_directories_are_refused_before_training(tiny_mnist, tmp_path, flag, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = blocker / "runs" if where == "under a file" else Path("/proc/simplenet-nope")
    args = train_args(tiny_mnist, tmp_path, "--epochs", "1")
    if flag == "--logdir":
        args[args.index("--logdir") + 1] = str(path)
    else:
        args += [flag, str(path)]
    r = cli(*args)
    assert r.returncode == 2
    one_line(r.stderr, flag, str(path))
    assert not (tmp_path / "runs").exists()  # nothing half-made


@pytest.mark.parametrize("command", ["train", "compare", "gradcheck"])
def test_a_network_that_cannot_fit_in_memory(tiny_mnist, tmp_path, command):
    extra = ["--random-data"] if command == "gradcheck" else ["--logdir", tmp_path / "runs"]
    extra += ["--impl", "manual"] if command == "train" else []
    r = cli(command, "--hidden", "2000000000", "--data-dir", tiny_mnist, *extra)
    assert r.returncode == 4
    one_line(r.stderr, "memory", "--hidden")
    assert "GiB" in r.stderr or "TiB" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_memory_estimate_counts_what_a_run_holds():
    from compare.config import ModelSpec
    from compare.errors import ResourceError
    from compare.resources import check_memory, memory_needed

    parts = memory_needed(
        ModelSpec(),
        dtype="float32",
        batch_size=64,
        eval_batch_size=10000,
        optimizer="sgd",
        momentum=0.9,
        amsgrad=False,
        n_train=60000,
        n_test=10000,
        twins=2,
    )
    assert 0.4e9 < sum(parts.values()) < 1.5e9  # two float32 copies of MNIST + uint8
    check_memory(parts, available=16 * 1024**3)
    with pytest.raises(ResourceError, match="needs about"):
        check_memory(parts, available=100 * 1024**2)


# --- kill -9, then --resume -----------------------------------------------------------------
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, mnist_factory):
    data = mnist_factory(tmp_path / "data", n_train=1500, n_test=100)
    common = [
        "train",
        "--impl",
        "manual",
        "--data-dir",
        data,
        "--logdir",
        tmp_path / "runs",
        "--epochs",
        "5",
        "--batch-size",
        "4",
        "--dtype",
        "float64",
        "--quiet",
        "--log-every",
        "10",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "compare.cli", *map(str, common), "--experiment", "killed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ckpts = tmp_path / "runs" / "killed" / "checkpoints"
    deadline = time.time() + 120
    while not list(ckpts.glob("ckpt-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.3)  # well into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    last = checkpoint.find(ckpts)
    meta = checkpoint.read_meta(last, ["manual"])
    assert meta["step_in_epoch"] == 0 and 1 <= meta["epoch"] < 5  # only epoch checkpoints: no chance to save

    r = cli("train", "--impl", "manual", "--resume", ckpts, "--data-dir", data, "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli(*common, "--experiment", "whole")
    assert r.returncode == 0, r.stderr

    def final(exp):
        ckpt = checkpoint.find(tmp_path / "runs" / exp / "checkpoints")
        with np.load(ckpt / "manual.npz", allow_pickle=False) as z:
            return json.loads(str(z["meta"])), {k: z[k] for k in z.files if k.startswith("model/")}

    (m1, p1), (m2, p2) = final("killed"), final("whole")
    assert m1["history"]["manual"]["step_loss"] == m2["history"]["manual"]["step_loss"]
    for k in p2:
        np.testing.assert_array_equal(p1[k], p2[k])
    steps = 5 * 375

    def tb(exp):
        acc = EventAccumulator(str(tmp_path / "runs" / exp / "manual"), size_guidance={"scalars": 0})
        acc.Reload()
        return [(e.step, e.value) for e in acc.Scalars("curves/loss")]

    killed = tb("killed")
    assert [s for s, _ in killed] == list(range(1, steps + 1))  # every step exactly once
    assert killed == tb("whole")


# --- experiment directories are claimed atomically ------------------------------------------
def test_parallel_runs_with_one_name_never_share_a_directory(tiny_mnist, tmp_path):
    args = [sys.executable, "-m", "compare.cli", *map(str, train_args(tiny_mnist, tmp_path, "--epochs", "1", "--json"))]
    procs = [
        subprocess.Popen([*args, str(tmp_path / f"r{i}.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(4)
    ]
    for p in procs:
        p.communicate(timeout=180)
        assert p.returncode == 0
    dirs = sorted(json.loads((tmp_path / f"r{i}.json").read_text())["run_dir"] for i in range(4))
    assert len(set(dirs)) == 4
    assert {Path(d).name for d in dirs} == {"x", "x-2", "x-3", "x-4"}
    for d in dirs:  # each holds exactly one run
        assert len(list((Path(d) / "manual").glob("events.out.tfevents.*"))) == 1


# --- defaults mean what they mean in torch.optim ------------------------------------------------
def test_adamw_defaults_to_torchs_weight_decay(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(train_args(tiny_mnist, tmp_path, "--epochs", "1", "--optimizer", "adamw", "--json", out)) == 0
    assert json.loads(out.read_text())["config"]["weight_decay"] == 0.01
    assert json.loads((tmp_path / "runs" / "x" / "config.json").read_text())["weight_decay"] == 0.01
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "0.01 for adamw" in capsys.readouterr().out


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_lockstep_at_each_optimizers_defaults(tiny_mnist, tmp_path, optimizer):
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--quiet",
            "--optimizer",
            optimizer,
            "--dtype",
            "float64",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--data-dir",
            str(tiny_mnist),
            "--logdir",
            str(tmp_path / "runs"),
            "--json",
            str(out),
        ]
    )
    payload = json.loads(out.read_text())
    assert code == 0 and payload["max_abs_loss_diff"] <= 1e-9


@pytest.mark.parametrize("bug", ["adamw-decay-as-l2", "adam-no-bias-correction", "sgd-no-momentum"])
def test_defaults_catch_optimizer_bugs(tiny_mnist, tmp_path, monkeypatch, bug):
    """The defaults a user runs exercise decoupled decay, bias correction and momentum."""
    import manual.optim

    optimizer = {"adamw-decay-as-l2": "adamw", "adam-no-bias-correction": "adam", "sgd-no-momentum": "sgd"}[bug]
    if bug == "adamw-decay-as-l2":
        monkeypatch.setattr(manual.optim.AdamW, "decoupled", False)
    elif bug == "adam-no-bias-correction":
        step = manual.optim.Adam.step

        def no_correction(self):
            for s in self.state.values():
                s["step"] = 10**6 - 1  # 1 − βᵗ ≈ 1: no correction
            step(self)

        monkeypatch.setattr(manual.optim.Adam, "step", no_correction)
    else:
        init = manual.optim.SGD.__init__
        monkeypatch.setattr(
            manual.optim.SGD, "__init__", lambda self, params, **kw: init(self, params, **{**kw, "momentum": 0.0})
        )
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--quiet",
            "--optimizer",
            optimizer,
            "--dtype",
            "float64",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--data-dir",
            str(tiny_mnist),
            "--logdir",
            str(tmp_path / "runs"),
            "--json",
            str(out),
        ]
    )
    assert code == 1
    assert json.loads(out.read_text())["max_abs_loss_diff"] > 1e-6


def test_what_a_checkpoint_covers_is_on_disk_before_it(tiny_mnist, tmp_path, monkeypatch):
    """Events wait in the writer's memory (compare.events buffers them); a checkpoint is written only
    after every event up to its step is in the event file - else a kill -9 right after it would leave
    steps that a resumed run (which purges past the checkpoint) never writes again.  The epoch end's
    histograms are encoded into the buffer just before its checkpoint, so they are on disk at the
    checkpoint only if the runner flushes first."""
    real_save = checkpoint.save
    run = tmp_path / "runs" / "x" / "manual"

    def on_disk(up_to=None):
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "histograms": 0})
        acc.Reload()
        tags = acc.Tags()
        events = {(tag, e.step) for tag in tags["scalars"] for e in acc.Scalars(tag)}
        events |= {(tag, e.step) for tag in tags["histograms"] for e in acc.Histograms(tag)}
        return {(tag, step) for tag, step in events if up_to is None or step <= up_to}

    seen = {}

    def save(directory, step, twins, meta, **kw):
        seen[step] = on_disk()
        return real_save(directory, step, twins, meta, **kw)

    monkeypatch.setattr(checkpoint, "save", save)
    assert main(train_args(tiny_mnist, tmp_path, "--epochs", "2", "--no-images", "--log-every", "1")) == 0
    assert sorted(seen) == [6, 12]
    for step, events in seen.items():
        assert ("histograms/grads/layer3.bias", step) in events  # the last event of the epoch's end
        assert events == on_disk(up_to=step)
