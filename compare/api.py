"""The judge as a library: the command line's checks as functions, for notebooks, scripts and pytest.

    from compare import check_gradients
    report = check_gradients(my_net)          # an object, a factory, or "path/to/file.py:FACTORY"
    report.ok                                 # True / False
    print(report)                             # the CLI's table, character for character
    report                                    # in Jupyter: a coloured HTML table
    report.to_dict()                          # the CLI's --json

``check_optimizer`` is ``simplenet optimcheck`` the same way; ``compare.testing`` has the pytest
helpers.  Everything here takes plain Python values and is quiet: it prints nothing.
"""
from __future__ import annotations

import numpy as np

from compare.config import ModelSpec
from compare.errors import ConfigError

__all__ = ["check_gradients", "check_optimizer"]


def check_gradients(net, x=None, y=None, *, batch_size: int = 64, spec: ModelSpec | None = None,
                    activation: str = "relu", seed: int = 0, dtype: str = "float64", fd: bool = False,
                    fd_samples: int | None = 16, convention: str | None = None, l2: float | None = None,
                    l1: float = 0.0):
    """The gradient proof of ``net`` against autograd (``simplenet gradcheck``); returns a ``GradReport``.

    ``net`` is an object in any convention (a CS231n model, an nnfs layer list, our protocol, an
    ``MLPClassifier``), a factory (called as the CLI calls one) or a ``"FILE_OR_MODULE:FACTORY"`` string.
    An object's layer sizes are read from its parameters; the judge loads its own initial weights into
    it for the proof and puts the object's own arrays back afterwards.  ``x``/``y`` default to ``batch_size``
    standard-normal inputs and uniform labels drawn from ``seed`` (the CLI's ``--random-data``).
    ``l2`` is the run's L2 term ½·λ·ΣW²; for an object that keeps its own ``reg`` (CS231n), it defaults
    to that ``reg``, and the object computes the term itself."""
    from compare.data import random_batch
    from compare.gradcheck import gradient_proof

    target, restore = net, None
    if not (isinstance(net, str) or (callable(net) and not _is_model(net))):
        obj = net
        spec = spec or ModelSpec(**sizes_of(obj), activation=activation)
        restore = _keeper(obj, spec)
        own = getattr(obj, "reg", None)
        if own is not None:
            l2 = own if l2 is None else l2
            if own != l2:
                raise ConfigError(f"check_gradients: the object's reg is {own:g}, l2={l2:g}; give the same "
                                  "(the object computes its own L2 term)")
        target = _constant(obj, owns_reg=own is not None)
    l2 = l2 or 0.0
    spec = spec or ModelSpec(activation=activation)
    if x is None:
        x, y = random_batch(batch_size, seed, dtype, spec.in_features, spec.out_features)
        source = f"random N(0,1) inputs, seed {seed}"
    else:
        if y is None:
            raise ConfigError("check_gradients: give y (the labels) with x")
        x = np.asarray(x).reshape(len(x), -1)
        y = np.asarray(y).astype(np.int64)
        source = "given batch"
    try:
        return gradient_proof(x, y, spec=spec, seed=seed, dtype=dtype, source=source, fd=fd, fd_samples=fd_samples,
                              manual_target=target, convention=convention, l2=l2, l1=l1)
    finally:
        if restore is not None:
            restore()


def check_optimizer(target: str, *, steps: int = 50, dtype: str = "float64", seed: int = 0, **hyper):
    """Your optimizer against torch.optim step by step (``simplenet optimcheck``); returns an
    ``OptimReport`` (``.ok``, ``str()``, ``to_dict()``).  ``hyper`` sets lr, momentum, alpha, eps, beta1,
    beta2 for both sides."""
    from compare.optimcheck import check

    return check(target, steps=steps, dtype=dtype, seed=seed, overrides=hyper)


def _is_model(obj) -> bool:
    """A callable that is itself a network (ours is called as forward(x)), not a factory."""
    return callable(getattr(obj, "named_parameters", None)) or hasattr(obj, "params") or hasattr(obj, "coefs_")


def _keeper(obj, spec: ModelSpec):
    """The judge loads its own initial weights into the object (new arrays in its slots); this puts the
    object's own arrays back afterwards, so a notebook's network is left as it was."""
    from compare import plugins

    impl = plugins.load(_constant(obj), spec, "float64")
    saved = [(slot, slot.get()) for slot in impl.slots]

    def restore():
        for slot, array in saved:
            slot.set(array)
    return restore


def _constant(obj, owns_reg: bool = False):
    """A factory that returns ``obj`` (whose weights the judge then overwrites).  An object with its own
    ``reg`` computes the L2 term itself: the factory says so by naming ``reg`` (plugins.load)."""
    if owns_reg:
        def factory(reg=0.0):
            return obj
    else:
        def factory():
            return obj
    factory.__name__ = type(obj).__name__ if not isinstance(obj, (list, tuple)) else "layers"
    return factory


def sizes_of(obj) -> dict:
    """in_features, hidden and out_features of a network object, read from its parameters by the
    adapter of its convention (``layer_sizes``)."""
    from compare.plugins import adapters, detect

    kind = detect(obj)
    chain = {a.name: a for a in adapters()}[kind].layer_sizes(obj)
    return dict(in_features=int(chain[0]), hidden=tuple(int(h) for h in chain[1:-1]), out_features=int(chain[-1]))
