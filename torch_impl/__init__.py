"""The autograd twin: SimpleNet with torch.nn, trained on CPU or GPU."""
from torch_impl.layers import CrossEntropyLoss, Linear, Parameter, ReLU, Sigmoid, Tanh, WeightPenalty
from torch_impl.model import SimpleNet

__all__ = ["CrossEntropyLoss", "Linear", "Parameter", "ReLU", "Sigmoid", "SimpleNet", "Tanh", "WeightPenalty"]
