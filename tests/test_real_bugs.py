"""Real net bug kinds named at their cause, and "upstream" said only when it is verified (issue 29): each
bug is planted here by hand in a small net of our own (the minimal example's code), independently of
the catalogue that names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compare.cli import main

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = (ROOT / "examples" / "minimal_ours.py").read_text()
FORWARD_LOOP = """        for k, (w, b) in enumerate(zip(self.W, self.b)):
            z = self.h[-1] @ w.data.T + b.data
            if k == len(self.W) - 1:
                return z                              # logits
            self.h.append(np.maximum(z, 0))           # ReLU
"""


def net(tmp_path, *edits) -> str:
    text = MINIMAL
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "mlp.py"
    path.write_text(text)
    return f"{path}:MLP"


def gradcheck(target, tmp_path, *extra) -> tuple[int, dict]:
    out = tmp_path / "g.json"
    code = main(["gradcheck", "--random-data", "--batch-size", "16", "--hidden", "32,24", "--manual", target,
                 "--json", str(out), *extra])  # fmt: skip
    return code, json.loads(out.read_text())


def diagnoses(report) -> dict:
    return {p["name"]: (p.get("diagnosis") or {}) for p in report["params"] if not p["passed"]}


PRE_ACTIVATION = [  # dW of layers 2 and 3 from the previous layer's pre-activation z, not its ReLU output
    ("        self.h = [x]                                  # each layer's input\n",
     "        self.h = [x]                                  # each layer's input\n        self.z = []\n"),
    ("            self.h.append(np.maximum(z, 0))           # ReLU\n",
     "            self.z.append(z)\n            self.h.append(np.maximum(z, 0))           # ReLU\n"),
    ("            self.W[k].grad = g.T @ self.h[k]          # dL/dW = gᵀ·x   (out, in)\n",
     "            self.W[k].grad = g.T @ (self.z[k - 1] if k else self.h[k])\n"),
]  # fmt: skip


def test_two_independent_layer_bugs_are_never_called_upstream(tmp_path):
    code, report = gradcheck(net(tmp_path, *PRE_ACTIVATION), tmp_path)
    found = diagnoses(report)
    assert code == 1 and set(found) == {"layer2.weight", "layer3.weight"}, found
    assert all(d.get("code") != "upstream" for d in found.values()), found
    assert {d.get("code") for d in found.values()} == {"gradient-from-pre-activation"}, found
    assert found["layer2.weight"].get("layers") == ["layer2", "layer3"], found


BACKWARD_LOOP = "                g = (g @ self.W[k].data) * (self.h[k] > 0)   # dL/dx = (g·W) ⊙ 1[x > 0]\n"
GRAD_W = "            self.W[k].grad = g.T @ self.h[k]          # dL/dW = gᵀ·x   (out, in)\n"
GRAD_B = "            self.b[k].grad = g.sum(axis=0)            # dL/db = Σ_n g  (out,)\n"


def test_upstream_is_said_only_where_the_layer_below_is_a_correct_backward_of_what_it_got(tmp_path):
    # layer3 hands down a distorted dL/dx (no known bug, no signature); layers 2 and 1 are right given it
    distorted = BACKWARD_LOOP.replace(
        "(g @ self.W[k].data)", "(np.tanh(g @ self.W[k].data) if k == 2 else g @ self.W[k].data)"
    )
    code, report = gradcheck(net(tmp_path, (BACKWARD_LOOP, distorted)), tmp_path)
    found = diagnoses(report)
    assert code == 1 and set(found) == {"layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"}, found
    assert found["layer2.weight"]["code"] == "unexplained" and found["layer2.weight"]["entered_at"] == "layer2"
    assert found["layer1.weight"]["code"] == "upstream" and "verified" in found["layer1.weight"], found


def test_a_second_bug_of_its_own_below_an_unexplained_layer_is_not_upstream(tmp_path):
    # two independent bugs, neither in the catalogue: layer3's dW distorted, layer2's db shifted
    code, report = gradcheck(
        net(
            tmp_path,
            (GRAD_W, "            self.W[k].grad = np.tanh(g.T @ self.h[k]) if k == 2 else g.T @ self.h[k]\n"),
            (GRAD_B, "            self.b[k].grad = g.sum(axis=0) + (0.01 if k == 1 else 0.0)\n"),
        ),
        tmp_path,
    )
    found = diagnoses(report)
    assert code == 1 and set(found) == {"layer3.weight", "layer2.bias"}, found
    assert found["layer2.bias"]["code"] == "unexplained", found  # was "upstream" of layer3: false
    assert "not a correct backward of what layer3 hands it" in found["layer2.bias"]["message"]


FORWARD_Z = "            z = self.h[-1] @ w.data.T + b.data\n"
RELU_OUT = "            self.h.append(np.maximum(z, 0))           # ReLU\n"


@pytest.mark.parametrize(
    "code, edit, layers",
    [
        ("missing-bias", (FORWARD_Z, "            z = self.h[-1] @ w.data.T\n"), ["layer1", "layer2", "layer3"]),
        ("bias-added-twice", (FORWARD_Z, "            z = self.h[-1] @ w.data.T + b.data * (2 if k == 0 else 1)\n"), ["layer1"]),
        ("hidden-activation-missing", (RELU_OUT, "            self.h.append(np.maximum(z, 0) if k != 1 else z)\n"), ["layer2"]),
    ],
)  # fmt: skip
def test_forward_bug_kinds_of_real_nets_are_named_with_their_layers(code, edit, layers, tmp_path):
    exit_code, report = gradcheck(net(tmp_path, edit), tmp_path)
    d = report["forward"]["diagnosis"]
    assert exit_code == 1 and d["code"] == code and d["layers"] == layers, d


def test_a_softmax_over_the_batch_axis_is_named(tmp_path):
    source = (ROOT / "examples" / "cs231n_fc.py").read_text()
    old = "        shifted = scores - scores.max(axis=1, keepdims=True)\n        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
    assert old in source
    new = "        shifted = scores - scores.max(axis=0, keepdims=True)\n        log_probs = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))\n"
    path = tmp_path / "fc.py"
    path.write_text(source.replace(old, new))
    exit_code, report = gradcheck(f"{path}:FullyConnectedNet", tmp_path)
    assert exit_code == 1 and report["forward"]["verdict"] == "OK"
    assert {d.get("code") for d in diagnoses(report).values()} == {"softmax-axis"}, diagnoses(report)


# --- assignment 1's TwoLayerNet, beside its factory --------------------------------------------------
TWO_LAYER_NET = """
import numpy as np


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {
            "W1": std * np.random.randn(input_size, hidden_size),
            "b1": np.zeros(hidden_size),
            "W2": std * np.random.randn(hidden_size, output_size),
            "b2": np.zeros(output_size),
        }

    def loss(self, X, y=None, reg=0.0):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h = np.maximum(0, X.dot(W1) + b1)
        scores = h.dot(W2) + b2
        if y is None:
            return scores
        n = X.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(n), y]).mean() + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = probs.copy()
        dscores[np.arange(n), y] -= 1
        dscores /= n
        grads = {"W2": h.T.dot(dscores) + 2 * reg * W2, "b2": dscores.sum(axis=0, keepdims=True)}
        dh = dscores.dot(W2.T)
        dh[h <= 0] = 0
        grads["W1"] = X.T.dot(dh) + 2 * reg * W1
        grads["b1"] = dh.sum(axis=0)
        return loss, grads
"""
FACTORY = """from neural_net import TwoLayerNet


def make(sizes):
    return TwoLayerNet(sizes[0], sizes[1], sizes[2])
"""


def two_layer_net(tmp_path, source=TWO_LAYER_NET) -> str:
    (tmp_path / "neural_net.py").write_text(source)
    (tmp_path / "factory.py").write_text(FACTORY)
    return f"{tmp_path / 'factory.py'}:make"


def test_an_assignment_1_two_layer_net_beside_its_factory_agrees_with_l2(tmp_path, capsys):
    """Its sibling import works, λ reaches loss(X, y, reg) per call, its λ·ΣW² convention is read from its
    loss, and its (1, out) bias gradient is a layout, not a shape mismatch."""
    code = main(["gradcheck", "--random-data", "--batch-size", "16", "--hidden", "128", "--l2", "0.05",
                 "--manual", two_layer_net(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "L2 λ reaches your code through loss(X, y, reg=λ), per call" in out
    assert "as λ·ΣW² (gradient 2λ·W" in out


def test_its_relu_on_the_scores_twin_is_named_output_activation(tmp_path, capsys):
    source = TWO_LAYER_NET.replace("scores = h.dot(W2) + b2", "scores = np.maximum(0, h.dot(W2) + b2)")
    code = main(["gradcheck", "--random-data", "--batch-size", "16", "--hidden", "128", "--l2", "0.05",
                 "--manual", two_layer_net(tmp_path, source), "--json", str(tmp_path / "g.json")])  # fmt: skip
    report = json.loads((tmp_path / "g.json").read_text())
    assert code == 1 and report["forward"]["diagnosis"]["code"] == "output-activation", report["forward"]


def test_a_net_of_another_width_is_told_the_hidden_flag_that_judges_it(tmp_path, capsys):
    code = main(["gradcheck", "--random-data", "--manual", two_layer_net(tmp_path)])
    line = capsys.readouterr().err.strip()
    assert code == 2 and "parameter W3 is missing" in line
    assert "its parameters say 784 → 128 → 64: judge it with --hidden 128" in line
    assert "its output layer has 64 units where the data has 10 classes" in line


def test_parameters_numbered_from_0_map_like_those_from_1(tmp_path, capsys):
    source = TWO_LAYER_NET
    for a, b in (("W1", "W0"), ("b1", "b0"), ("W2", "W1"), ("b2", "b1")):
        source = source.replace(f'"{a}"', f'"{b}"')
    assert '"W0"' in source and '"W2"' not in source
    code = main(["gradcheck", "--random-data", "--batch-size", "16", "--hidden", "128", "--l2", "0.05",
                 "--manual", two_layer_net(tmp_path, source)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "W0 (784, 128) ↔ layer1.weight (128, 784)" in out and "W1 (128, 10) ↔ layer2.weight (10, 128)" in out


def test_two_bugs_at_once_are_named_together(tmp_path):
    """Issue 29: a net with two independent bugs (the ReLU mask after layer 1 missing, layer 2's bias gradient a
    mean) has no single catalogue entry that reproduces it; both planted together do, and both are named, each
    where it is - not 'upstream' or 'unexplained'."""
    from pathlib import Path

    from compare.api import check_gradients

    text = (Path(__file__).resolve().parent.parent / "examples" / "cs231n_fc.py").read_text()
    for old, new in (
        ('grads[f"b{k}"] = dout.sum(axis=0)', 'grads[f"b{k}"] = dout.sum(axis=0) if k != 2 else dout.mean(axis=0)'),
        (
            "dout = dx * self.df(caches[2 * (k - 1) - 1])",
            "dout = dx if k == 2 else dx * self.df(caches[2 * (k - 1) - 1])",
        ),
    ):
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "two_bugs.py").write_text(text)
    report = check_gradients(f"{tmp_path}/two_bugs.py:FullyConnectedNet", batch_size=16)
    assert not report.ok
    failing = [p for p in report.params if not p.passed]
    # each row names both (layer2's bias also keeps its own true signature, b2 = autograd / N, beside them)
    named = [p.diagnosis if p.diagnosis["code"] == "two-bugs" else p.diagnosis.get("reenacted", {}) for p in failing]
    assert failing and all(d.get("code") == "two-bugs" for d in named), str(report)
    parts = {(b["code"], b.get("layer")) for b in named[0]["bugs"]}
    assert parts == {("relu-mask-missing", "layer1"), ("bias-gradient-not-summed", "layer2")}, parts
    assert "only both together reproduce every gradient" in str(report)
