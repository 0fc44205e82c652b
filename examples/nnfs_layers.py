"""Layer classes in the style of the book *Neural Networks from Scratch in Python*, checked as is.

    simplenet gradcheck --manual examples/nnfs_layers.py:build

The factory returns the list of layers in order: dense layers with ``weights`` (in, out) and
``biases`` (1, out), activations, and the book's combined softmax + cross-entropy object last.
Each ``forward(inputs)`` sets ``.output``; each ``backward(dvalues)`` sets ``.dinputs`` (and
``.dweights`` / ``.dbiases`` for dense layers).  Leave the loss object out and the judge supplies
the softmax cross-entropy itself.
"""
import numpy as np


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons, dtype=np.float64):
        self.weights = (0.01 * np.random.randn(n_inputs, n_neurons)).astype(dtype)
        self.biases = np.zeros((1, n_neurons), dtype)

    def forward(self, inputs):
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases

    def backward(self, dvalues):
        self.dweights = self.inputs.T @ dvalues                 # (in, out)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)   # (1, out)
        self.dinputs = dvalues @ self.weights.T                 # (N, in)


class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Sigmoid:
    def forward(self, inputs):
        self.output = 0.5 * (1 + np.tanh(0.5 * inputs))

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.output) * self.output


class Activation_Tanh:
    def forward(self, inputs):
        self.output = np.tanh(inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.output ** 2)


class Activation_Softmax_Loss_CategoricalCrossentropy:
    """Softmax and mean cross-entropy in one object, with the short gradient (p − onehot)/N."""

    def forward(self, inputs, y_true):
        exp = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp / np.sum(exp, axis=1, keepdims=True)
        log_likelihood = -np.log(self.output[range(len(inputs)), y_true])
        return np.mean(log_likelihood)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


ACTIVATIONS = {"relu": Activation_ReLU, "sigmoid": Activation_Sigmoid, "tanh": Activation_Tanh}


class Layer_Dropout:
    """The book's chapter 15: ``rate`` given as the fraction to drop, kept as the fraction to keep."""

    def __init__(self, rate):
        self.rate = 1 - rate

    def forward(self, inputs, training):
        self.inputs = inputs
        if not training:
            self.output = inputs.copy()
            return
        self.binary_mask = np.random.binomial(1, self.rate, size=inputs.shape) / self.rate
        self.output = inputs * self.binary_mask

    def backward(self, dvalues):
        self.dinputs = dvalues * self.binary_mask


def build(sizes, activation="relu", dtype=np.float64, dropout=0.0):
    layers = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Layer_Dense(i, o, dtype))
        if k < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(Layer_Dropout(dropout))
    layers.append(Activation_Softmax_Loss_CategoricalCrossentropy())
    return layers
