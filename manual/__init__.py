"""The hand-written twin: SimpleNet's forward and backward in pure NumPy (never imports torch)."""
from manual.layers import CrossEntropyLoss, Linear, Parameter, ReLU, Sigmoid, Tanh, WeightPenalty
from manual.model import SimpleNet

__all__ = ["CrossEntropyLoss", "Linear", "Parameter", "ReLU", "Sigmoid", "SimpleNet", "Tanh", "WeightPenalty"]
