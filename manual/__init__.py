"""The hand-written twin: SimpleNet's forward and backward in pure NumPy (never imports torch)."""

from manual.layers import (
    LOSSES,
    NORMS,
    BatchNorm1d,
    CrossEntropyLoss,
    Dropout,
    LayerNorm,
    Linear,
    MSELoss,
    Parameter,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    WeightPenalty,
)
from manual.model import SimpleNet

__all__ = [
    "LOSSES",
    "NORMS",
    "BatchNorm1d",
    "Dropout",
    "LayerNorm",
    "CrossEntropyLoss",
    "Linear",
    "MSELoss",
    "Parameter",
    "ReLU",
    "Sigmoid",
    "SimpleNet",
    "Softmax",
    "Tanh",
    "WeightPenalty",
]
