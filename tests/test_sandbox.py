"""A plug-in cannot fool or break the judge: it cannot change the judge's data, end the judge's process
with its own exit code, train copies of its parameters unnoticed, slip malformed results past step 1,
or hang the run beyond one signal."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from compare import plugins
from compare.cli import main
from compare.config import TrainConfig
from helpers import HANGING_PLUGIN, cli, one_line

ROOT = Path(__file__).resolve().parents[1]
CS231N = (ROOT / "examples" / "cs231n_fc.py").read_text()
MINIMAL = (ROOT / "examples" / "minimal_ours.py").read_text()
LOSS_START = "    def loss(self, X, y=None):\n"


def cs231n_plugin(tmp_path: Path, first_lines: str, name: str = "plug") -> str:
    """The cs231n example with ``first_lines`` run at the top of every ``loss(X, y)`` call."""
    body = "".join(f"        {line}\n" for line in first_lines.splitlines())
    path = tmp_path / f"{name}.py"
    path.write_text(CS231N.replace(LOSS_START, LOSS_START + body))
    return f"{path}:FullyConnectedNet"


def train_args(tiny_mnist, tmp_path, *extra):
    return [
        "train",
        "--impl",
        "manual",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--data-dir",
        str(tiny_mnist),
        "--logdir",
        str(tmp_path / "runs"),
        "--quiet",
        "--no-images",
        *extra,
    ]


# --- data ------------------------------------------------------------------------------------
@pytest.mark.parametrize("write", ["X -= 0.25", "X[0, 0] = 1.0", "y[0] = (y[0] + 1) % 10 if y is not None else None"])
def test_a_plugin_that_writes_into_its_input_is_stopped(write, tmp_path, capsys):
    target = cs231n_plugin(tmp_path, write)
    assert main(["gradcheck", "--random-data", "--batch-size", "8", "--manual", target]) == 2
    line = one_line(capsys.readouterr().err)
    assert "writes into the judge's batch" in line and "plug.py:" in line


def test_the_judges_test_set_is_unchanged_by_a_writing_plugin(tmp_path, tiny_mnist):
    from compare.twins import ManualTwin, initial_state

    cfg = TrainConfig(dtype="float64")
    impl = plugins.load(cs231n_plugin(tmp_path, "X -= 0.25"), cfg.spec, cfg.dtype)
    impl._forward = lambda x: np.subtract(x, 0.25, out=x) @ np.zeros((784, 10))  # writes in its forward too
    twin = ManualTwin(cfg, initial_state(cfg.spec, 0), tiny_mnist, impl=impl)
    before = hashlib.sha256(twin.x_test.tobytes() + twin.y_test.tobytes()).hexdigest()
    with pytest.raises(plugins.PluginError, match="writes into the judge's batch"):
        twin.evaluate()
    assert hashlib.sha256(twin.x_test.tobytes() + twin.y_test.tobytes()).hexdigest() == before


# --- control flow ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "exit_with",
    ["import sys; sys.exit(0)", "import sys; sys.exit(3)", "raise KeyboardInterrupt", "raise GeneratorExit"],
)
def test_a_plugins_exit_or_interrupt_is_never_our_exit_code(exit_with, tmp_path):
    target = cs231n_plugin(tmp_path, exit_with)
    r = cli("gradcheck", "--random-data", "--batch-size", "8", "--manual", target)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    line = one_line(r.stderr)
    assert "plug.py:" in line and "a plug-in must return or raise an Exception" in line


# --- state -------------------------------------------------------------------------------------
def test_a_plugin_that_replaces_its_parameters_is_stopped_with_the_line(tmp_path, tiny_mnist, capsys):
    target = cs231n_plugin(
        tmp_path, "for k in list(self.params):\n    self.params[k] = self.params[k].astype(self.dtype)"
    )
    assert main(train_args(tiny_mnist, tmp_path, "--manual", target)) == 2
    line = one_line(capsys.readouterr().err)
    assert "replaced W1 with a new array at" in line and "plug.py:" in line and "in place" in line


def test_new_parameter_objects_per_call_are_stopped(tmp_path, tiny_mnist, capsys):
    source = MINIMAL.replace(
        "    def __call__(self, x):\n", "    def __call__(self, x):\n        self.W = [Param(w.data) for w in self.W]\n"
    )
    (tmp_path / "fresh.py").write_text(source)
    assert main(train_args(tiny_mnist, tmp_path, "--manual", f"{tmp_path / 'fresh.py'}:MLP")) == 2
    assert "named_parameters() now yields a new object for layer1.weight" in one_line(capsys.readouterr().err)


# --- every step validated ----------------------------------------------------------------------
def test_gradients_as_lists_train_like_arrays(tmp_path, tiny_mnist):
    source = MINIMAL.replace("self.W[k].grad = g.T @ self.h[k]", "self.W[k].grad = (g.T @ self.h[k]).tolist()")
    (tmp_path / "lists.py").write_text(source)
    out = tmp_path / "c.json"
    assert (
        main(
            [
                "compare",
                "--manual",
                f"{tmp_path / 'lists.py'}:MLP",
                "--epochs",
                "1",
                "--dtype",
                "float64",
                "--batch-size",
                "16",
                "--data-dir",
                str(tiny_mnist),
                "--logdir",
                str(tmp_path / "runs"),
                "--quiet",
                "--no-images",
                "--json",
                str(out),
            ]
        )
        == 0
    )


def test_a_per_sample_loss_vector_is_refused(tmp_path, tiny_mnist, capsys):
    path = tmp_path / "vector.py"
    path.write_text(CS231N.replace("loss = -log_probs[np.arange(n), y].mean()", "loss = -log_probs[np.arange(n), y]"))
    assert main(["gradcheck", "--random-data", "--batch-size", "8", "--manual", f"{path}:FullyConnectedNet"]) == 2
    assert "the loss has shape (8,), not a scalar" in one_line(capsys.readouterr().err)


def test_a_nan_gradient_at_a_later_step_is_caught(tmp_path, tiny_mnist, capsys):
    """Not only the first step is validated: the third step's NaN gradient stops the run in one line."""
    path = tmp_path / "spoiled.py"
    path.write_text(
        CS231N
        + """

class Spoiled(FullyConnectedNet):
    calls = 0

    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is None:
            return out
        Spoiled.calls += 1
        if Spoiled.calls == 3:
            out[1]["W2"][0, 0] = np.nan
        return out
"""
    )
    assert main(train_args(tiny_mnist, tmp_path, "--manual", f"{path}:Spoiled")) == 2
    assert "gradient of W2 (layer2.weight) holds nan" in one_line(capsys.readouterr().err)


# --- a hung step ends -------------------------------------------------------------------------
HANG = HANGING_PLUGIN


def wait_for(path: Path, proc, seconds=120):
    deadline = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the plug-in never reached its hang"
        time.sleep(0.05)


def test_a_hung_plugin_stops_on_one_sigterm_with_a_checkpoint(tmp_path, tiny_mnist):
    path = tmp_path / "hang.py"
    path.write_text(CS231N + HANG)
    mark = tmp_path / "hanging"
    args = train_args(
        tiny_mnist,
        tmp_path,
        "--manual",
        f"{path}:Hanging",
        "--dtype",
        "float64",
        "--stop-grace",
        "1",
        "--experiment",
        "h",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "compare.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HANG_AT": "4", "HANG_MARK": str(mark)},
    )
    wait_for(mark, proc)
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (out, err)
    assert time.time() - sent < 15
    assert "Traceback" not in err
    assert "step 4 (in hang.Hanging) was abandoned: the step did not finish within 1 s of SIGTERM" in err
    assert "the 3 steps before it are checkpointed" in err
    ckpts = sorted((tmp_path / "runs" / "h" / "checkpoints").glob("ckpt-*"))
    assert ckpts and ckpts[-1].name == "ckpt-000000003"
    r = cli("train", "--impl", "manual", "--resume", ckpts[-1], "--data-dir", tiny_mnist, "--quiet")
    assert r.returncode == 0, r.stderr


def test_step_timeout_makes_a_hung_step_one_line_exit_4(tmp_path, tiny_mnist):
    path = tmp_path / "hang.py"
    path.write_text(CS231N + HANG)
    r = cli(
        *train_args(tiny_mnist, tmp_path, "--manual", f"{path}:Hanging", "--step-timeout", "1"),
        env={"HANG_AT": "2", "HANG_MARK": str(tmp_path / "m")},
    )
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "step 2 (in hang.Hanging) was abandoned: the step ran past --step-timeout 1 s" in r.stderr


def test_ctrl_c_during_start_up_is_one_line_and_130(tmp_path):
    mark = tmp_path / "importing"
    path = tmp_path / "slow.py"
    path.write_text(f"import time\nopen({str(mark)!r}, 'w').close()\ntime.sleep(60)\n" + CS231N)
    proc = subprocess.Popen(
        [sys.executable, "-m", "compare.cli", "gradcheck", "--random-data", "--manual", f"{path}:FullyConnectedNet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a suite started as a background job inherits SIGINT ignored, and so would the command (POSIX:
        # an ignored SIGINT stays ignored); a terminal's Ctrl-C reaches a foreground command, as here
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_for(mark, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted (Ctrl-C)" in one_line(err)
