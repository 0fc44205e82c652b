"""The judge as a library: check_gradients / check_optimizer in a plain session, report objects that
print as the CLI's table and render as HTML, and the pytest helpers an instructor copies."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compare import check_gradients, check_optimizer
from compare.cli import main
from compare.testing import assert_gradients_match

ROOT = Path(__file__).resolve().parents[1]


def module(name: str):
    spec = importlib.util.spec_from_file_location(f"api_{name}", ROOT / "examples" / f"{name}.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def cli_json(tmp_path, *args):
    out = tmp_path / "cli.json"
    main(["gradcheck", "--random-data", "--batch-size", "16", "--seed", "0", "--json", str(out), *args])
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["cs231n object", "nnfs layer list", "factory", "target string"])
def test_check_gradients_gives_the_clis_numbers(kind, tmp_path):
    fc, layers = module("cs231n_fc"), module("nnfs_layers")
    net = {"cs231n object": lambda: fc.FullyConnectedNet([784, 128, 64, 10], dtype=np.float64),
           "nnfs layer list": lambda: layers.build([784, 128, 64, 10]),
           "factory": lambda: layers.build,
           "target string": lambda: f"{ROOT}/examples/cs231n_fc.py:FullyConnectedNet"}[kind]()
    before = {k: v.copy() for k, v in net.params.items()} if kind == "cs231n object" else None
    report = check_gradients(net, batch_size=16)
    assert report.ok and report.passed
    target = "cs231n_fc.py:FullyConnectedNet" if kind in ("cs231n object", "target string") else "nnfs_layers.py:build"
    ref = cli_json(tmp_path, "--manual", f"{ROOT}/examples/{target}")
    assert [p["max_rel_err"] for p in report.to_dict()["params"]] == [p["max_rel_err"] for p in ref["params"]]
    if before is not None:                 # the judge worked on a copy: the user's weights are untouched
        assert all(np.array_equal(net.params[k], v) for k, v in before.items())


def test_str_is_the_clis_table_and_html_is_a_table(tmp_path, capsys):
    target = f"{ROOT}/examples/minimal_ours.py:MLP"
    main(["gradcheck", "--random-data", "--batch-size", "16", "--manual", target])
    printed = capsys.readouterr().out
    report = check_gradients(target, batch_size=16)
    assert str(report) + "\n" == printed
    html = report._repr_html_()
    assert html.count("<tr>") >= 8 and "<table>" in html and "AGREE" in html


def test_a_planted_bug_fails_the_helper_with_its_diagnosis():
    fc = module("cs231n_fc")
    net = fc.FullyConnectedNet([784, 32, 10], dtype=np.float64)
    loss = net.loss
    net.loss = lambda X, y=None: loss(X) if y is None else (lambda v: (v[0], {k: g * len(X) for k, g in v[1].items()}))(loss(X, y))
    with pytest.raises(AssertionError, match=r"diagnosis \[batch-sum\]"):
        assert_gradients_match(net, batch_size=8)
    assert "color:#cf222e" in check_gradients(net, batch_size=8)._repr_html_()


def test_check_optimizer_and_its_report():
    r = check_optimizer(f"{ROOT}/examples/cs231n_optim.py:adam", steps=20)
    assert r.ok and "verdict: AGREE" in str(r)


def test_the_instructors_example_test_file_passes():
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(ROOT / "examples" / "test_student_backprop.py")], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:]
    assert "3 passed" in r.stdout


def test_importing_compare_stays_light():
    r = subprocess.run([sys.executable, "-c", "import compare, sys; print('torch' in sys.modules)"],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "False"
