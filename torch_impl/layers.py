"""Layers of the autograd twin: torch.nn's own, named as in ``manual/layers.py``.

Autograd derives every backward, so there is nothing to write by hand here; this
module exists so the two twins can be read side by side, file by file.
"""

import torch
from torch import nn
from torch.nn import BatchNorm1d, CrossEntropyLoss, LayerNorm, Linear, Module, Parameter, ReLU, Sigmoid, Tanh

__all__ = [
    "ACTIVATIONS",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "LOSSES",
    "LayerNorm",
    "Linear",
    "MSELoss",
    "Module",
    "NORMS",
    "OUTPUT_ACTIVATIONS",
    "Parameter",
    "QuadraticLoss",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "WeightPenalty",
]


class Softmax(nn.Softmax):
    """torch.nn.Softmax over the classes (dim=1), as an output activation."""

    def __init__(self):
        super().__init__(dim=1)


class Dropout(nn.Dropout):
    """torch.nn.Dropout(p) (``p`` drops), which also takes its next forward's keep-mask when one is set:
    the judge hands the same masks to both twins, so their steps stay comparable number by number."""

    def __init__(self, p: float = 0.5):
        super().__init__(p)
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mask is None or not self.training or self.p == 0.0:
            return super().forward(x)
        keep, self.mask = self.mask, None  # one mask, one forward
        if keep.shape != x.shape:
            raise ValueError(f"dropout mask of shape {tuple(keep.shape)} for an input of shape {tuple(x.shape)}")
        return x * (keep.to(x.dtype) * (1.0 / (1.0 - self.p)))


class MSELoss(nn.MSELoss):
    """torch.nn.MSELoss (mean over N·C) against ``one_hot(target)``, taking class indices as the
    cross-entropy does."""

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(outputs, nn.functional.one_hot(target, outputs.shape[1]).to(outputs.dtype))


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


class QuadraticLoss(MSELoss):
    """Nielsen's quadratic cost (1/N) Σ_n ½·Σ_k (a − onehot)²: torch.nn.MSELoss scaled by C/2 (the
    documented scale between the two conventions)."""

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(outputs, target) * (outputs.shape[1] / 2)


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
NORMS = {"batchnorm": BatchNorm1d, "layernorm": LayerNorm}  # "none": no normalization
OUTPUT_ACTIVATIONS = {"sigmoid": Sigmoid, "softmax": Softmax}  # "none": the logits themselves
LOSSES = {"cross-entropy": CrossEntropyLoss, "mse": MSELoss, "quadratic": QuadraticLoss}
