"""Every command driven with a generated matrix of flag values and a set of misbehaving plug-ins.

For each case: no exception escapes (no traceback), the exit code is one of the documented ones, at
most two lines on stderr, and nothing is left in the working directory outside the run's own
directory.  The matrix is derived from the parser itself, so a new numeric flag is fuzzed without
anyone listing it here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from compare.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = {0, 1, 2, 3, 4}
BAD = ["0", "-1", "-0.5", "nan", "inf", "1e309", "abc", ""]
HUGE = "99999999999"
# flags whose huge value is a long but legitimate run (fuzzed with bad values only), or that spawn workers
DURATIONS = {
    "--epochs",
    "--max-steps",
    "--repeats",
    "--stop-grace",
    "--step-timeout",
    "--nproc",
    "--log-every",
    "--step-size",
    "--fd-samples",
    "--steps",
}
COMMANDS = ["gradcheck", "train", "compare", "overfit", "sweep", "bench", "optimcheck"]


def numeric_flags(command: str) -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return [
        a.option_strings[-1]
        for a in sub._actions
        if a.option_strings and a.type is not None and getattr(a.type, "__name__", "") in ("int", "float")
    ]


def base(command: str, data: Path, logdir: Path) -> list[str]:
    small = ["--data-dir", str(data), "--no-download"]
    run = ["--logdir", str(logdir), "--quiet", "--no-images", "--batch-size", "32"]
    return {
        "gradcheck": ["gradcheck", "--batch-size", "8", *small],
        "train": ["train", "--impl", "manual", "--epochs", "1", *small, *run],
        "compare": ["compare", "--epochs", "1", *small, *run],
        "overfit": ["overfit", "--impl", "manual", "--max-steps", "20", *small],
        "sweep": ["sweep", "--impl", "manual", "--lr", "0.1", "--epochs", "1", *small, *run],
        "bench": ["bench", *small],
        "optimcheck": ["optimcheck", "--plugin-optimizer", f"{ROOT}/examples/cs231n_optim.py:adam", "--steps", "3"],
    }[command]


CASES = [
    (command, flag, value)
    for command in COMMANDS
    for flag in numeric_flags(command)
    for value in BAD + ([HUGE] if flag not in DURATIONS and command != "bench" else [])
]
TEXT = {  # flags whose values are text: (commands, values)
    "--hidden": (["gradcheck", "train", "compare"], ["0", "-1", "abc", "", "1,,2", HUGE, "none"]),
    "--betas": (["train"], ["0.9", "a,b", "1.5,0.9", "-1,0.5", ""]),
    "--activation": (["gradcheck", "train"], ["gelu", ""]),
    "--dtype": (["gradcheck", "train"], ["float16", ""]),
    "--device": (["train", "compare"], ["tpu", "cuda:9", ""]),
    "--experiment": (["train"], ["../escape", "a/b", "", "."]),
    "--logdir": (["train"], ["/proc/simplenet", "/dev/null/x", ""]),
    "--checkpoint-dir": (["train"], ["/proc/simplenet", "/dev/null/x"]),
    "--resume": (["train", "compare"], ["nowhere", "/dev/null", ""]),
    "--data-dir": (["gradcheck", "train"], ["/nonexistent", "/dev/null", ""]),
    "--lr": (["sweep"], ["", "a,b", "0", "-1", "0.1,,1"]),
    "--batch-sizes": (["bench"], ["", "0", "-1", "a"]),
    "--dtypes": (["bench"], ["", "float16"]),
    "--manual": (["gradcheck"], ["", "x", ":", "nope.py:f", "os:getcwd", "json:dumps"]),
    "--plugin-optimizer": (
        ["optimcheck", "compare"],
        ["", "x", "nope.py:adam", "os:getcwd", "json:dumps", f"{ROOT}/examples/cs231n_optim.py:adamax"],
    ),
}
CASES += [
    (command, flag, value) for flag, (commands, values) in TEXT.items() for command in commands for value in values
]
PLUGINS = {  # what the plug-in does wrong → the body of its loss(X, y)
    "raises": "raise RuntimeError('boom')",
    "exits": "import sys; sys.exit(0)",
    "interrupts": "raise KeyboardInterrupt",
    "writes its input": "X -= 1",
    "returns None": "return None",
    "returns a string": "return 'loss'",
    "wrong logits": "return np.zeros((len(X), 3)) if y is None else (1.0, {})",
    "list gradients": "return np.zeros((len(X), 10)) if y is None else (2.3, {k: v.tolist() for k, v in self.params.items()})",
    "nan loss": "return np.zeros((len(X), 10)) if y is None else (float('nan'), {k: 0 * v for k, v in self.params.items()})",
}
PLUGIN_SOURCE = """import numpy as np


class Net:
    def __init__(self, sizes, dtype):
        self.params = {{f"{{p}}{{k}}": np.zeros((i, o) if p == "W" else o, dtype)
                       for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), 1) for p in "Wb"}}

    def loss(self, X, y=None):
        {body}
"""


def check(argv, cwd: Path, logdir: Path, capsys):
    before = {p.name for p in cwd.iterdir()}
    try:
        code = main(argv)  # anything else raised here is a traceback the user would see
    except SystemExit as e:  # the parser's own exit (usage errors: 2)
        code = e.code
    err = capsys.readouterr().err
    assert code in DOCUMENTED, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    assert len(err.strip().splitlines()) <= 2, (argv, err)
    left = {p.name for p in cwd.iterdir()} - before - {logdir.name}
    assert not left, (argv, left)


@pytest.fixture
def place(tmp_path, monkeypatch, mnist_factory):
    data = mnist_factory(tmp_path / "data", n_train=64, n_test=32)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return data, work, work / "runs"


@pytest.mark.parametrize("command,flag,value", CASES, ids=[f"{c} {f} {v!r}" for c, f, v in CASES])
def test_a_flag_value(command, flag, value, place, capsys):
    data, work, logdir = place
    check([*base(command, data, logdir), f"{flag}={value}"], work, logdir, capsys)


@pytest.mark.parametrize("command", ["gradcheck", "train"])
@pytest.mark.parametrize("bug", sorted(PLUGINS))
def test_a_misbehaving_plugin(command, bug, place, tmp_path, capsys):
    data, work, logdir = place
    path = tmp_path / "bad_plugin.py"
    path.write_text(PLUGIN_SOURCE.format(body=PLUGINS[bug]))
    check([*base(command, data, logdir), "--manual", f"{path}:Net"], work, logdir, capsys)
