"""Bad input → exit 2, one line on stderr naming the culprit, no traceback, nothing lost."""

import shutil
import subprocess
import sys

import pytest
import torch


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "compare.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def good_run(tmp_path_factory, mnist_factory_module):
    """A tiny float64 compare run (2 epochs, so 2 checkpoints), made once for the checkpoint cases."""
    base = tmp_path_factory.mktemp("good")
    data = mnist_factory_module(base / "data")
    r = cli(
        "compare",
        "--quiet",
        "--data-dir",
        data,
        "--logdir",
        base / "runs",
        "--experiment",
        "x",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--dtype",
        "float64",
    )
    assert r.returncode == 0, r.stderr
    return data, base / "runs" / "x" / "checkpoints"


FLAG_CASES = [
    (["--lr", "0"], "--lr: 0 must be greater than 0"),
    (["--lr", "-1"], "--lr: -1 must be greater than 0"),
    (["--lr", "nan"], "--lr: 'nan' is not a finite number"),
    (["--batch-size", "0"], "--batch-size: 0 must be at least 1"),
    (["--epochs", "-1"], "--epochs: -1 must be at least 1"),
    (["--epochs", "0"], "--epochs: 0 must be at least 1"),
    (["--seed", "-3"], "--seed: -3 must be at least 0"),
    (["--momentum", "-0.5"], "--momentum: -0.5 must be at least 0"),
    (["--log-every", "0"], "--log-every: 0 must be at least 1"),
    (["--eval-batch-size", "0"], "--eval-batch-size: 0 must be at least 1"),
    (["--step-timeout", "0"], "--step-timeout: 0 must be greater than 0"),
    (["--dtype", "float16"], "--dtype 'float16'"),
    (["--optimizer", "lbfgs"], "--optimizer 'lbfgs'"),
    (["--activation", "gelu"], "--activation 'gelu'"),
    (["--hidden", "12,,3"], "--hidden '12,,3'"),
    (["--hidden", "abc"], "--hidden 'abc'"),
    (["--hidden", "0"], "--hidden"),
    (["--schedule", "exp"], "--schedule 'exp'"),
    (["--batch-size", "ten"], "--batch-size"),
    (["--betas", "0.9"], "--betas"),
]


@pytest.mark.parametrize("flags,needle", FLAG_CASES, ids=[" ".join(f) for f, _ in FLAG_CASES])
def test_bad_flags(tiny_mnist, tmp_path, flags, needle):
    r = cli("train", "--impl", "manual", "--data-dir", tiny_mnist, "--logdir", tmp_path / "runs", *flags)
    assert_one_line_error(r, needle)
    assert not (tmp_path / "runs").exists()  # nothing half-made


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA; the error needs one without")
@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_absent_device(tiny_mnist, tmp_path, device):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    r = cli("compare", "--device", device, "--data-dir", tiny_mnist, "--logdir", tmp_path)
    assert_one_line_error(r, f"--device {device}", "--device cpu")


def test_missing_data_directory(tmp_path):
    r = cli("train", "--impl", "torch", "--data-dir", tmp_path / "nowhere", "--no-download", "--logdir", tmp_path)
    assert_one_line_error(r, "nowhere", "--data-dir", "SIMPLENET_DATA")


@pytest.mark.parametrize("impl", ["manual", "torch"])
@pytest.mark.parametrize(
    "kind", ["file missing", "wrong magic", "truncated", "counts differ", "label out of range", "not 28x28"]
)
def test_damaged_data(tiny_mnist, mnist_damage, tmp_path, impl, kind):
    culprit = mnist_damage(tiny_mnist, kind, split="test")
    r = cli("train", "--impl", impl, "--data-dir", tiny_mnist, "--no-download", "--logdir", tmp_path / "runs")
    assert_one_line_error(r, culprit)


def fresh_copy(good_run, tmp_path):
    data, ckpts = good_run
    copy = tmp_path / "checkpoints"
    shutil.copytree(ckpts, copy)
    return data, copy


def test_resume_missing_path(good_run, tmp_path):
    data, _ = good_run
    r = cli("compare", "--resume", tmp_path / "nope", "--data-dir", data)
    assert_one_line_error(r, "nope", "no such file")


def test_resume_directory_without_checkpoints(good_run, tmp_path):
    data, _ = good_run
    r = cli("compare", "--resume", tmp_path, "--data-dir", data)
    assert_one_line_error(r, str(tmp_path), "no checkpoint")


def test_resume_not_a_checkpoint(good_run, tmp_path):
    data, _ = good_run
    bogus = tmp_path / "ckpt-000000001"
    bogus.mkdir()
    (bogus / "manual.npz").write_text("hello, I am a text file")
    (bogus / "torch.pt").write_text("hello, I am a text file")
    r = cli("compare", "--resume", bogus, "--data-dir", data)
    assert_one_line_error(r, "manual.npz", "not a readable checkpoint")


@pytest.mark.parametrize("how", ["truncated", "corrupt"])
@pytest.mark.parametrize("twin", ["manual.npz", "torch.pt"])
def test_damaged_checkpoint_is_refused_and_the_previous_one_survives(good_run, tmp_path, how, twin):
    data, ckpts = fresh_copy(good_run, tmp_path)
    latest, previous = sorted(ckpts.glob("ckpt-*"))[-1], sorted(ckpts.glob("ckpt-*"))[-2]
    target = latest / twin
    blob = target.read_bytes()
    target.write_bytes(blob[: len(blob) // 2] if how == "truncated" else bytes(b ^ 0x5A for b in blob))
    r = cli("compare", "--resume", ckpts, "--data-dir", data, "--quiet")
    assert_one_line_error(r, twin)
    assert previous.is_dir() and (previous / "manual.npz").is_file() and (previous / "torch.pt").is_file()
    assert target.read_bytes() != blob  # the damaged file was left for the user to see
    r = cli("compare", "--resume", previous, "--data-dir", data, "--quiet")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--hidden", "32"], "spec"),
        (["--dtype", "float32"], "dtype"),
        (["--activation", "tanh"], "spec"),
        (["--lr", "0.5"], "lr"),
    ],
)
def test_resume_with_another_architecture_or_dtype(good_run, tmp_path, flags, needle):
    data, ckpts = fresh_copy(good_run, tmp_path)
    r = cli("compare", "--resume", ckpts, "--data-dir", data, *flags)
    assert_one_line_error(r, needle, "start a new run")


def test_resume_with_the_wrong_command(good_run, tmp_path):
    data, ckpts = fresh_copy(good_run, tmp_path)
    r = cli("train", "--impl", "manual", "--resume", ckpts, "--data-dir", data)
    assert_one_line_error(r, "simplenet compare")


@pytest.mark.parametrize("command", ["gradcheck", "train", "compare", "overfit", "sweep", "plot", "bench"])
def test_help_states_each_default_once(command, capsys):
    import re

    from compare.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert not re.search(r"\(default: [^)]*\) \(default:", text), text
