"""Resume refuses what would change the run and keeps it in one place; nothing already written is lost;
every parser-valid input is used or refused in one line; the newcomer's paths work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from compare import checkpoint
from compare.cli import main
from helpers import cli, one_line

ROOT = Path(__file__).resolve().parents[1]


def train(data, logdir, *extra):
    return [
        "train",
        "--impl",
        "manual",
        "--batch-size",
        "16",
        "--dtype",
        "float64",
        "--data-dir",
        str(data),
        "--logdir",
        str(logdir),
        "--quiet",
        "--no-images",
        *map(str, extra),
    ]


@pytest.fixture
def first_epoch(tmp_path, mnist_factory):
    """A 1-epoch float64 run of 2 planned epochs: (data, checkpoint dir)."""
    data = mnist_factory(tmp_path / "data")
    assert main(train(data, tmp_path / "runs", "--experiment", "r", "--epochs", "2", "--schedule", "step")) == 0
    return data, tmp_path / "runs" / "r" / "checkpoints"


# --- resume refuses what would change the run --------------------------------------------------
def test_resume_on_other_data_is_refused_naming_the_file(tmp_path, mnist_factory, first_epoch, capsys):
    data, ckpts = first_epoch
    other = mnist_factory(tmp_path / "other", n_train=80)
    assert main(train(other, tmp_path / "runs", "--resume", ckpts)) == 2
    line = one_line(capsys.readouterr().err)
    assert "was trained on other data" in line and "train-images-idx3-ubyte" in line
    edited = tmp_path / "edited"
    mnist_factory(edited)
    images = next(edited.rglob("train-images-idx3-ubyte"))
    raw = bytearray(images.read_bytes())
    raw[-1] ^= 0xFF  # one pixel, same size
    images.write_bytes(bytes(raw))
    assert main(train(edited, tmp_path / "runs", "--resume", ckpts)) == 2
    assert "differs in content" in one_line(capsys.readouterr().err)


def test_epochs_on_resume(tmp_path, mnist_factory, capsys):
    """Cosine: another length is another run, refused; below what was trained, refused; a step schedule
    extended equals a fresh run of the new length, bit for bit."""
    data = mnist_factory(tmp_path / "data")
    assert main(train(data, tmp_path / "runs", "--experiment", "c", "--epochs", "2")) == 0
    ckpts = tmp_path / "runs" / "c" / "checkpoints"
    assert main(train(data, tmp_path / "runs", "--resume", ckpts, "--epochs", "3")) == 2
    assert "cosine schedule over 2 epochs" in one_line(capsys.readouterr().err)
    assert main(train(data, tmp_path / "runs", "--resume", ckpts, "--epochs", "1")) == 2
    assert "has already trained 2 epoch(s)" in one_line(capsys.readouterr().err)

    step = ("--schedule", "step", "--step-size", "1", "--gamma", "0.5")
    assert main(train(data, tmp_path / "runs", "--experiment", "s", "--epochs", "2", *step)) == 0
    assert (
        main(
            train(
                data,
                tmp_path / "runs",
                "--resume",
                tmp_path / "runs" / "s",
                "--epochs",
                "4",
                "--json",
                tmp_path / "resumed.json",
            )
        )
        == 0
    )
    assert (
        main(
            train(
                data, tmp_path / "runs", "--experiment", "f", "--epochs", "4", *step, "--json", tmp_path / "fresh.json"
            )
        )
        == 0
    )
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    fresh = json.loads((tmp_path / "fresh.json").read_text())
    assert [e["test_loss"] for e in resumed["epochs"]] == [e["test_loss"] for e in fresh["epochs"]]
    assert [e["lr"] for e in resumed["epochs"]] == [0.05, 0.025, 0.0125, 0.00625]
    config = json.loads((tmp_path / "runs" / "s" / "config.json").read_text())
    assert config["epochs"] == 4


def test_resume_from_another_working_directory_keeps_one_run_directory(tmp_path, mnist_factory):
    data = mnist_factory(tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()
    r = cli(*train(data, "runs", "--experiment", "w", "--epochs", "2", "--schedule", "step"), cwd=work)
    assert r.returncode == 0, r.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = cli(
        "train",
        "--impl",
        "manual",
        "--resume",
        work / "runs" / "w",
        "--epochs",
        "3",
        "--data-dir",
        data,
        "--quiet",
        cwd=elsewhere,
    )
    assert r.returncode == 0, r.stderr
    assert not (elsewhere / "runs").exists()  # nothing split off into the new cwd
    assert list((work / "runs" / "w").glob("environment-resume-*.json"))


def test_two_runs_sharing_a_checkpoint_directory_lose_nothing(tmp_path, mnist_factory, capsys):
    data = mnist_factory(tmp_path / "data")
    shared = tmp_path / "ckpts"
    assert main(train(data, tmp_path / "runs", "--experiment", "a", "--epochs", "2", "--checkpoint-dir", shared)) == 0
    before = sorted(p.name for p in shared.glob("ckpt-*"))
    assert main(train(data, tmp_path / "runs", "--experiment", "b", "--epochs", "2", "--checkpoint-dir", shared)) == 2
    assert "holds the checkpoints of another run" in one_line(capsys.readouterr().err)
    assert sorted(p.name for p in shared.glob("ckpt-*")) == before
    assert not (tmp_path / "runs" / "b").exists()


def test_pruning_never_deletes_a_copied_checkpoint(tmp_path, mnist_factory):
    data = mnist_factory(tmp_path / "data")
    assert main(train(data, tmp_path / "runs", "--experiment", "p", "--epochs", "1", "--schedule", "step")) == 0
    copy = tmp_path / "copies"
    copy.mkdir()
    src = next((tmp_path / "runs" / "p" / "checkpoints").glob("ckpt-*"))
    import shutil

    shutil.copytree(src, copy / src.name)
    assert main(train(data, tmp_path / "runs", "--resume", copy / src.name, "--epochs", "5")) == 0
    assert (copy / src.name).is_dir()  # the copy survives keep-3 pruning
    assert len(list(copy.glob("ckpt-*"))) == 4  # the copy + the newest 3 this run wrote


def test_a_same_step_resave_killed_between_its_renames_leaves_a_checkpoint(tmp_path):
    """The re-save window with slowed renames and a real kill -9: find() always returns a complete ckpt."""
    directory = tmp_path / "ckpts"
    script = f"""
import os, sys, time
from pathlib import Path
from compare import checkpoint

class Twin:
    name = "manual"
    class model:
        @staticmethod
        def state_dict(): return {{"layer1.weight": __import__("numpy").zeros(3)}}
    class optimizer:
        @staticmethod
        def state_dict(): return {{"state": {{}}, "param_group": {{}}}}
    class scheduler:
        @staticmethod
        def state_dict(): return {{}}

d = Path({str(directory)!r})
checkpoint.save(d, 5, [Twin()], {{"step": 5}}, run_id="x")
real = os.replace
def slow(a, b):
    real(a, b)
    if ".old-" in str(b):
        open(d / "between", "w").close()
        time.sleep(60)
os.replace = slow
checkpoint.save(d, 5, [Twin()], {{"step": 5}}, run_id="x")
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while not (directory / "between").exists():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    assert not (directory / "ckpt-000000005").exists()  # the window: no visible ckpt-5
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    found = checkpoint.find(directory)
    assert found.name == "ckpt-000000005" and (found / "manual.npz").is_file()
    assert not list(directory.glob(".ckpt-*.old-*"))


def test_resume_accepts_the_run_directory_a_run_prints(first_epoch, tmp_path):
    data, ckpts = first_epoch
    assert main(train(data, tmp_path / "runs", "--resume", ckpts.parent)) == 0


# --- parser-valid input is used or refused before training ------------------------------------
def test_json_naming_a_directory_is_refused_before_training(tmp_path, tiny_mnist, capsys):
    assert main(train(tiny_mnist, tmp_path / "runs", "--epochs", "1", "--json", tmp_path)) == 2
    assert "--json" in one_line(capsys.readouterr().err) and not (tmp_path / "runs").exists()


def test_an_idx_file_with_no_images_is_one_line(tmp_path, idx_writer, mnist_factory, capsys):
    data = mnist_factory(tmp_path / "data")
    images = next(data.rglob("train-images-idx3-ubyte"))
    idx_writer(images, np.zeros((0, 28, 28), np.uint8))
    idx_writer(next(data.rglob("train-labels-idx1-ubyte")), np.zeros(0, np.uint8))
    assert main(train(data, tmp_path / "runs", "--epochs", "1")) == 2
    assert "holds no images" in one_line(capsys.readouterr().err)


def test_a_shifted_header_is_a_data_error_not_a_memory_one(tmp_path, mnist_factory, capsys):
    data = mnist_factory(tmp_path / "data")
    images = next(data.rglob("train-images-idx3-ubyte"))
    images.write_bytes(b"\x00\x00" + images.read_bytes()[:-2])
    assert main(train(data, tmp_path / "runs", "--epochs", "1")) == 2
    assert "wrong magic number" in one_line(capsys.readouterr().err)


def test_a_full_stdout_is_a_machine_failure_with_the_right_hint(tmp_path, tiny_mnist):
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "compare.cli", "gradcheck", "--random-data", "--batch-size", "4"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert r.returncode == 4, r.stderr
    assert "writing to standard output" in r.stderr and "Traceback" not in r.stderr


def test_nproc_beyond_the_machine_is_refused_before_spawning(tiny_mnist, tmp_path, capsys):
    assert main(["compare", "--nproc", "64", "--data-dir", str(tiny_mnist), "--logdir", str(tmp_path / "runs")]) == 2
    assert "--nproc 64" in one_line(capsys.readouterr().err) and not (tmp_path / "runs").exists()


# --- the newcomer's paths ----------------------------------------------------------------------
def test_train_quiet_still_ends_with_one_summary_line(tiny_mnist, tmp_path, capsys):
    assert main(train(tiny_mnist, tmp_path / "runs", "--epochs", "1")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("train manual: final test accuracy") and "logs:" in out[0]


def test_sweep_both_tabulates_both_twins_and_plot_draws_each_run(tiny_mnist, tmp_path, capsys):
    assert (
        main(
            [
                "sweep",
                "--impl",
                "both",
                "--lr",
                "0.01,0.1",
                "--batch-size",
                "16",
                "--data-dir",
                str(tiny_mnist),
                "--logdir",
                str(tmp_path / "runs"),
                "--experiment",
                "sw",
                "--quiet",
                "--no-images",
                "--json",
                str(tmp_path / "s.json"),
            ]
        )
        == 0
    )
    rows = json.loads((tmp_path / "s.json").read_text())["runs"]
    assert sorted((r["lr"], r["impl"]) for r in rows) == [
        (0.01, "manual"),
        (0.01, "torch"),
        (0.1, "manual"),
        (0.1, "torch"),
    ]
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "runs" / "sw")]) == 0
    wrote = [line for line in capsys.readouterr().out.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 2 and all(Path(line[6:]).is_file() for line in wrote)
    assert main(["plot", str(tmp_path / "runs")]) == 0  # runs/ itself: every run in it


def test_run_sh_passes_the_data_and_model_flags_to_every_step(tiny_mnist, tmp_path):
    r = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "run.sh"),
            "--data-dir",
            str(tiny_mnist),
            "--no-download",
            "--dtype",
            "float64",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--logdir",
            str(tmp_path / "runs"),
            "--quiet",
            "--no-images",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert f"float64, batch of 64 (MNIST train from {tiny_mnist}" in r.stdout
    assert "verdict: AGREE" in r.stdout


@pytest.mark.parametrize("command", ["gradcheck", "train", "compare", "overfit", "sweep", "bench"])
def test_help_shows_every_default_once(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "(default: False)" not in text
    assert not any(line.count("default") > 1 for line in text.splitlines())


def test_a_branch_resumed_from_an_older_checkpoint_keeps_its_whole_visible_history(tmp_path, mnist_factory):
    """Run 3 epochs; resume from epoch 1's checkpoint (a new branch), kill -9 it during epoch 3; resume
    the directory: TensorBoard's view (and plot's, through the same EventAccumulator) holds steps
    1…180 exactly once, and --resume DIR continued the branch, not the old run's newest checkpoint."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = mnist_factory(tmp_path / "data", n_train=960)
    runs = tmp_path / "runs"
    base = train(data, runs, "--schedule", "step", "--log-every", "5", "--epochs", "3")
    assert main([*base, "--experiment", "e"]) == 0
    ckpts = runs / "e" / "checkpoints"
    oldest = sorted(ckpts.glob("ckpt-*"))[0]
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "compare.cli", *base, "--resume", str(oldest)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    second = ckpts / "ckpt-000000120"
    while not (second.exists() and second.stat().st_mtime >= started):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list(ckpts.glob("superseded-*-ckpt-*"))) == 2  # the old branch's, kept aside
    assert main([*base, "--resume", str(ckpts)]) == 0
    acc = EventAccumulator(str(runs / "e" / "manual"), size_guidance={"scalars": 0})
    acc.Reload()
    steps = [e.step for e in acc.Scalars("curves/loss")]
    assert sorted(steps) == list(range(1, 181))
