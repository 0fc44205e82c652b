"""Deliberately broken backward passes, to show the gradient proof can fail.

Each fault swaps the class of ONE layer of a manual twin for a subclass whose backward
carries a classic bug; the forward is untouched, so only gradients go wrong.
``FAULTS[name].breaks`` names the parameters of the default SimpleNet it must corrupt.
"""

from __future__ import annotations

from dataclasses import dataclass

import manual
from compare.errors import ConfigError
from manual.layers import CrossEntropyLoss, Linear, ReLU


class ReLUWithoutMask(ReLU):
    def backward(self, grad_out):
        return grad_out  # bug: forgets ⊙ 1[x > 0]


class LinearTransposedWeightGrad(Linear):
    def backward(self, grad_out, need_input_grad=True):
        self.weight.accumulate(self.x.T @ grad_out)  # bug: xᵀ·g is (I, O), not gᵀ·x (O, I)
        self.bias.accumulate(grad_out.sum(axis=0))
        return grad_out @ self.weight.data if need_input_grad else None


class LinearBiasNotSummed(Linear):
    def backward(self, grad_out, need_input_grad=True):
        self.weight.accumulate(grad_out.T @ self.x)
        self.bias.accumulate(grad_out.mean(axis=0))  # bug: mean, not Σ_n, over the batch
        return grad_out @ self.weight.data if need_input_grad else None


class CrossEntropyNotDividedByN(CrossEntropyLoss):
    def backward(self):
        return super().backward() * self.probs.shape[0]  # bug: p − onehot without the 1/N


@dataclass(frozen=True)
class Fault:
    description: str
    target: str  # attribute of the net, or "loss"
    cls: type
    breaks: tuple[str, ...]


FAULTS = {
    "relu-mask": Fault(
        "ReLU backward without its mask",
        "act2",
        ReLUWithoutMask,
        ("layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"),
    ),
    "transposed-weight": Fault(
        "layer2's weight gradient transposed", "layer2", LinearTransposedWeightGrad, ("layer2.weight",)
    ),
    "bias-sum": Fault(
        "layer1's bias gradient averaged instead of summed over the batch",
        "layer1",
        LinearBiasNotSummed,
        ("layer1.bias",),
    ),
    "loss-mean": Fault(
        "loss gradient not divided by the batch size",
        "loss",
        CrossEntropyNotDividedByN,
        ("layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias", "layer3.weight", "layer3.bias"),
    ),
}


def inject(net: manual.SimpleNet, loss_fn: CrossEntropyLoss, name: str) -> None:
    """Break ``net`` or ``loss_fn`` in place with the fault called ``name``."""
    fault = FAULTS[name]
    obj = loss_fn if fault.target == "loss" else getattr(net, fault.target, None)
    if obj is None or not isinstance(obj, fault.cls.__mro__[1]):
        raise ConfigError(
            f"fault {name!r} needs a {fault.cls.__mro__[1].__name__} called {fault.target}, "
            "which this architecture lacks"
        )
    obj.__class__ = fault.cls
