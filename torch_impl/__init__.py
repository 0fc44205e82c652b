"""The autograd twin: SimpleNet with torch.nn, trained on CPU or GPU."""

from torch_impl.layers import (
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
from torch_impl.model import SimpleNet

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
