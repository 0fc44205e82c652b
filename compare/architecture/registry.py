"""The registry of layer kinds and the plan of a spec's layers (``compare.architecture`` reads top-down)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Role:
    """What a parameter or buffer is to the judge: its name in reports, and whether L2/L1 penalises it."""

    name: str  # "weight", "bias", "scale", "shift", "running mean", "running var", "count"
    penalised: bool = False


WEIGHT = Role("weight", penalised=True)
BIAS = Role("bias")
SCALE = Role("scale (γ)")
SHIFT = Role("shift (β)")
RUNNING_MEAN = Role("running mean")
RUNNING_VAR = Role("running var")
COUNT = Role("batches counted")


@dataclass(frozen=True)
class Layer:
    """One layer of a planned model: ``name`` as both twins have it (``layer1``, ``norm1``, ``drop1``)."""

    name: str
    kind: LayerKind
    index: int  # the block it belongs to, from 1
    fan_in: int
    fan_out: int  # the features it gives (for norm, activation and dropout: those it takes)
    p: float = 0.0  # dropout's drop probability


@dataclass(frozen=True, eq=False)
class LayerKind:
    """A kind of layer: its slot in the block, the prefix of its layers' names, and its parameters' and
    buffers' roles and shapes (functions of the planned ``Layer``)."""

    name: str  # as in the twins' tables (``NORMS`` …) and the flag's choice (``--norm batchnorm``)
    slot: str  # "affine", "norm", "activation" or "dropout"
    prefix: str  # "layer", "norm", "act", "drop"
    params: dict[str, tuple[Role, Callable[[Layer], tuple[int, ...]]]] = field(default_factory=dict)
    buffers: dict[str, tuple[Role, Callable[[Layer], tuple[int, ...]]]] = field(default_factory=dict)
    conventions: str = ""  # what it means in torch and in learners' courses, for the run's header
    cancels_bias: bool = False  # in training, subtracts the batch mean: the affine bias before it gets gradient 0
    min_rows: int = 1  # rows a training batch needs (batch statistics need 2)
    proof_min_rows: int = 1  # rows a gradient proof needs: with 2, batchnorm's x̂ is ±1 and every gradient below it is 0


KINDS: dict[str, LayerKind] = {}


def features(layer: Layer) -> tuple[int, ...]:
    """The shape of a per-feature parameter or statistic (γ, β, running mean and variance): (F,)."""
    return (layer.fan_out,)


def register(kind: LayerKind) -> LayerKind:
    if kind.name in KINDS and KINDS[kind.name] is not kind:
        raise ValueError(f"layer kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """For tests that add a kind of their own."""
    KINDS.pop(name, None)


def choices(slot: str) -> tuple[str, ...]:
    """The registered kinds of one slot (``--norm``'s choices are those of "norm")."""
    return tuple(k.name for k in KINDS.values() if k.slot == slot)


def plan(spec) -> tuple[Layer, ...]:
    """The spec's layers in the forward's order: CS231n's {affine - [norm] - activation - [dropout]} ×
    hidden - affine, named as both twins name them.  The one place this list is built."""
    sizes = [spec.in_features, *spec.hidden, spec.out_features]
    norm = getattr(spec, "norm", "none")
    p = float(getattr(spec, "dropout", 0.0) or 0.0)
    out: list[Layer] = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        out.append(Layer(affine_name(k), KINDS["linear"], k, fan_in, fan_out))
        if k == len(sizes) - 1:
            break
        block = [KINDS[norm]] if norm != "none" else []
        block.append(KINDS[spec.activation])
        block += [KINDS["dropout"]] if p else []
        out += [Layer(f"{kind.prefix}{k}", kind, k, fan_out, fan_out, p) for kind in block]
    return tuple(out)


@dataclass(frozen=True)
class Entry:
    """A parameter or buffer of a planned model: ``layer1.weight`` (O, I), a weight of ``layer1``."""

    name: str
    shape: tuple[int, ...]
    role: Role
    layer: Layer


def parameters(spec) -> list[Entry]:
    """Every parameter of the spec's model, in the twins' ``named_parameters()`` order."""
    return [
        Entry(f"{layer.name}.{key}", shape(layer), role, layer)
        for layer in plan(spec)
        for key, (role, shape) in layer.kind.params.items()
    ]


def buffers(spec) -> list[Entry]:
    """Every buffer (running statistics), in the twins' ``named_buffers()`` order."""
    return [
        Entry(f"{layer.name}.{key}", shape(layer), role, layer)
        for layer in plan(spec)
        for key, (role, shape) in layer.kind.buffers.items()
    ]


def penalised(spec) -> list[str]:
    """The parameters the run's L2/L1 penalises (the affine weights: never biases, γ or β)."""
    return [e.name for e in parameters(spec) if e.role.penalised]


def role_of(spec, name: str) -> Role | None:
    for e in parameters(spec) + buffers(spec):
        if e.name == name:
            return e.role
    return None


def check_rows(spec, rows: int, what: str, proof: bool = False) -> None:
    """A training batch of ``rows`` must be one every layer can take (batchnorm's statistics need 2 rows); a
    gradient proof's, one whose gradients are not 0 in exact arithmetic (batchnorm's need 3)."""
    from compare.errors import ConfigError

    for layer in plan(spec):
        if proof and rows < layer.kind.proof_min_rows and rows >= layer.kind.min_rows:
            raise ConfigError(
                f"{what} has {rows} rows, and with {rows} rows {layer.kind.name}'s normalised values are ±1: every "
                f"gradient below it is 0 in exact arithmetic, rounding noise on both sides, nothing to compare; give "
                f"--batch-size {layer.kind.proof_min_rows} or more"
            )
        if rows < layer.kind.min_rows:
            raise ConfigError(
                f"{what} has {rows} row{'s' * (rows != 1)}, and {layer.kind.name} normalises over the batch: "
                f"training needs at least {layer.kind.min_rows} (as torch's BatchNorm1d refuses fewer)"
            )


def check_shards(spec, processes: int) -> None:
    """Batch statistics are the whole batch's: under DDP each process would normalise its shard alone."""
    from compare.errors import ConfigError

    if processes > 1:
        for layer in plan(spec):
            if layer.kind.min_rows > 1:
                raise ConfigError(
                    f"--nproc {processes} with {layer.kind.name}: each process would normalise its own shard of "
                    "the batch, not the batch; run it in one process (torch's SyncBatchNorm is not judged here)"
                )


def conventions(spec) -> list[str]:
    """The header's lines on what the spec's layer kinds mean (torch's conventions and the courses')."""
    seen, out = set(), []
    for layer in plan(spec):
        if layer.kind.conventions and layer.kind.name not in seen:
            seen.add(layer.kind.name)
            out.append(layer.kind.conventions.format(p=layer.p))
    return out


# --- the affine layers by number: the names every diagnosis and picture of a plain net reads --------
def affine_name(k: int) -> str:
    return f"{KINDS['linear'].prefix}{k}"


def affine_weight(k: int) -> str:
    return f"{affine_name(k)}.weight"


def affine_bias(k: int) -> str:
    return f"{affine_name(k)}.bias"


def affine_count(names) -> int:
    """How many affine layers a set of parameter names (torch's) holds."""
    count = 0
    while affine_weight(count + 1) in names:
        count += 1
    return count
