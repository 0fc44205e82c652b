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
    net = {
        "cs231n object": lambda: fc.FullyConnectedNet([784, 128, 64, 10], dtype=np.float64),
        "nnfs layer list": lambda: layers.build([784, 128, 64, 10]),
        "factory": lambda: layers.build,
        "target string": lambda: f"{ROOT}/examples/cs231n_fc.py:FullyConnectedNet",
    }[kind]()
    before = {k: v.copy() for k, v in net.params.items()} if kind == "cs231n object" else None
    report = check_gradients(net, batch_size=16)
    assert report.ok and report.passed
    target = "cs231n_fc.py:FullyConnectedNet" if kind in ("cs231n object", "target string") else "nnfs_layers.py:build"
    ref = cli_json(tmp_path, "--manual", f"{ROOT}/examples/{target}")
    assert [p["max_rel_err"] for p in report.to_dict()["params"]] == [p["max_rel_err"] for p in ref["params"]]
    if before is not None:  # the judge worked on a copy: the user's weights are untouched
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
    net.loss = lambda X, y=None: (
        loss(X) if y is None else (lambda v: (v[0], {k: g * len(X) for k, g in v[1].items()}))(loss(X, y))
    )
    with pytest.raises(AssertionError, match=r"diagnosis \[batch-sum\]"):
        assert_gradients_match(net, batch_size=8)
    assert "color:#cf222e" in check_gradients(net, batch_size=8)._repr_html_()


def test_check_optimizer_and_its_report():
    r = check_optimizer(f"{ROOT}/examples/cs231n_optim.py:adam", steps=20)
    assert r.ok and "verdict: AGREE" in str(r)


def test_the_instructors_example_test_file_passes():
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "examples" / "test_student_backprop.py"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:]
    assert "3 passed" in r.stdout


def test_importing_compare_stays_light():
    r = subprocess.run(
        [sys.executable, "-c", "import compare, sys; print('torch' in sys.modules)"], capture_output=True, text=True
    )
    assert r.stdout.strip() == "False"


def test_compare_training_gives_the_clis_numbers_and_table(tiny_mnist, tmp_path, capsys):
    """Lockstep training from a plain session: our twin and an in-memory CS231n object, each against the
    CLI's run on the same seed and data; str() is the CLI's table (its run directory aside)."""
    from compare import compare_training

    fc = module("cs231n_fc")
    flags = ["--epochs", "1", "--batch-size", "50", "--dtype", "float64", "--data-dir", str(tiny_mnist), "--quiet"]
    for kind, net in (
        ("ours", "manual"),
        ("cs231n object", fc.FullyConnectedNet([784, 128, 64, 10], dtype=np.float64)),
    ):
        out = tmp_path / f"{kind}.json"
        manual_flag = [] if net == "manual" else ["--manual", f"{ROOT}/examples/cs231n_fc.py:FullyConnectedNet"]
        assert main(["compare", *flags, "--logdir", str(tmp_path / "cli"), "--json", str(out), *manual_flag]) == 0
        printed = capsys.readouterr().out
        ref = json.loads(out.read_text())
        report = compare_training(
            net, epochs=1, batch_size=50, dtype="float64", data_dir=tiny_mnist, logdir=tmp_path / "api"
        )
        assert capsys.readouterr().out == ""  # quiet by default
        assert report.ok and report.to_dict()["passed"]
        assert [e["manual"]["test_loss"] for e in report.epochs] == [e["manual"]["test_loss"] for e in ref["epochs"]]
        assert [c["measured"] for c in report.checks] == [c["measured"] for c in ref["checks"]]
        ours = str(report).replace(report.run_dir, "RUN").replace(str(tmp_path / "api"), "LOGDIR")
        theirs = printed.rstrip("\n").replace(ref["run_dir"], "RUN").replace(str(tmp_path / "cli"), "LOGDIR")
        if kind == "ours":  # an object is labelled by its class, a target by file and name: same rows
            assert ours == theirs
        assert "<table>" in report._repr_html_() and "AGREE" in report._repr_html_()


def test_compare_training_names_a_planted_bug(tiny_mnist, tmp_path):
    from compare import compare_training

    fc = module("cs231n_fc")

    class ScaledW1(fc.FullyConnectedNet):  # W1's gradient 1.5× too large: training leaves torch's path
        def loss(self, X, y=None):
            out = super().loss(X, y)
            if y is None:
                return out
            loss, grads = out
            grads["W1"] = grads["W1"] * 1.5
            return loss, grads

    report = compare_training(
        ScaledW1([784, 128, 64, 10], dtype=np.float64),
        epochs=1,
        batch_size=50,
        dtype="float64",
        data_dir=tiny_mnist,
        logdir=tmp_path,
    )
    assert not report.ok and "MISMATCH" in str(report)
    assert any(c["passed"] is False for c in report.checks)


def test_train_from_the_api(tiny_mnist, tmp_path):
    from compare import train

    report = train("manual", epochs=1, batch_size=50, data_dir=tiny_mnist, logdir=tmp_path)
    assert report.ok and 0.0 <= report.final_test_accuracy <= 1.0 and len(report.epochs) == 1
    assert str(report).startswith("final test accuracy: ") and Path(report.run_dir, "results.json").exists()


# --- one door: the API refuses what the CLI refuses, in the CLI's words (issue 32) --------------
@pytest.mark.parametrize(
    "call, says",
    [
        (lambda api: api.compare_training(epochs=0), "compare_training: epochs=0: 0 must be at least 1"),
        (lambda api: api.compare_training(seed=-1), "compare_training: seed=-1: -1 must be at least 0"),
        (lambda api: api.compare_training(batch_size="16"), "batch_size='16': a str, not an integer"),
        (lambda api: api.compare_training(lr=float("nan")), "lr=nan: 'nan' is not a finite number"),
        (lambda api: api.compare_training(dtype="float16"), "'float16' is unknown; choose float32 or float64"),
        (lambda api: api.check_gradients("manual", fd_samples=-3), "fd_samples=-3: -3 must be at least 1"),
        (lambda api: api.check_gradients("manual", dtype="float16"), "dtype='float16': choose from float32, float64"),
        (lambda api: api.check_gradients("manual", batch_size=2.5), "batch_size=2.5: not an integer"),
        (lambda api: api.check_optimizer("sgd", lr=float("nan")), "check_optimizer: lr=nan: 'nan' is not a finite"),
        (lambda api: api.check_optimizer("sgd", beta2=float("inf")), "'inf' is not a finite number"),
    ],
)
def test_the_api_refuses_bad_arguments_as_the_cli_does(call, says):
    from compare import api
    from compare.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        call(api)
    assert says in str(e.value)


@pytest.mark.parametrize(
    "x, y, says",
    [
        (np.zeros((3, 784)), [0.5, 1.7, 2.0], "y[0] = 0.5 is not a class label (integers 0..9)"),
        (np.zeros((3, 784)), [0, 99, 2], "y[1] = 99 is out of range: the network has 10 classes"),
        (np.zeros((3, 784)), [0, 1], "y has shape (2,), expected (3,)"),
        (np.full((3, 784), np.nan), [0, 1, 2], "x[0, 0] is nan; give finite inputs"),
        (np.zeros((3, 100)), [0, 1, 2], "x has 100 inputs per example, the network takes 784"),
        (np.zeros((3, 784)), ["a", "b", "c"], "not class labels"),
    ],
)
def test_the_callers_batch_is_checked_before_any_plugin_runs(x, y, says):
    from compare import api
    from compare.errors import ConfigError

    def never(**kw):
        raise AssertionError("the plug-in was built for a batch the caller got wrong")

    with pytest.raises(ConfigError) as e:
        api.check_gradients(never, x, y)
    assert says in str(e.value)


def test_the_notebook_views_say_as_much_as_the_text(tmp_path):
    """_repr_html_ keeps the mapping lines, the worst coordinates and the failing parameters; the plain repr
    is the table, not the dataclass's 2,000-character dump (issue 29 item 7)."""
    source = (
        (ROOT / "examples" / "cs231n_fc.py")
        .read_text()
        .replace('grads[f"b{k}"] = dout.sum(axis=0)', 'grads[f"b{k}"] = dout.sum(axis=0) * (2.0 if k == 2 else 1.0)')
    )
    (tmp_path / "fc.py").write_text(source)
    report = check_gradients(f"{tmp_path / 'fc.py'}:FullyConnectedNet")
    page = report._repr_html_()
    assert "W1 (784, 128) ↔ layer1.weight (128, 784)" in page  # a mapping line
    assert "layer2.bias[" in page and "where autograd has" in page  # its worst coordinates
    assert "verdict: MISMATCH in layer2.bias" in page
    assert repr(report) == str(report)
