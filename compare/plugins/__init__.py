"""The plug-in protocol: how the judge talks to ANY hand-written implementation.

The judge (gradcheck, compare, train, overfit) never touches an implementation directly; it
goes through an ``Implementation`` adapter, which offers exactly four things:

* ``params``: torch's names (``layer1.weight`` …) → a ``manual.Parameter`` whose ``data`` is a
  *view* of the implementation's own array in torch's ``(out, in)`` layout, so an optimizer
  from ``manual/optim.py`` updates the implementation's arrays in place;
* ``load_state(state)``: put the harness's initial weights (torch layout) into the
  implementation's own arrays, whatever init it did;
* ``forward(x)``: logits ``(N, classes)``;
* ``compute_gradients(x, y)``: the mean softmax cross-entropy of the batch, its logits, and every
  parameter's gradient stored in ``params[name].grad`` (torch layout).

One adapter per *convention* maps names and layouts explicitly and says so (``mapping()``):

* ``ours``: the interface of ``manual.SimpleNet`` (``named_parameters()`` of objects with
  ``.data``/``.grad``, ``__call__(x)`` → logits, ``backward(dL/dlogits)``, ``zero_grad()``), torch
  names and layout; an optional ``criterion`` attribute (``forward(logits, y)`` → loss,
  ``backward()`` → dL/dlogits), else the harness's NumPy softmax cross-entropy;
* ``cs231n``: a ``params`` dict ``W1, b1, …`` with W of shape (in, out) and ``loss(X, y)`` →
  ``(loss, grads)`` (scores when ``y`` is None);
* ``layers``: a list of layer objects (or an object with a ``layers`` list) in the Neural Networks
  from Scratch style: dense layers with ``weights`` (in, out) and ``biases`` (1, out),
  ``forward(inputs)`` setting ``.output`` and ``backward(dvalues)`` setting ``.dweights``,
  ``.dbiases``, ``.dinputs``; a trailing loss object of that book's style is used, else the
  harness supplies the softmax cross-entropy and its gradient (p − onehot)/N;
* ``sklearn``: scikit-learn's ``MLPClassifier`` through its own ``_forward_pass`` and ``_backprop``.

Our own twin (``--manual manual``, the default) is loaded by the same loader through the ``ours``
adapter: the judge has no other way in.  docs/plugins.md is the user's guide.

The package: ``protocol`` (the adapter base, the registry, calling someone else's code), ``loader``
(target → factory → adapter) and ``conventions/`` (one module per convention, each registering
itself).
"""

from __future__ import annotations

from compare.plugins.loader import (
    DEFAULT_TARGET,
    Factory,
    argument_names,
    call_factory,
    detect,
    load,
    resolve_factory,
    resolve_module,
)
from compare.plugins.protocol import (
    WRONG_VERDICT,
    Gradients,
    Implementation,
    PluginError,
    Slot,
    accepts,
    adapters,
    aliases,
    call_learner,
    check_finite,
    convention_names,
    read_only,
    register,
    short,
    user_code,
    where,
)

__all__ = [
    "DEFAULT_TARGET",
    "WRONG_VERDICT",
    "Factory",
    "Gradients",
    "Implementation",
    "PluginError",
    "Slot",
    "accepts",
    "adapters",
    "aliases",
    "argument_names",
    "call_factory",
    "call_learner",
    "check_finite",
    "convention_names",
    "detect",
    "load",
    "read_only",
    "register",
    "resolve_factory",
    "resolve_module",
    "short",
    "user_code",
    "where",
]
