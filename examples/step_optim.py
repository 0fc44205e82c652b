"""Optimizers in torch.optim's shape - built on the parameters, stepped with ``step()`` - as learners
write them after micrograd or a torch tutorial; checked against torch.optim as they are.

    simplenet optimcheck --plugin-optimizer examples/step_optim.py:MyAdam

Each parameter is an object with ``.data`` and ``.grad`` (torch's names).
"""
import numpy as np


class MySGD:
    def __init__(self, params, lr=0.01, momentum=0.0):
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.velocity = [np.zeros_like(p.data) for p in self.params]

    def step(self):
        for p, v in zip(self.params, self.velocity):
            if self.momentum:
                v *= self.momentum                 # b ← μ·b + g
                v += p.grad
                p.data -= self.lr * v              # θ ← θ − lr·b
            else:
                p.data -= self.lr * p.grad         # θ ← θ − lr·g


class MyAdam:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, (self.b1, self.b2), self.eps = list(params), lr, betas, eps
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            m += (1 - self.b1) * (p.grad - m)              # m ← β₁m + (1 − β₁)g
            v *= self.b2                                   # v ← β₂v + (1 − β₂)g²
            v += (1 - self.b2) * p.grad * p.grad
            m_hat = m / (1 - self.b1 ** self.t)
            v_hat = v / (1 - self.b2 ** self.t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
