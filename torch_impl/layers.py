"""Layers of the autograd twin: torch.nn's own, named as in ``manual/layers.py``.

Autograd derives every backward, so there is nothing to write by hand here; this
module exists so the two twins can be read side by side, file by file.
"""
from torch.nn import CrossEntropyLoss, Linear, Module, Parameter, ReLU, Sigmoid, Tanh

__all__ = ["ACTIVATIONS", "CrossEntropyLoss", "Linear", "Module", "Parameter", "ReLU", "Sigmoid", "Tanh"]

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
