"""The model's layers, in one registry: what each layer kind is, and the list of layers a spec has.

A layer kind (``LayerKind``, one module each here) says which slot of CS231n's block it fills
({affine - [norm] - activation - [dropout]} × hidden - affine), the name its twins' modules have in the
twins' tables (``manual/layers.py`` and ``torch_impl/layers.py``, mirrored name by name), and the role of
each of its parameters and buffers: weight, bias, scale, shift, running statistic.  A role says whether
the run's L2/L1 penalises it.

``plan(spec)`` is the one place the list of layers is built; everything that needs names, shapes or roles
(the plug-in protocol's slots, the penalty, checkpoints, pictures, the diagnoses) reads it from here and
never from a name's suffix.

A new layer kind is three files: its NumPy module in ``manual/layers.py``, its torch one in
``torch_impl/layers.py`` (each entered in that file's table for the slot), and its record here
(``tests/test_architecture.py`` adds a toy kind that way and sees it proven against autograd).
"""

from __future__ import annotations

from compare.architecture import activation, affine, batchnorm, dropout, layernorm  # noqa: F401  (they register)
from compare.architecture.registry import (
    KINDS,
    Entry,
    Layer,
    LayerKind,
    Role,
    affine_bias,
    affine_count,
    affine_name,
    affine_weight,
    buffers,
    check_rows,
    check_shards,
    choices,
    conventions,
    parameters,
    penalised,
    plan,
    register,
    role_of,
)

__all__ = [
    "KINDS",
    "Entry",
    "Layer",
    "LayerKind",
    "Role",
    "affine_bias",
    "affine_count",
    "affine_name",
    "affine_weight",
    "buffers",
    "check_rows",
    "check_shards",
    "choices",
    "conventions",
    "parameters",
    "penalised",
    "plan",
    "register",
    "role_of",
]
