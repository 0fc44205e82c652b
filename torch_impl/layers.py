"""Layers of the autograd twin: torch.nn's own, named as in ``manual/layers.py``.

Autograd derives every backward, so there is nothing to write by hand here; this
module exists so the two twins can be read side by side, file by file.
"""
import torch
from torch.nn import CrossEntropyLoss, Linear, Module, Parameter, ReLU, Sigmoid, Tanh

__all__ = ["ACTIVATIONS", "CrossEntropyLoss", "Linear", "Module", "Parameter", "ReLU", "Sigmoid", "Tanh",
           "WeightPenalty"]


class WeightPenalty(Module):
    """P = ½·λ₂·Σ W² + λ₁·Σ |W| over the weights only, as ``manual.layers.WeightPenalty``; autograd
    differentiates it with the rest of the loss."""

    def __init__(self, l2: float = 0.0, l1: float = 0.0):
        super().__init__()
        self.l2, self.l1 = l2, l1

    def __bool__(self) -> bool:
        return bool(self.l2 or self.l1)

    def forward(self, weights: list[torch.Tensor]) -> torch.Tensor:
        return sum(0.5 * self.l2 * (w * w).sum() + self.l1 * w.abs().sum() for w in weights)

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
