"""The plug-in door is narrow: a new convention is one module in ``compare/plugins/conventions/``, which
the judge then detects, offers to ``--convention`` and judges, with no other edit."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from compare import plugins
from compare.api import check_gradients
from compare.cli import main
from compare.plugins import conventions, protocol

# A toy convention: an object holding [(W, b), …] pairs in torch's layout and giving
# ``gradients(x, y)`` → (mean cross-entropy, [(dW, db), …]).  Nothing of it exists in the project.
TOY = """
import numpy as np

from compare.plugins.protocol import Implementation, Slot, register


@register
class Pairs(Implementation):
    name = "pairs"
    needs = "pairs a pairs list and gradients()"
    priority = 40

    @classmethod
    def matches(cls, obj):
        return isinstance(getattr(obj, "pairs", None), list) and callable(getattr(obj, "gradients", None))

    @classmethod
    def layer_sizes(cls, obj):
        return [obj.pairs[0][0].shape[1]] + [w.shape[0] for w, _ in obj.pairs]

    def _slots(self):
        slots = []
        for k, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            for j, (name, shape) in enumerate(((f"layer{k + 1}.weight", (fan_out, fan_in)),
                                               (f"layer{k + 1}.bias", (fan_out,)))):
                slots.append(Slot(name, shape, f"pairs[{k}][{j}]", shape, "same",
                                  get=lambda k=k, j=j: self.obj.pairs[k][j],
                                  set=lambda v, k=k, j=j: self.obj.set(k, j, v)))
        return slots

    def _forward(self, x):
        return self.obj.forward(x)[-1]

    def _backward(self, x, y):
        loss, grads = self.obj.gradients(x, y)
        return loss, None, {f"layer{k + 1}.{n}": g for k, pair in enumerate(grads)
                            for n, g in zip(("weight", "bias"), pair)}
"""

# A network in that convention, with an optional planted bug: no ReLU mask in the backward.
NET = """
import numpy as np


class PairNet:
    def __init__(self, sizes, mask=True):
        rng = np.random.default_rng(0)
        self.pairs = [[rng.normal(size=(b, a)) * 0.1, np.zeros(b)] for a, b in zip(sizes[:-1], sizes[1:])]
        self.mask = mask

    def set(self, k, j, v):
        self.pairs[k][j] = v

    def forward(self, x):
        outs = [x]
        for i, (w, b) in enumerate(self.pairs):
            z = outs[-1] @ w.T + b
            outs.append(np.maximum(z, 0) if i < len(self.pairs) - 1 else z)
        return outs

    def gradients(self, x, y):
        outs = self.forward(x)
        z = outs[-1] - outs[-1].max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        n = len(x)
        loss = -np.log(p[np.arange(n), y]).mean()
        d = p.copy()
        d[np.arange(n), y] -= 1
        d /= n
        grads = [None] * len(self.pairs)
        for i in reversed(range(len(self.pairs))):
            w, _ = self.pairs[i]
            grads[i] = (d.T @ outs[i], d.sum(axis=0))
            d = d @ w
            if i > 0 and self.mask:
                d = d * (outs[i] > 0)
        return loss, grads


def make(sizes):
    return PairNet(sizes)


def make_buggy(sizes):
    return PairNet(sizes, mask=False)
"""


@pytest.fixture
def toy_convention(tmp_path, monkeypatch):
    """The toy convention's module dropped beside the shipped ones (a second directory on the package's
    path, as a user's own installed convention would be), removed again afterwards."""
    (tmp_path / "conventions").mkdir()
    (tmp_path / "conventions" / "toy_pairs.py").write_text(TOY)
    (tmp_path / "pairnet.py").write_text(NET)
    monkeypatch.setattr(conventions, "__path__", [*conventions.__path__, str(tmp_path / "conventions")])
    yield tmp_path
    protocol.REGISTRY.pop("pairs", None)
    protocol._imported.discard("compare.plugins.conventions.toy_pairs")
    sys.modules.pop("compare.plugins.conventions.toy_pairs", None)


def test_the_shipped_conventions_come_from_the_registry():
    assert set(plugins.convention_names()) == {"ours", "cs231n", "layers", "sklearn"}
    assert plugins.aliases() == {
        "manual": "compare.plugins.conventions.ours:our_twin",
        "sklearn": "compare.plugins.conventions.sklearn:sklearn_mlp",
    }


def test_a_new_convention_is_one_module(toy_convention, capsys):
    assert "pairs" in plugins.convention_names()
    sys.path.insert(0, str(toy_convention))
    try:
        import pairnet
    finally:
        sys.path.remove(str(toy_convention))
    sizes = [784, 128, 64, 10]
    assert plugins.detect(pairnet.make(sizes)) == "pairs"
    # the API reads the object's sizes through the convention and judges it against autograd
    report = check_gradients(pairnet.make(sizes), batch_size=8)
    assert report.ok, str(report)
    assert "pairs convention" in str(report)
    buggy = check_gradients(pairnet.make_buggy(sizes), batch_size=8)
    assert not buggy.ok and "relu-mask-missing" in str(buggy), str(buggy)
    # the CLI: detected, and offered to --convention (the parser's choices come from the registry)
    target = f"{toy_convention / 'pairnet.py'}:make"
    assert main(["gradcheck", "--random-data", "--batch-size", "8", "--manual", target]) == 0
    assert "(pairs convention" in capsys.readouterr().out
    assert main(["gradcheck", "--random-data", "--batch-size", "8", "--manual", target, "--convention", "pairs"]) == 0
    assert (
        main(
            [
                "gradcheck",
                "--random-data",
                "--batch-size",
                "8",
                "--manual",
                f"{toy_convention / 'pairnet.py'}:make_buggy",
            ]
        )
        == 1
    )


def test_an_object_no_convention_matches_is_told_what_each_needs():
    with pytest.raises(plugins.PluginError) as e:
        plugins.detect(object())
    for adapter in plugins.adapters():
        assert adapter.needs in str(e.value)


def test_two_conventions_of_one_name_are_refused():
    class Clash(protocol.Implementation):
        name = "ours"

    with pytest.raises(ValueError, match="two conventions are called 'ours'"):
        protocol.register(Clash)
    assert protocol.REGISTRY["ours"].__name__ == "Ours"


def test_detection_tries_sklearn_before_ours():
    """An MLPClassifier has no named_parameters, but the order is declared, not implied by a dict."""
    order = [a.name for a in plugins.adapters()]
    assert order.index("sklearn") < order.index("ours") < order.index("cs231n") < order.index("layers")
    assert np.all(np.diff([a.priority for a in plugins.adapters()]) >= 0)
