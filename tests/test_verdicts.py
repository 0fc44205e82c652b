"""Verdicts on real code are true: the forward is checked first, --fd never blames autograd for the
plug-in's own forward or loss, every correct layout is accepted, and the bug is named by re-enacting it.

Each planted bug below is a small edit of an example, the kind of mistake found in public
solutions; each expects its code on the right layer in float64 and float32."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from compare import catalogue, plugins
from compare.cli import main
from compare.config import ModelSpec
from compare.data import random_batch
from compare.gradcheck import FD_BOTH, FD_OK, FD_PLUGIN_LOSS, FD_TORCH_WRONG, FD_UNEXPLAINED, fd_verdict, gradient_proof

ROOT = Path(__file__).resolve().parents[1]
CS231N = (ROOT / "examples" / "cs231n_fc.py").read_text()
NNFS = (ROOT / "examples" / "nnfs_layers.py").read_text()
NAMES = ["layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias", "layer3.weight", "layer3.bias"]


def edited(source: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    return source


def plugin_file(tmp_path: Path, name: str, source: str, factory: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return f"{path}:{factory}"


def proof(target, dtype="float64", n=16, seed=0, spec=ModelSpec(), **kw):
    x, y = random_batch(n, seed, dtype, spec.in_features, spec.out_features)
    return gradient_proof(x, y, spec=spec, seed=seed, dtype=dtype, manual_target=target, **kw)


# --- the planted bugs, as edits of the examples -----------------------------------------------
OUTPUT_ACTIVATION = (
    ("a = self.f(z) if k < self.num_layers else z", "a = self.f(z)"),
    ("grads, dout = {}, dscores", "grads, dout = {}, dscores * self.df(scores)"),
)
SCORES_RETURN = "if y is None:\n            return scores"
FORWARD_BUGS = {  # code → (edits of the cs231n example, the variant the diagnosis names)
    "output-activation": (OUTPUT_ACTIVATION, "relu"),
    "probabilities": (
        (
            (
                SCORES_RETURN,
                "if y is None:\n            e = np.exp(scores - scores.max(axis=1, "
                "keepdims=True))\n            return e / e.sum(axis=1, keepdims=True)",
            ),
        ),
        None,
    ),
    "log-probabilities": (
        (
            (
                SCORES_RETURN,
                "if y is None:\n            s = scores - scores.max(axis=1, "
                "keepdims=True)\n            return s - np.log(np.exp(s).sum(axis=1, keepdims=True))",
            ),
        ),
        None,
    ),
    "missing-bias": (
        (
            (
                'z = a @ self.params[f"W{k}"] + self.params[f"b{k}"]',
                'z = a @ self.params[f"W{k}"] + (self.params[f"b{k}"] if k != 2 else 0)',
            ),
        ),
        None,
    ),
    "scale": ((("scores = a\n", "scores = 2.0 * a\n"),), None),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bug", sorted(FORWARD_BUGS))
def test_each_forward_bug_is_a_forward_mismatch_with_its_diagnosis(bug, dtype, tmp_path):
    changes, variant = FORWARD_BUGS[bug]
    r = proof(plugin_file(tmp_path, "fwd", edited(CS231N, *changes), "FullyConnectedNet"), dtype=dtype)
    assert not r.passed and r.forward["verdict"] == "MISMATCH"
    d = r.forward["diagnosis"]
    assert d["code"] == bug, d
    if variant:
        assert d["variant"] == variant
    if bug == "missing-bias":
        assert d["layer"] == "layer2"
    if bug == "scale":
        assert d["factor"] == pytest.approx(2.0, rel=1e-6)
    # no parameter is blamed on its backward: each failing one follows from the forward
    assert all(p.diagnosis["code"] == "forward" for p in r.params if not p.passed)
    assert all(p.diagnosis is None for p in r.params if p.passed)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_output_activation_names_which(activation, tmp_path):
    spec = ModelSpec(hidden=(32,), activation=activation)
    r = proof(plugin_file(tmp_path, "fwd", edited(CS231N, *OUTPUT_ACTIVATION), "FullyConnectedNet"), spec=spec)
    assert r.forward["diagnosis"]["code"] == "output-activation"
    assert r.forward["diagnosis"]["variant"] == activation
    assert r.forward["diagnosis"]["backward_consistent"] is True


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_factory_that_ignores_the_activation_is_a_hidden_activation_bug(dtype, tmp_path):
    source = CS231N + "\n\ndef always_relu(sizes, dtype):\n    return FullyConnectedNet(sizes, 'relu', dtype)\n"
    r = proof(
        plugin_file(tmp_path, "hid", source, "always_relu"),
        dtype=dtype,
        spec=ModelSpec(hidden=(32, 16), activation="tanh"),
    )
    assert r.forward["diagnosis"]["code"] == "hidden-activation"
    assert r.forward["diagnosis"]["variant"] == "relu"


def test_relu_on_the_scores_acceptance(tmp_path):
    """ReLU on the output scores with a backward consistent with it: exit 1, output-activation, and --fd
    says the plug-in's forward/loss differs - never that torch is wrong."""
    target = plugin_file(tmp_path, "relu_out", edited(CS231N, *OUTPUT_ACTIVATION), "FullyConnectedNet")
    out = tmp_path / "g.json"
    code = main(
        [
            "gradcheck",
            "--random-data",
            "--batch-size",
            "16",
            "--manual",
            target,
            "--fd",
            "--fd-samples",
            "6",
            "--json",
            str(out),
        ]
    )
    payload = json.loads(out.read_text())
    assert code == 1
    assert payload["forward"]["diagnosis"]["code"] == "output-activation"
    verdicts = [c["verdict"] for c in payload["fd"]]
    assert FD_TORCH_WRONG not in verdicts
    assert all(v in (FD_PLUGIN_LOSS, FD_OK) for v in verdicts) and FD_PLUGIN_LOSS in verdicts
    for c in payload["fd"]:  # its backward is consistent with its own (wrong) forward
        assert c["passed_own"] and c["passed_torch"]


def test_a_loss_summed_over_the_batch_is_never_torch_wrong(tmp_path):
    summed = edited(
        CS231N,
        ("loss = -log_probs[np.arange(n), y].mean()", "loss = -log_probs[np.arange(n), y].sum()"),
        ("dscores /= n ", "dscores /= 1 "),
    )
    r = proof(plugin_file(tmp_path, "summed", summed, "FullyConnectedNet"), fd=True, fd_samples=4)
    assert not r.passed
    assert {c.verdict for c in r.fd} == {FD_PLUGIN_LOSS}  # consistent with its own (summed) loss
    assert r.loss["diagnosis"]["code"] == "loss-sum"
    assert {p.diagnosis["code"] for p in r.params} == {"batch-sum"}
    # the gradient alone summed (loss still a mean) is a wrong backward
    grad_only = edited(CS231N, ("dscores /= n ", "dscores /= 1 "))
    r = proof(plugin_file(tmp_path, "grad_only", grad_only, "FullyConnectedNet"), fd=True, fd_samples=4)
    assert {c.verdict for c in r.fd} == {"PLUG-IN WRONG"}


def test_our_twin_under_an_injected_fault_still_reads_manual_wrong():
    r = proof("manual", fault="relu-mask", fd=True, fd_samples=4)
    verdicts = {c.name: c.verdict for c in r.fd}
    assert {n for n, v in verdicts.items() if v != FD_OK} == {
        "layer1.weight",
        "layer1.bias",
        "layer2.weight",
        "layer2.bias",
    }
    assert {v for v in verdicts.values() if v != FD_OK} == {"MANUAL WRONG"}


def test_torch_wrong_is_impossible_when_the_plugins_forward_or_loss_differs():
    for plugin_ok in (True, False):
        for torch_ok in (True, False):
            for own_ok in (True, False):
                assert fd_verdict(plugin_ok, torch_ok, own_ok, False, "PLUG-IN WRONG") != FD_TORCH_WRONG
    assert fd_verdict(True, False, True, True, "PLUG-IN WRONG") == FD_TORCH_WRONG
    assert fd_verdict(True, False, True, False, "PLUG-IN WRONG") == FD_UNEXPLAINED
    assert fd_verdict(False, False, False, True, "PLUG-IN WRONG") == FD_BOTH


def test_a_reported_loss_alone_that_differs_is_a_note_not_a_failure(tmp_path):
    summed = edited(CS231N, ("loss = -log_probs[np.arange(n), y].mean()", "loss = -log_probs[np.arange(n), y].sum()"))
    r = proof(plugin_file(tmp_path, "reported", summed, "FullyConnectedNet"), fd=True, fd_samples=4)
    assert r.passed and not r.loss["passed"]
    assert r.loss["diagnosis"]["code"] == "loss-sum"
    assert r.notes and r.notes[0].startswith("loss-sum")


def test_loss_diagnosis_recognises_the_clip():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((20, 10)) * 30  # confident rows: probabilities below 1e-7 and above 1 − 1e-7
    y = rng.integers(0, 10, 20)
    # the nnfs book's loss, written here as the book writes it (not with the catalogue's own formula, which a
    # wrong formula there would then match): softmax, clip to [1e-7, 1 − 1e-7], mean negative log
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    y_pred_clipped = np.clip(exp / exp.sum(axis=1, keepdims=True), 1e-7, 1 - 1e-7)
    clipped = float(np.mean(-np.log(y_pred_clipped[range(len(y)), y])))
    assert abs(clipped - catalogue.cross_entropy(logits, y)) > 1e-3
    d = catalogue.loss_diagnosis(clipped, logits, y, 1e-9)
    assert d["code"] == "loss-clipped" and d["clip"] == 1e-7
    assert catalogue.loss_diagnosis(catalogue.cross_entropy(logits, y), logits, y, 1e-9) is None
    assert catalogue.loss_diagnosis(20 * catalogue.cross_entropy(logits, y), logits, y, 1e-9)["code"] == "loss-sum"
    assert catalogue.loss_diagnosis(1.234, logits, y, 1e-9)["code"] == "loss-other"


# --- the catalogue's backward entries -----------------------------------------------------------
def nnfs_module(tmp_path, source=NNFS):
    target = plugin_file(tmp_path, "nnfs_copy", source, "build")
    return sys.modules[plugins.resolve_factory(target).fn.__module__], target


def relu_no_mask(self, dvalues):
    self.dinputs = dvalues.copy()  # bug: forgets to zero where inputs <= 0


def relu_wrong_threshold(self, dvalues):
    self.dinputs = dvalues.copy()
    self.dinputs[self.inputs <= 0.05] = 0  # bug: masks at 0.05, not 0 - in no catalogue


def dense_bias_one_row(self, dvalues):
    self.dweights = self.inputs.T @ dvalues
    self.dbiases = dvalues[0:1].copy()  # bug: one sample's gradient, not Σ_n
    self.dinputs = dvalues @ self.weights.T


class SigmoidDerivativeAtInput:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = 0.5 * (1 + np.tanh(0.5 * inputs))

    def backward(self, dvalues):
        self.dinputs = dvalues * self.inputs * (1 - self.inputs)  # bug: σ(1 − σ) written with z, not σ


def layers_planted(index, method=None, replace=None):
    def factory(sizes, activation, dtype):
        module = sys.modules[plugins.resolve_factory(f"{ROOT}/examples/nnfs_layers.py:build").fn.__module__]
        layers = module.build(sizes, activation, dtype)
        if replace is not None:
            layers[index] = replace()
        else:
            layers[index].backward = method.__get__(layers[index])
        return layers

    return factory


BACKWARD_BUGS = {  # name → (factory, spec, {parameter: (code, layer)})
    "relu mask dropped after layer1": (
        layers_planted(1, relu_no_mask),
        ModelSpec(),
        {n: ("relu-mask-missing", "layer1") for n in NAMES[:2]},
    ),
    "relu mask dropped after layer2": (
        layers_planted(3, relu_no_mask),
        ModelSpec(),
        {n: ("relu-mask-missing", "layer2") for n in NAMES[:4]},
    ),
    "sigmoid derivative at the pre-activation": (
        layers_planted(3, replace=SigmoidDerivativeAtInput),
        ModelSpec(activation="sigmoid"),
        {n: ("activation-derivative-at-preactivation", "layer2") for n in NAMES[:4]},
    ),
    "bias gradient from one row": (
        layers_planted(2, dense_bias_one_row),
        ModelSpec(),
        {"layer2.bias": ("bias-gradient-not-summed", "layer2")},
    ),
    "a ReLU threshold in no catalogue": (
        layers_planted(3, relu_wrong_threshold),
        ModelSpec(),
        {
            "layer2.weight": ("unexplained", None),
            "layer2.bias": ("unexplained", None),
            "layer1.weight": ("upstream", None),
            "layer1.bias": ("upstream", None),
        },
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bug", sorted(BACKWARD_BUGS))
def test_each_catalogue_entry_is_reenacted_on_the_right_layer(bug, dtype):
    factory, spec, expected = BACKWARD_BUGS[bug]
    r = proof(factory, dtype=dtype, spec=spec)
    assert r.forward["verdict"] == "OK" and not r.passed
    got = {p.name: (p.diagnosis["code"], p.diagnosis.get("layer")) for p in r.params if p.diagnosis}
    assert got == expected


def test_a_signature_keeps_its_code_and_gains_the_reenacted_cause():
    def negated(sizes, activation, dtype):  # (onehot − p)/N: every gradient negated
        net = layers_planted(0, dense_bias_one_row)(sizes, activation, dtype)[:-1]
        return net + [NegatedLoss()]

    class NegatedLoss:
        def forward(self, inputs, y_true):
            return catalogue.cross_entropy(inputs, y_true)

        def backward(self, dvalues, y_true):
            p = catalogue.softmax(dvalues)
            p[np.arange(len(p)), y_true] -= 1
            self.dinputs = -p / len(p)

    def factory(sizes, activation, dtype):
        layers = sys.modules[plugins.resolve_factory(f"{ROOT}/examples/nnfs_layers.py:build").fn.__module__].build(
            sizes, activation, dtype
        )
        return layers[:-1] + [NegatedLoss()]

    r = proof(factory)
    assert {p.diagnosis["code"] for p in r.params} == {"sign"}
    assert {p.diagnosis["reenacted"]["code"] for p in r.params} == {"softmax-gradient-sign"}


# --- precision ---------------------------------------------------------------------------------
NNFS_INIT = """
_orig_dot = np.dot


def _dot(*args, **kwargs):            # what nnfs.init() does to np.dot, process-wide
    return _orig_dot(*[a.astype("float64") for a in args], **kwargs).astype("float32")


np.dot = _dot
"""


def test_float32_arithmetic_in_a_float64_run_is_precision(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(np, "dot", np.dot)  # restored after the test, whatever the plug-in does
    source = edited(
        NNFS,
        ("import numpy as np\n", "import numpy as np\n" + NNFS_INIT),
        (
            "self.output = inputs @ self.weights + self.biases",
            "self.output = np.dot(inputs, self.weights) + self.biases",
        ),
        ("self.dweights = self.inputs.T @ dvalues ", "self.dweights = np.dot(self.inputs.T, dvalues) "),
        ("self.dinputs = dvalues @ self.weights.T ", "self.dinputs = np.dot(dvalues, self.weights.T) "),
    )
    target = plugin_file(tmp_path, "nnfs_init", source, "build")
    out = tmp_path / "g.json"
    assert main(["gradcheck", "--random-data", "--batch-size", "16", "--manual", target, "--json", str(out)]) == 1
    payload = json.loads(out.read_text())
    failing = [p for p in payload["params"] if not p["passed"]]
    assert failing and all(p["diagnosis"]["code"] == "precision" for p in failing)
    assert "precision" in capsys.readouterr().out
    # the same code is right in a float32 run
    assert main(["gradcheck", "--random-data", "--batch-size", "16", "--manual", target, "--dtype", "float32"]) == 0


# --- every correct layout is accepted -------------------------------------------------------------
ROW_BIASES = edited(
    CS231N, ("np.zeros(o, dtype)", "np.zeros((1, o), dtype)"), ("dout.sum(axis=0)", "dout.sum(axis=0, keepdims=True)")
)
CLIPPED_LOSS = edited(
    NNFS,
    (
        "log_likelihood = -np.log(self.output[range(len(inputs)), y_true])",
        "log_likelihood = -np.log(np.clip(self.output, 1e-7, 1 - 1e-7)[range(len(inputs)), y_true])",
    ),
)
TORCH_LAYOUT = edited(
    CS231N,
    ("rng.standard_normal((i, o))", "rng.standard_normal((o, i))"),
    ('z = a @ self.params[f"W{k}"] + ', 'z = a @ self.params[f"W{k}"].T + '),
    ('grads[f"W{k}"] = x.T @ dout + self.reg * W', 'grads[f"W{k}"] = dout.T @ x + self.reg * W'),
    ("dx = dout @ W.T", "dx = dout @ W"),
)
CORRECT = {
    "row biases": (ROW_BIASES, "FullyConnectedNet"),
    "clipped loss": (CLIPPED_LOSS, "build"),
    "torch layout": (TORCH_LAYOUT, "FullyConnectedNet"),
}


@pytest.mark.parametrize("case", sorted(CORRECT))
def test_correct_variants_agree_with_no_diagnosis(case, tmp_path):
    source, factory = CORRECT[case]
    target = plugin_file(tmp_path, case.replace(" ", "_"), source, factory)
    for dtype in ("float64", "float32"):
        for n in (1, 7, 64):
            for seed in range(2):
                r = proof(target, dtype=dtype, n=n, seed=seed)
                assert r.passed, (case, dtype, n, seed)
                assert r.forward["diagnosis"] is None and r.loss["diagnosis"] is None and not r.notes
                assert [p.diagnosis for p in r.params] == [None] * 6
    if case == "row biases":
        assert max(p.max_rel_err for p in proof(target).params) <= 1e-12
        assert "b1 (1, 128) ↔ layer1.bias (128,), reshaped" in proof(target).implementation["mapping"]
    if case == "torch layout":
        assert "W1 (128, 784) ↔ layer1.weight (128, 784), same layout" in proof(target).implementation["mapping"]


def test_row_biases_train_in_lockstep(tmp_path, tiny_mnist):
    target = plugin_file(tmp_path, "rows", ROW_BIASES, "FullyConnectedNet")
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--manual",
            target,
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
            "--quiet",
            "--json",
            str(out),
        ]
    )
    payload = json.loads(out.read_text())
    assert code == 0 and payload["max_abs_loss_diff"] <= 1e-9 and payload["final_param_max_abs_diff"] <= 1e-9


def test_a_clipped_reported_loss_agrees_in_lockstep_with_a_note(tmp_path, tiny_mnist, capsys):
    """The nnfs book's clip changes only the reported loss once predictions are confident: the
    judged loss and the parameters agree, so the verdict is AGREE and the note names the clip."""
    target = plugin_file(tmp_path, "clipped", CLIPPED_LOSS, "build")
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--manual",
            target,
            "--epochs",
            "4",
            "--lr",
            "0.1",
            "--dtype",
            "float64",
            "--batch-size",
            "8",
            "--schedule",
            "none",
            "--data-dir",
            str(tiny_mnist),
            "--no-images",
            "--logdir",
            str(tmp_path / "runs"),
            "--json",
            str(out),
        ]
    )
    payload = json.loads(out.read_text())
    text = capsys.readouterr().out
    assert code == 0 and payload["passed"]
    assert payload["loss_diagnosis"]["code"] == "loss-clipped" and payload["loss_diagnosis"]["clip"] == 1e-7
    reported = next(c for c in payload["checks"] if c["check"] == "reported_loss")
    assert reported["measured"] > 1e-9 and reported["passed"] is None
    assert "note: loss-clipped at 1e-07" in text and "your parameters agree" in text
    assert payload["max_abs_loss_diff"] <= 1e-9


def test_a_real_divergence_still_fails_and_names_the_step(tmp_path, tiny_mnist, capsys):
    late = edited(CS231N, ("dscores /= n ", "dscores /= n * (1.0 + 1e-6) "))  # a tiny, steady error
    target = plugin_file(tmp_path, "late", late, "FullyConnectedNet")
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--manual",
            target,
            "--epochs",
            "1",
            "--dtype",
            "float64",
            "--batch-size",
            "10",
            "--log-every",
            "1",
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
    assert code == 1 and payload["params_left_at"] is not None and 1 <= payload["params_left_at"] <= 10
    assert "the parameters left the 1e-08 tolerance first at step" in capsys.readouterr().out


# --- errors name the user's own line -------------------------------------------------------------
def test_an_error_inside_the_students_package_names_their_line(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "theirs"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "fc_net.py").write_text(
        "class Net:\n    def __init__(self, sizes):\n        self.params = {}\n"
        "        for k, v in {'a': 1}.iteritems():\n            pass\n"
    )
    factory = tmp_path / "factory.py"
    factory.write_text("from theirs.fc_net import Net\n\n\ndef make(sizes):\n    return Net(sizes)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["gradcheck", "--random-data", "--manual", f"{factory}:make"]) == 2
    err = capsys.readouterr().err
    assert f"{pkg / 'fc_net.py'}:4" in err and "factory.py:5" not in err and len(err.strip().splitlines()) == 1


def test_a_criterion_with_forward_and_backward_is_called_as_documented(tmp_path):
    source = (
        (ROOT / "examples" / "minimal_ours.py").read_text()
        + """

class Criterion:                       # docs/plugins.md: forward(logits, y) -> loss, backward() -> dL/dlogits
    def forward(self, logits, y):
        s = logits - logits.max(axis=1, keepdims=True)
        self.p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
        self.y = y
        return -np.log(self.p[np.arange(len(y)), y]).mean()

    def backward(self):
        g = self.p.copy()
        g[np.arange(len(self.y)), self.y] -= 1
        return g / len(self.y)


def with_criterion(sizes, dtype):
    net = MLP(sizes, dtype)
    net.criterion = Criterion()
    return net
"""
    )
    r = proof(plugin_file(tmp_path, "crit", source, "with_criterion"))
    assert r.passed and max(p.max_rel_err for p in r.params) <= 1e-12


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_activation_backward_shared_by_every_layer_is_named_once(dtype, tmp_path):
    source = edited(
        (ROOT / "examples" / "minimal_ours.py").read_text(),
        ("g = (g @ self.W[k].data) * (self.h[k] > 0)", "g = g @ self.W[k].data"),
    )
    r = proof(plugin_file(tmp_path, "nomask", source, "MLP"), dtype=dtype)
    got = {p.name: (p.diagnosis["code"], p.diagnosis["layer"]) for p in r.params if p.diagnosis}
    assert got == dict.fromkeys(NAMES[:4], ("relu-mask-missing", "every hidden layer"))


@pytest.mark.slow
def test_the_books_clipped_loss_on_real_mnist(mnist_root, tmp_path, capsys):
    """The acceptance run: the nnfs book's combined loss (clipped at 1e-7) over one float64 epoch of full
    MNIST - exit 0, the loss-clipped note, the reported loss ~7e-2 off while the parameters agree."""
    target = plugin_file(tmp_path, "nnfs_clipped", CLIPPED_LOSS, "build")
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--manual",
            target,
            "--epochs",
            "1",
            "--dtype",
            "float64",
            "--data-dir",
            str(mnist_root),
            "--logdir",
            str(tmp_path / "runs"),
            "--no-images",
            "--json",
            str(out),
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.out[-2000:] + printed.err
    payload = json.loads(out.read_text())
    assert payload["loss_diagnosis"]["code"] == "loss-clipped" and payload["loss_diagnosis"]["clip"] == 1e-7
    assert next(c for c in payload["checks"] if c["check"] == "reported_loss")["measured"] > 1e-3
    assert payload["final_param_max_abs_diff"] <= 1e-12
    assert "note: loss-clipped at 1e-07" in printed.out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_correct_code_gets_no_loss_note_in_training(dtype, tmp_path, mnist_factory, capsys):
    """Trained to small losses (where float32's rounding of the reported loss is large relative to it),
    our twin and the examples get no loss diagnosis: the judged and reported losses agree to rounding."""
    data = mnist_factory(tmp_path / "data")
    for target in (
        "manual",
        f"{ROOT}/examples/nnfs_layers.py:build",
        f"{ROOT}/examples/cs231n_fc.py:FullyConnectedNet",
    ):
        out = tmp_path / "c.json"
        assert (
            main(
                [
                    "compare",
                    "--manual",
                    target,
                    "--epochs",
                    "4",
                    "--lr",
                    "0.1",
                    "--dtype",
                    dtype,
                    "--batch-size",
                    "8",
                    "--data-dir",
                    str(data),
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
        payload = json.loads(out.read_text())
        assert payload["loss_diagnosis"] is None and not payload["notes"], (target, payload["notes"])


@pytest.mark.parametrize("loss", ["cross-entropy", "mse", "quadratic"])
def test_losses_judged_together_are_bit_for_bit_each_steps_own(loss):
    """Training judges a few dozen steps' losses at once (catalogue.objectives): each must be exactly
    what its batch gets alone, whatever the group, so a resumed run's curve equals the uninterrupted one."""
    from compare import catalogue

    rng = np.random.default_rng(0)
    for n in (1, 3, 64, 100, 1000):
        for dtype in (np.float32, np.float64):
            z = (rng.standard_normal((20, n, 10)) * 5).astype(dtype)
            y = rng.integers(0, 10, (20, n))
            alone = []
            for zi, yi in zip(z, y):  # the per-batch formula, written out as it was per step
                a = zi.astype(np.float64)
                if loss == "cross-entropy":
                    top = a.max(axis=1)
                    lse = np.log(np.exp(a - top[:, None]).sum(axis=1)) + top
                    alone.append(float((lse - a[np.arange(n), yi]).sum() / n))
                else:
                    onehot = np.zeros_like(a)
                    onehot[np.arange(n), yi] = 1.0
                    mse = float(np.mean((a - onehot) ** 2))
                    alone.append(mse * 5 if loss == "quadratic" else mse)
            assert catalogue.objectives(z, y, loss).tolist() == alone
            assert catalogue.objectives(z[7:9], y[7:9], loss).tolist() == alone[7:9]
            assert [catalogue.objective(zi, yi, loss) for zi, yi in zip(z, y)] == alone
