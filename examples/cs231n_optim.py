"""Update rules in the CS231n assignment's style (``optim.py``), checked against torch.optim as is.

    simplenet optimcheck --plugin-optimizer examples/cs231n_optim.py:adam

Each rule takes ``(w, dw, config)`` and returns ``(next_w, config)``; hyper-parameters and state live
in ``config`` (``learning_rate``, ``momentum``, ``decay_rate``, ``beta1``, ``beta2``, ``epsilon``;
``velocity``, ``cache``, ``m``, ``v``, ``t``), with the assignment's defaults.
"""
import numpy as np


def sgd(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    w = w - config["learning_rate"] * dw                        # w ← w − lr·dw
    return w, config


def sgd_momentum(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw  # v ← μv − lr·dw
    config["velocity"] = v
    return w + v, config                                        # w ← w + v


def rmsprop(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    dr = config["decay_rate"]
    config["cache"] = dr * config["cache"] + (1 - dr) * dw * dw          # c ← ρc + (1 − ρ)dw²
    w = w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"])
    return w, config


def adam(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1                                                     # t counts from 1 at the first step
    config["m"] = b1 * config["m"] + (1 - b1) * dw                       # m ← β₁m + (1 − β₁)dw
    config["v"] = b2 * config["v"] + (1 - b2) * dw * dw                  # v ← β₂v + (1 − β₂)dw²
    m_hat = config["m"] / (1 - b1 ** config["t"])                       # bias corrections
    v_hat = config["v"] / (1 - b2 ** config["t"])
    w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    return w, config
