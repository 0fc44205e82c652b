"""The autograd twin: SimpleNet with torch.nn, trained on CPU or GPU."""

from torch_impl.layers import (
    LOSSES,
    CrossEntropyLoss,
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
