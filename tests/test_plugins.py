"""The plug-in protocol: anyone's hand-written network judged like ours, and told where the bug is."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compare import plugins
from compare.cli import main
from compare.config import ModelSpec
from compare.data import random_batch
from compare.faults import FAULTS
from compare.gradcheck import TOLERANCE, gradient_proof

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {
    "ours": f"{ROOT}/examples/minimal_ours.py:MLP",
    "cs231n": f"{ROOT}/examples/cs231n_fc.py:FullyConnectedNet",
    "layers": f"{ROOT}/examples/nnfs_layers.py:build",
    "sklearn": "sklearn",
}
NAMES = ["layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias", "layer3.weight", "layer3.bias"]


def example(convention: str):
    """The example module of ``convention`` (loaded by the plug-in loader, as a user's file is)."""
    return sys.modules[plugins.resolve_factory(EXAMPLES[convention]).fn.__module__]


def proof(target, dtype="float64", n=16, seed=0, spec=ModelSpec(), **kw):
    x, y = random_batch(n, seed, dtype, spec.in_features, spec.out_features)
    return gradient_proof(x, y, spec=spec, seed=seed, dtype=dtype, manual_target=target, **kw)


# --- correct implementations agree -----------------------------------------------------------
@pytest.mark.parametrize("convention", sorted(EXAMPLES))
@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(),
        ModelSpec(hidden=(32,), activation="tanh"),
        ModelSpec(hidden=(24, 16, 8), activation="sigmoid"),
        ModelSpec(hidden=()),
    ],
    ids=["default", "tanh", "sigmoid3", "softmax-regression"],
)
def test_each_convention_agrees_with_autograd_in_float64(convention, spec):
    if convention == "ours" and spec.activation != "relu":
        pytest.skip("the minimal example is ReLU only")
    r = proof(EXAMPLES[convention], spec=spec, n=32)
    assert r.implementation["convention"] == convention
    assert [p.name for p in r.params] == [
        n for k in range(1, len(spec.hidden) + 2) for n in (f"layer{k}.weight", f"layer{k}.bias")
    ]
    assert r.passed
    assert max(p.max_rel_err for p in r.params) <= 1e-12
    assert all(p.diagnosis is None and not p.worst for p in r.params)


@pytest.mark.parametrize("convention", sorted(EXAMPLES))
def test_finite_differences_of_the_plugins_own_loss(convention):
    r = proof(EXAMPLES[convention], fd=True, fd_samples=6)
    assert r.passed and r.fd is not None
    assert all(c.passed_manual and c.passed_torch for c in r.fd)
    assert sum(c.checked for c in r.fd) == 36


def test_finite_differences_blame_the_plugin_side():
    def no_mean(sizes, dtype):  # forgets 1/N in dL/dlogits: the loss is a mean, the gradient a sum
        net = example("cs231n").FullyConnectedNet(sizes, dtype=dtype)
        loss = net.loss

        def wrong(X, y=None):
            if y is None:
                return loss(X)
            value, grads = loss(X, y)
            return value, {k: g * len(X) for k, g in grads.items()}

        net.loss = wrong
        return net

    r = proof(no_mean, fd=True, fd_samples=4)
    assert not r.passed
    assert all(not c.passed_manual and c.passed_torch for c in r.fd)


@pytest.mark.parametrize("convention", sorted(EXAMPLES))
def test_no_diagnosis_on_correct_plugins(convention):
    """Over seeds × batch sizes {1, 7, 64} × both dtypes: every check passes, nothing is diagnosed."""
    for dtype in ("float64", "float32"):
        for n in (1, 7, 64):
            for seed in range(3):
                r = proof(EXAMPLES[convention], dtype=dtype, n=n, seed=seed)
                worst = max(p.max_rel_err for p in r.params)
                assert r.passed, f"{convention} {dtype} n={n} seed={seed}: {worst:.2e} > {TOLERANCE[dtype]}"
                assert [p.diagnosis for p in r.params] == [None] * 6
                assert r.forward["diagnosis"] is None and r.loss["diagnosis"] is None and not r.notes


def test_our_twin_goes_through_the_same_protocol():
    impl = plugins.load("manual", ModelSpec(), "float64")
    assert type(impl).__name__ == "Ours" and type(impl.obj).__name__ == "SimpleNet"
    # the judge never asks "is this our twin": no isinstance on SimpleNet, no test of the target's name
    for path in (ROOT / "compare").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"isinstance\([^)]*SimpleNet", text), path
        assert not re.search(r"(target|label)\s*==\s*['\"]manual['\"]", text), path


def test_harness_weights_overwrite_the_plugins_init():
    spec, state = ModelSpec(hidden=(8,), in_features=6, out_features=3), None
    from compare.twins import initial_state

    state = initial_state(spec, 3)
    for target in EXAMPLES.values():
        impl = plugins.load(target, spec, "float64", state=state)
        for name, p in impl.params.items():
            np.testing.assert_array_equal(p.data, state[name])


# --- the mapping is explicit ------------------------------------------------------------------
def test_mapping_is_printed_in_the_header(capsys):
    main(["gradcheck", "--random-data", "--manual", EXAMPLES["cs231n"], "--batch-size", "8"])
    out = capsys.readouterr().out
    assert "(cs231n convention)" in out
    assert "W1 (784, 128) ↔ layer1.weight (128, 784), transposed" in out
    assert "b3 (10,) ↔ layer3.bias (10,), same layout" in out
    main(["gradcheck", "--random-data", "--manual", EXAMPLES["layers"], "--batch-size", "8"])
    out = capsys.readouterr().out
    assert "layers[0].biases (1, 128) ↔ layer1.bias (128,), reshaped" in out


def test_convention_can_be_forced(capsys):
    code = main(["gradcheck", "--random-data", "--manual", EXAMPLES["cs231n"], "--convention", "layers"])
    assert code == 2
    assert "no dense layer" in capsys.readouterr().err


# --- planted bugs get the right diagnosis -----------------------------------------------------
def cs231n_with(change):
    """A cs231n factory whose grads pass through ``change(grads, X)``."""

    def factory(sizes, activation, dtype):
        net = example("cs231n").FullyConnectedNet(sizes, activation, dtype=dtype)
        loss = net.loss

        def planted(X, y=None):
            if y is None:
                return loss(X)
            value, grads = loss(X, y)
            return value, change(dict(grads), X)

        net.loss = planted
        return net

    return factory


def layers_with(index, method):
    """An NNFS-style factory whose layer ``index`` has ``backward`` replaced by ``method``."""

    def factory(sizes, activation, dtype):
        layers = example("layers").build(sizes, activation, dtype)
        layers[index].backward = method.__get__(layers[index])
        return layers

    return factory


def dense_bias_mean(self, dvalues):
    self.dweights = self.inputs.T @ dvalues
    self.dbiases = np.mean(dvalues, axis=0, keepdims=True)  # bug: mean, not Σ over the batch
    self.dinputs = dvalues @ self.weights.T


def dense_no_bias(self, dvalues):
    self.dweights = self.inputs.T @ dvalues  # bug: dbiases never set
    self.dinputs = dvalues @ self.weights.T


def dense_bias_wrong_axis(self, dvalues):
    self.dweights = self.inputs.T @ dvalues
    self.dbiases = np.sum(dvalues, axis=1, keepdims=True)  # bug: summed over units, (N, 1)
    self.dinputs = dvalues @ self.weights.T


def relu_no_mask(self, dvalues):
    self.dinputs = dvalues.copy()  # bug: forgets to zero where inputs <= 0


def ours_with(change):
    def factory(sizes, dtype):
        net = example("ours").MLP(sizes, dtype)
        backward = net.backward

        def planted(g):
            backward(g)
            change(net)

        net.backward = planted
        return net

    return factory


def negate_w2(net):
    net.W[1].grad = -net.W[1].grad


PLANTED = {  # bug → (factory, {parameter: expected diagnosis code}); every other parameter passes
    "batch-sum": (cs231n_with(lambda g, X: {k: v * len(X) for k, v in g.items()}), dict.fromkeys(NAMES, "batch-sum")),
    "batch-mean-twice": (layers_with(0, dense_bias_mean), {"layer1.bias": "batch-mean-twice"}),
    "sign": (ours_with(negate_w2), {"layer2.weight": "sign"}),
    "scale": (cs231n_with(lambda g, X: {**g, "W3": 0.5 * g["W3"]}), {"layer3.weight": "scale"}),
    "transposed": (
        cs231n_with(lambda g, X: {**g, "W2": np.ascontiguousarray(g["W2"].T)}),
        {"layer2.weight": "transposed"},
    ),
    "missing": (layers_with(2, dense_no_bias), {"layer2.bias": "missing"}),
    "missing-key": (cs231n_with(lambda g, X: {k: v for k, v in g.items() if k != "b1"}), {"layer1.bias": "missing"}),
    "shape": (layers_with(4, dense_bias_wrong_axis), {"layer3.bias": "shape"}),
    # re-enacted from the catalogue: one cause named on every parameter it spoils (no longer "unexplained"
    # at layer2 and "upstream" below it; tests/test_verdicts.py keeps a bug that is in no catalogue)
    "relu-mask-missing": (layers_with(3, relu_no_mask), dict.fromkeys(NAMES[:4], "relu-mask-missing")),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_each_planted_bug_gets_its_diagnosis_on_the_right_parameter(bug, dtype):
    factory, expected = PLANTED[bug]
    r = proof(factory, dtype=dtype, n=16)
    assert not r.passed
    got = {p.name: p.diagnosis["code"] for p in r.params if p.diagnosis}
    assert got == expected
    assert {p.name for p in r.params if not p.passed} == set(expected)
    for p in r.params:
        if p.diagnosis and p.diagnosis["code"] == "relu-mask-missing":
            assert p.diagnosis["layer"] == "layer2"
        if p.diagnosis and p.diagnosis["code"] == "scale":
            assert p.diagnosis["factor"] == pytest.approx(0.5, rel=1e-4)
        if p.diagnosis and p.diagnosis["code"] == "shape":
            assert p.diagnosis["plugin_shape"] == [16, 1] and p.diagnosis["expected_shape"] == [1, 10]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_our_twins_injected_faults_are_diagnosed(fault):
    expected = {
        "loss-mean": dict.fromkeys(NAMES, "batch-sum"),
        "bias-sum": {"layer1.bias": "batch-mean-twice"},
        "transposed-weight": {"layer2.weight": "transposed"},
        "relu-mask": dict.fromkeys(NAMES[:4], "relu-mask-missing"),
    }[fault]
    r = proof("manual", fault=fault)
    assert {p.name: p.diagnosis["code"] for p in r.params if p.diagnosis} == expected


def test_report_shows_worst_elements_and_json_carries_the_diagnosis(tmp_path, capsys):
    target = tmp_path / "buggy.py"
    target.write_text(
        Path(EXAMPLES["cs231n"].rsplit(":", 1)[0]).read_text().replace("dscores /= n ", "dscores /= 1 ")
    )  # the loss gradient summed over the batch
    out_json = tmp_path / "r.json"
    code = main(
        [
            "gradcheck",
            "--random-data",
            "--batch-size",
            "8",
            "--manual",
            f"{target}:FullyConnectedNet",
            "--json",
            str(out_json),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "diagnosis [batch-sum]: W1 = 8 × autograd" in out
    assert re.search(r"layer1.weight\[\d+, \d+\] = W1\[\d+, \d+\]: buggy.FullyConnectedNet -?\d", out)
    payload = json.loads(out_json.read_text())
    assert payload["implementation"]["convention"] == "cs231n"
    diag = {p["name"]: p["diagnosis"] for p in payload["params"]}
    assert all(d["code"] == "batch-sum" and d["factor"] == pytest.approx(8) for d in diag.values())
    assert len(payload["params"][0]["worst"]) == 3


# --- lockstep training of plug-ins ------------------------------------------------------------
@pytest.mark.parametrize("convention", sorted(EXAMPLES))
def test_one_epoch_float64_lockstep_per_step(convention, tiny_mnist, tmp_path, capsys):
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--manual",
            EXAMPLES[convention],
            "--epochs",
            "1",
            "--dtype",
            "float64",
            "--batch-size",
            "10",
            "--data-dir",
            str(tiny_mnist),
            "--logdir",
            str(tmp_path / "runs"),
            "--experiment",
            "x",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    payload = json.loads(out.read_text())
    assert code == 0 and payload["passed"]
    assert payload["steps"] == 10  # 96 images, last batch of 6
    assert payload["max_abs_loss_diff"] <= 1e-9
    label = payload["implementation"]["label"]
    assert payload["implementation"]["convention"] == convention
    runs = {p.name for p in (tmp_path / "runs" / "x").iterdir() if p.is_dir()}
    assert {label, "torch", "divergence"} <= runs  # the plug-in's run beside torch's


def test_adam_and_adamw_update_plugin_arrays_in_place(tiny_mnist, tmp_path):
    for opt in ("adam", "adamw"):
        out = tmp_path / f"{opt}.json"
        code = main(
            [
                "compare",
                "--manual",
                EXAMPLES["cs231n"],
                "--optimizer",
                opt,
                "--weight-decay",
                "0.01",
                "--epochs",
                "2",
                "--dtype",
                "float64",
                "--batch-size",
                "16",
                "--data-dir",
                str(tiny_mnist),
                "--logdir",
                str(tmp_path / "runs"),
                "--quiet",
                "--json",
                str(out),
            ]
        )
        payload = json.loads(out.read_text())
        assert code == 0 and payload["max_abs_loss_diff"] <= 1e-9 and payload["final_param_max_abs_diff"] <= 1e-8


def test_train_and_overfit_take_a_plugin(tiny_mnist, tmp_path, capsys):
    code = main(
        [
            "train",
            "--impl",
            "manual",
            "--manual",
            "sklearn",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--data-dir",
            str(tiny_mnist),
            "--logdir",
            str(tmp_path / "runs"),
            "--experiment",
            "t",
            "--quiet",
            "--json",
            str(tmp_path / "t.json"),
        ]
    )
    assert code == 0
    payload = json.loads((tmp_path / "t.json").read_text())
    assert payload["implementation"]["label"] == "sklearn"
    assert (tmp_path / "runs" / "t" / "sklearn").is_dir()
    code = main(
        ["overfit", "--manual", EXAMPLES["layers"], "--data-dir", str(tiny_mnist), "--max-steps", "300", "--lr", "0.1"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "nnfs_layers.build reached loss" in out


def test_resume_keeps_the_plugin(tiny_mnist, tmp_path, capsys):
    args = [
        "train",
        "--impl",
        "manual",
        "--batch-size",
        "16",
        "--data-dir",
        str(tiny_mnist),
        "--quiet",
        "--logdir",
        str(tmp_path / "runs"),
        "--experiment",
        "r",
        "--schedule",
        "none",
    ]  # extendable
    assert main([*args, "--manual", EXAMPLES["cs231n"], "--epochs", "1", "--dtype", "float64"]) == 0
    ckpts = tmp_path / "runs" / "r" / "checkpoints"
    assert (
        main(
            [
                "train",
                "--impl",
                "manual",
                "--resume",
                str(ckpts),
                "--epochs",
                "2",
                "--quiet",
                "--data-dir",
                str(tiny_mnist),
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "r.json").read_text())["implementation"]["convention"] == "cs231n"
    assert (
        main(
            [
                "train",
                "--impl",
                "manual",
                "--resume",
                str(ckpts),
                "--epochs",
                "3",
                "--manual",
                "sklearn",
                "--data-dir",
                str(tiny_mnist),
            ]
        )
        == 2
    )
    assert "was written with --manual" in capsys.readouterr().err


# --- bad plug-ins: one line, exit 2, no traceback -------------------------------------------
BAD = {
    "no module": ("no_such_module_xyz:make", "no module named 'no_such_module_xyz'"),
    "no file": ("nowhere/net.py:make", "file nowhere/net.py not found"),
    "no factory": ("{ex}:NoSuchFactory", "has no 'NoSuchFactory' (it defines: FullyConnectedNet)"),
    "bad target": ("just_a_name", "give sklearn, MODULE:FACTORY or path/to/file.py:FACTORY"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_unloadable_plugins_get_one_line(case, capsys):
    target, message = BAD[case]
    target = target.format(ex=EXAMPLES["cs231n"].rsplit(":", 1)[0])
    assert main(["gradcheck", "--random-data", "--manual", target]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


PLUGIN_SOURCE = """import numpy as np
import sys
sys.path  # a plug-in of the user's, written to a file

class Net:
    def __init__(self, sizes, dtype):
        self.params = {{f"{{p}}{{k}}": np.zeros((i, o) if p == "W" else o, dtype)
                       for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), 1) for p in "Wb"}}
        {init}

    def loss(self, X, y=None):
        N = len(X)
        {body}


def make(sizes, dtype):
    return Net(sizes, dtype)
"""
BROKEN = {  # what the plug-in does → (command, message fragments)
    "factory raises": (
        "raise RuntimeError('bad init')",
        "return None",
        "gradcheck",
        ["make(sizes, dtype) raised RuntimeError: bad init at", "plugin.py:9"],
    ),
    "wrong logits": (
        "pass",
        "return np.zeros((N, 3)) if y is None else (0.0, {})",
        "gradcheck",
        ["logits of shape (16, 3), expected (16, 10)"],
    ),
    "extra parameter": ("self.params['gamma1'] = np.ones(3)", "return None", "gradcheck", ["extra parameter gamma1"]),
    "missing parameter": ("del self.params['b2']", "return None", "gradcheck", ["parameter b2 is missing"]),
    "nan gradient": (
        "pass",
        "g = {k: np.zeros_like(v) for k, v in self.params.items()}; g['W2'][0, 0] = np.nan; "
        "return (np.zeros((N, 10)) if y is None else (2.3, g))",
        "gradcheck",
        ["gradient of W2 (layer2.weight) holds nan"],
    ),
    "wrong gradient shape in training": (
        "pass",
        "g = {k: np.zeros_like(v) for k, v in self.params.items()}; g['W1'] = np.zeros((3, 3)); "
        "return (np.zeros((N, 10)) if y is None else (2.3, g))",
        "compare",
        ["gradient of W1 has shape (3, 3), expected (784, 128)"],
    ),
    "loss raises": (
        "pass",
        "raise ValueError('shapes do not align')",
        "gradcheck",
        ["backward raised ValueError: shapes do not align at", "plugin.py:13"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugins_get_one_line_naming_the_culprit(case, tmp_path, tiny_mnist, capsys):
    init, body, command, fragments = BROKEN[case]
    path = tmp_path / "plugin.py"
    path.write_text(PLUGIN_SOURCE.format(init=init, body=body))
    extra = (
        ["--random-data", "--batch-size", "16"]
        if command == "gradcheck"
        else ["--epochs", "1", "--data-dir", str(tiny_mnist), "--logdir", str(tmp_path / "runs"), "--quiet"]
    )
    assert main([command, "--manual", f"{path}:make", *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_traceback_flag_shows_the_plugins_trace(tmp_path):
    path = tmp_path / "plugin.py"
    path.write_text(PLUGIN_SOURCE.format(init="raise RuntimeError('bad init')", body="return None"))
    r = subprocess.run(
        [sys.executable, "-m", "compare.cli", "gradcheck", "--random-data", "--manual", f"{path}:make", "--traceback"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "Traceback (most recent call last)" in r.stderr and f'File "{path}", line 9' in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("simplenet gradcheck: error:")


def test_sklearn_missing_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.neural_network", None)
    assert main(["gradcheck", "--random-data", "--manual", "sklearn"]) == 2
    err = capsys.readouterr().err
    assert "pip install scikit-learn" in err and len(err.strip().splitlines()) == 1


def test_manual_flag_is_refused_for_the_torch_twin_alone(tiny_mnist, capsys):
    assert main(["train", "--impl", "torch", "--manual", "sklearn", "--data-dir", str(tiny_mnist)]) == 2
    assert "--impl torch trains autograd only" in capsys.readouterr().err


@pytest.mark.slow
def test_sklearn_on_real_mnist(mnist_root, tmp_path, capsys):
    """The acceptance run: gradcheck ≤ 1e-12 and a 1-epoch float64 lockstep ≤ 1e-9 per step, full MNIST
    (in this process: the CLI's main, as `python -m compare.cli` runs it, without a second torch start-up)."""
    code = main(["gradcheck", "--manual", "sklearn", "--data-dir", str(mnist_root), "--json", str(tmp_path / "g.json")])
    assert code == 0, capsys.readouterr().err
    g = json.loads((tmp_path / "g.json").read_text())
    assert max(p["max_rel_err"] for p in g["params"]) <= 1e-12
    code = main(
        [
            "compare",
            "--manual",
            "sklearn",
            "--epochs",
            "1",
            "--dtype",
            "float64",
            "--data-dir",
            str(mnist_root),
            "--logdir",
            str(tmp_path / "runs"),
            "--quiet",
            "--json",
            str(tmp_path / "c.json"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "c.json").read_text())["max_abs_loss_diff"] <= 1e-9
