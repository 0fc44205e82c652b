"""The learner's own optimizer, judged step by step against torch.optim (``simplenet optimcheck``).

Two styles of hand-written optimizer are driven as they are written:

* **cs231n** (the assignment's ``optim.py``): functions ``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam``
  taking ``(w, dw, config)`` and returning ``(next_w, config)``; the state lives in ``config``.
* **nnfs** (the Neural Networks from Scratch book): an object with ``pre_update_params()``,
  ``update_params(layer)`` and ``post_update_params()``, its state kept on the layers
  (``weight_momentums``, ``weight_cache`` …), weights ``(in, out)`` and biases ``(1, out)``.

Both sides get the same parameters and the same gradient stream; after every step the parameters
and every piece of state (mapped to torch's names) are compared.  When they part, the classic bugs
are re-enacted on torch's rule (``VARIANTS``) and the one that reproduces the plug-in's trajectory is
named - the same idea as the gradient catalogue.  Equivalent forms (CS231n's ``v = μv − lr·dw``
momentum, Adam's "efficient" form) are told apart from bugs.

The package: ``styles`` (how each style of learner's optimizer is driven, and resolving a target),
``rules`` (torch.optim's trajectory, and the known bugs re-enacted: on the NumPy twin's optimizer where
the bug is a different ε or lost state, written out only where it changes the formula), ``judge`` (``check`` and the
report) and ``training`` (the learner's optimizer in ``compare``/``train``).
"""

from compare.optimcheck.judge import OptimReport, check, format_report
from compare.optimcheck.rules import VARIANTS, Variant, reference, torch_trajectory
from compare.optimcheck.styles import SHAPES, load
from compare.optimcheck.training import TrainingOptimizer

__all__ = [
    "SHAPES",
    "VARIANTS",
    "OptimReport",
    "TrainingOptimizer",
    "Variant",
    "check",
    "format_report",
    "load",
    "reference",
    "torch_trajectory",
]
