"""The smallest implementation the judge can drive: the *ours* convention in ~30 lines of NumPy.

    simplenet gradcheck --manual examples/minimal_ours.py:MLP

Parameters are objects with ``.data`` and ``.grad`` in torch's (out, in) layout, named
``layerK.weight`` / ``layerK.bias``; ``__call__(x)`` gives logits; ``backward(dL/dlogits)`` fills every
``.grad``; the judge supplies the loss and its gradient (p − onehot)/N, and the optimizer.
"""
import numpy as np


class Param:
    def __init__(self, data):
        self.data, self.grad = data, None


class MLP:
    def __init__(self, sizes, dtype=np.float64):
        self.W = [Param(np.zeros((o, i), dtype)) for i, o in zip(sizes[:-1], sizes[1:])]
        self.b = [Param(np.zeros(o, dtype)) for o in sizes[1:]]

    def named_parameters(self):
        for k, (w, b) in enumerate(zip(self.W, self.b), start=1):
            yield f"layer{k}.weight", w
            yield f"layer{k}.bias", b

    def zero_grad(self):
        for _, p in self.named_parameters():
            p.grad = None

    def __call__(self, x):
        self.h = [x]                                  # each layer's input
        for k, (w, b) in enumerate(zip(self.W, self.b)):
            z = self.h[-1] @ w.data.T + b.data
            if k == len(self.W) - 1:
                return z                              # logits
            self.h.append(np.maximum(z, 0))           # ReLU

    def backward(self, g):                            # g = dL/dlogits (N, C)
        for k in reversed(range(len(self.W))):
            self.W[k].grad = g.T @ self.h[k]          # dL/dW = gᵀ·x   (out, in)
            self.b[k].grad = g.sum(axis=0)            # dL/db = Σ_n g  (out,)
            if k:
                g = (g @ self.W[k].data) * (self.h[k] > 0)   # dL/dx = (g·W) ⊙ 1[x > 0]
