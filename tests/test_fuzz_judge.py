"""Hypothesis drives the Python API's arguments and a set of misbehaving plug-ins and update rules through
the real, supervised command line (issue 32).  Whatever it generates: no traceback, a documented exit
code, never exit 0 without a printed verdict, and no process left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compare import api
from compare.errors import SimplenetError

ROOT = Path(__file__).resolve().parents[1]
CS231N = (ROOT / "examples" / "cs231n_fc.py").read_text()
LOSS_START = "    def loss(self, X, y=None):\n"

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.integers(2**62, 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
)
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None, derandomize=True
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "batch_size": ODD,
            "seed": ODD,
            "dtype": st.one_of(ODD, st.sampled_from(["float32", "float64", "float16"])),
            "fd_samples": ODD,
            "l2": ODD,
            "l1": ODD,
            "activation": st.one_of(ODD, st.sampled_from(["relu", "tanh", "gelu"])),
            "norm": st.one_of(ODD, st.sampled_from(["none", "batchnorm", "layernorm", "groupnorm"])),
            "dropout": st.one_of(ODD, st.floats(0, 1)),
        },
    )
)
def test_check_gradients_takes_any_arguments_without_a_traceback(kwargs):
    try:
        report = api.check_gradients("manual", **kwargs)
    except SimplenetError:
        return
    assert report.ok, str(report)  # every argument it accepted was valid, and our twin is right


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            k: ODD
            for k in ("epochs", "batch_size", "lr", "seed", "dtype", "optimizer", "momentum", "l2", "norm", "dropout")
        },
    )
)
def test_compare_training_takes_any_arguments_without_a_traceback(tmp_path_factory, kwargs):
    where = tmp_path_factory.mktemp("fuzz")
    try:  # with no data and no download, every accepted set of arguments ends at the data, before training
        api.compare_training(data_dir=where / "none", download=False, logdir=where / "runs", **kwargs)
    except SimplenetError:
        return
    raise AssertionError("trained without data")


@FUZZ
@given(st.fixed_dictionaries({}, optional={k: ODD for k in ("steps", "dtype", "seed", "lr", "momentum", "beta1")}))
def test_check_optimizer_takes_any_arguments_without_a_traceback(kwargs):
    steps = kwargs.get("steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 40:
        kwargs["steps"] = 40
    try:
        api.check_optimizer(str(ROOT / "examples" / "cs231n_optim.py") + ":sgd", **kwargs)
    except SimplenetError:
        return


# --- misbehaving learner code through the supervised command line -----------------------------------
BEHAVIOURS = {
    "os._exit": "import os; os._exit(0)",
    "sys.exit": "import sys; sys.exit(0)",
    "BaseException": "raise BaseException('mine')",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    "segfault": "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
    # a child of its own that lets go of the judge's streams (else the pipes alone would keep the test waiting)
    "orphan": "import os, subprocess; subprocess.Popen(['sleep', '30'], stdin=-3, stdout=-3, stderr=-3); os._exit(0)",
    "nan": "import numpy as np; return (np.nan, {})",
    "exits later": "import atexit, os; atexit.register(lambda: os._exit(0))",
}


def run_marked(argv: list[str]) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Run ``argv`` with a unique mark in its environment; the processes still carrying it afterwards."""
    mark = uuid.uuid4().hex
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**os.environ, "FUZZ_MARK": mark})
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"FUZZ_MARK={mark}".encode() in (entry / "environ").read_bytes():
                    left.append(int(entry.name))
            except OSError:
                continue
    return r, left


@settings(max_examples=16, deadline=None, database=None, derandomize=True)
@given(behaviour=st.sampled_from(sorted(BEHAVIOURS)), command=st.sampled_from(["gradcheck", "optimcheck"]))
def test_misbehaving_learner_code_never_takes_the_verdict(behaviour, command, tmp_path_factory):
    where = tmp_path_factory.mktemp("bad")
    body = BEHAVIOURS[behaviour]
    if command == "gradcheck":
        path = where / "plug.py"
        path.write_text(CS231N.replace(LOSS_START, LOSS_START + "".join(f"        {b}\n" for b in body.split("; "))))
        argv = ["gradcheck", "--random-data", "--batch-size", "8", "--manual", f"{path}:FullyConnectedNet"]
    else:
        path = where / "rule.py"
        lines = body.replace("return (np.nan, {})", "return (w * np.nan, config)").split("; ")
        path.write_text(
            "def sgd(w, dw, config=None):\n" + "".join(f"    {b}\n" for b in lines) + "    return w, config\n"
        )
        argv = ["optimcheck", "--plugin-optimizer", f"{path}:sgd", "--steps", "3"]
    r, left = run_marked([sys.executable, "-m", "compare.cli", *argv, "--json", str(where / "out.json")])
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in (0, 1, 2, 3, 4), (r.returncode, r.stderr)
    if r.returncode == 0:
        assert "verdict: AGREE" in r.stdout, (r.stdout, r.stderr)
    else:
        assert r.stderr.strip() or "verdict: MISMATCH" in r.stdout, (r.returncode, r.stdout)
    assert (where / "out.json").exists(), (behaviour, command, r.returncode, r.stderr)
    assert not left, f"left running: {left}"
