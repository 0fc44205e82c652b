"""Michael Nielsen's ``network.py`` (Neural Networks and Deep Learning, ch. 1), ported to Python 3 and
judged as it is written: sigmoid everywhere, the quadratic cost, backprop one sample at a time.

    simplenet gradcheck --manual examples/nielsen_network.py:judged --activation sigmoid \\
        --output-activation sigmoid --loss quadratic

``Network`` is the book's class (its SGD loop left out: the judge's optimizer trains it); ``judged``
presents it in the cs231n convention: the weights ``(out, in)`` and biases ``(out, 1)`` are mapped as
they are, and ``loss(X, y)`` averages ``backprop`` over the batch, as ``update_mini_batch`` does.
His cost ½·Σ_k (a − y)², averaged over samples, is ``--loss quadratic`` (C/2 × torch's MSELoss).
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            z = zs[-layer]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sp
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return (nabla_b, nabla_w)

    def cost_derivative(self, output_activations, y):
        return output_activations - y


class judged:
    """The cs231n door to the book's network: params ``W1, b1, …`` are its own arrays."""

    def __init__(self, sizes, dtype=np.float64):
        self.net = Network(sizes)
        self.params = {}
        for k, (w, b) in enumerate(zip(self.net.weights, self.net.biases), start=1):
            self.params[f"W{k}"], self.params[f"b{k}"] = w.astype(dtype), b.astype(dtype)

    def _sync(self):          # the judge may have put new arrays in params: the network computes with them
        n = len(self.net.weights)
        self.net.weights = [self.params[f"W{k}"] for k in range(1, n + 1)]
        self.net.biases = [self.params[f"b{k}"] for k in range(1, n + 1)]

    def loss(self, X, y=None):
        self._sync()
        if y is None:
            return np.hstack([self.net.feedforward(x.reshape(-1, 1)) for x in X]).T
        grads = {key: np.zeros_like(v) for key, v in self.params.items()}
        cost = 0.0
        for x, label in zip(X, y):
            target = np.zeros((self.net.sizes[-1], 1))
            target[label] = 1.0
            a = self.net.feedforward(x.reshape(-1, 1))
            cost += 0.5 * float(np.sum((a - target) ** 2))
            nabla_b, nabla_w = self.net.backprop(x.reshape(-1, 1), target)
            for k, (nb, nw) in enumerate(zip(nabla_b, nabla_w), start=1):
                grads[f"b{k}"] += nb
                grads[f"W{k}"] += nw
        return cost / len(X), {key: g / len(X) for key, g in grads.items()}
