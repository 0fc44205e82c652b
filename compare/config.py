"""One frozen description of a model and a run, read by both twins and saved with every run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from compare.datasets import DATASETS
from compare.errors import ConfigError
from manual import layers as _layers
from manual import optim as _optim

# The choices come from the twins' registries (manual/layers.py, manual/optim.py, mirrored name by name
# in torch_impl/; tests/test_optim.py and test_layers.py hold the mirrors equal) and compare/datasets.py.
DTYPES = ("float32", "float64")
ACTIVATIONS = tuple(_layers.ACTIVATIONS)
LOSSES = tuple(_layers.LOSSES)
OUTPUT_ACTIVATIONS = ("none", *_layers.OUTPUT_ACTIVATIONS)
SCHEDULES = ("none", "step", "cosine")
DATASET_NAMES = tuple(DATASETS)


def optimizer_names() -> tuple[str, ...]:
    """The optimizers the twins register (read when asked: a registry entry is all a new one needs)."""
    return tuple(_optim.OPTIMIZERS)


DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-2, "adagrad": 1e-2}
DEFAULT_WEIGHT_DECAY = {"sgd": 0.0, "adam": 0.0, "adamw": 1e-2, "rmsprop": 0.0, "adagrad": 0.0}  # torch.optim's
DEFAULT_MOMENTUM = {"sgd": 0.9, "rmsprop": 0.0}  # sgd: this project's recipe; rmsprop: torch's
DEFAULT_EPS = {"adam": 1e-8, "adamw": 1e-8, "rmsprop": 1e-8, "adagrad": 1e-10, "sgd": 1e-8}  # torch.optim's


def state_buffers(optimizer: str, *, momentum: float = 0.0, amsgrad: bool = False, centered: bool = False) -> int:
    """Arrays of optimizer state per parameter (for the memory estimate), as the twins' registry says
    torch.optim keeps them."""
    return _optim.OPTIMIZERS[optimizer].state(dict(momentum=momentum, amsgrad=amsgrad, centered=centered))


MODEL_FIELDS = ("hidden", "activation", "in_features", "out_features", "loss", "output_activation", "norm", "dropout")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture: in_features → hidden… → out_features, ``activation`` after each hidden layer."""

    hidden: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    in_features: int = 784
    out_features: int = 10
    loss: str = "cross-entropy"  # "mse": torch.nn.MSELoss on one-hot targets; "quadratic": Nielsen's ½·Σ_k, = C/2 × mse
    output_activation: str = "none"  # applied to the last layer's output: none (logits), sigmoid, softmax
    norm: str = "none"  # after each hidden affine layer: none, batchnorm, layernorm (compare.architecture)
    dropout: float = 0.0  # after each hidden activation: the probability of DROPPING a unit (torch's p)

    def __post_init__(self):
        from compare import architecture

        norms = ("none", *architecture.choices("norm"))
        if self.norm not in norms:
            raise ConfigError(f"--norm {self.norm!r} is unknown; choose one of {', '.join(norms)}")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ConfigError(
                f"--dropout {self.dropout!r}: the probability of dropping a unit must be in [0, 1) "
                "(torch's p; CS231n's dropout_keep_ratio 0.8 is --dropout 0.2)"
            )
        if (self.norm != "none" or self.dropout) and not self.hidden:
            raise ConfigError(f"--norm/--dropout act on hidden layers, and --hidden {self.hidden_text()} has none")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"--activation {self.activation!r} is unknown; choose one of {', '.join(ACTIVATIONS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"--loss {self.loss!r} is unknown; choose one of {', '.join(LOSSES)}")
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise ConfigError(
                f"--output-activation {self.output_activation!r} is unknown; choose one of "
                f"{', '.join(OUTPUT_ACTIVATIONS)}"
            )
        if any(int(h) < 1 for h in self.hidden):
            raise ConfigError(f"--hidden {self.hidden_text()}: every layer needs at least 1 unit")

    @classmethod
    def parse_hidden(cls, text: str) -> tuple[int, ...]:
        """'128,64' → (128, 64); '' or 'none' → () (softmax regression)."""
        text = text.strip()
        if text.lower() in ("", "none"):
            return ()
        try:
            sizes = tuple(int(part) for part in text.split(","))
        except ValueError:
            raise ConfigError(
                f"--hidden {text!r} is malformed; give comma-separated sizes such as 128,64 "
                "(or 'none' for no hidden layer)"
            ) from None
        if any(s < 1 for s in sizes):
            raise ConfigError(f"--hidden {text!r}: every layer needs at least 1 unit")
        return sizes

    def hidden_text(self) -> str:
        return ",".join(map(str, self.hidden)) or "none"

    @classmethod
    def from_values(cls, values: dict, base: ModelSpec | None = None) -> ModelSpec:
        """The one door from option values to a spec (the CLI's parsed flags and the Python API's
        arguments alike): ``hidden`` as text ('128,64') or sizes; a missing or None value keeps ``base``'s
        (the defaults when none)."""
        base = base or cls()
        given = {k: v for k, v in values.items() if k in MODEL_FIELDS and v is not None}
        if isinstance(given.get("hidden"), str):
            given["hidden"] = cls.parse_hidden(given["hidden"])
        elif "hidden" in given:
            given["hidden"] = tuple(int(h) for h in given["hidden"])
        if "dropout" in given:
            given["dropout"] = float(given["dropout"])
        return dataclasses.replace(base, **given)

    def kwargs(self) -> dict:
        """Keyword arguments for either twin's ``SimpleNet``."""
        return dict(
            in_features=self.in_features,
            hidden=tuple(self.hidden),
            out_features=self.out_features,
            activation=self.activation,
            output_activation=self.output_activation,
            norm=self.norm,
            dropout=self.dropout,
        )

    @property
    def layers(self):
        """The model's layers in the forward's order (``compare.architecture.plan``)."""
        from compare import architecture

        return architecture.plan(self)

    @property
    def reenactable(self) -> bool:
        """What ``compare.catalogue`` re-enacts: the plain objective through affine layers and activations."""
        return self.plain and not self.stochastic

    @property
    def stochastic(self) -> bool:
        """Layers whose training forward depends on the batch as a whole or on random draws: a plain net's
        re-enactments (``compare.catalogue``) do not describe it."""
        return self.norm != "none" or bool(self.dropout)

    @property
    def plain(self) -> bool:
        """SimpleNet's own objective: logits out, softmax cross-entropy."""
        return self.loss == "cross-entropy" and self.output_activation == "none"

    def describe(self) -> str:
        text = " → ".join(map(str, (self.in_features, *self.hidden, self.out_features))) + f" ({self.activation})"
        if self.norm != "none":
            text += f", {self.norm}"
        if self.dropout:
            text += f", dropout p={self.dropout:g}"
        if not self.plain:
            text += f", {self.output_activation} outputs, {self.loss} loss"
        return text


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's numbers (the device is not among them)."""

    spec: ModelSpec = field(default_factory=ModelSpec)
    epochs: int = 15
    batch_size: int = 64
    lr: float | None = None  # None: the optimizer's default, DEFAULT_LR
    optimizer: str = "sgd"
    momentum: float | None = None  # None: DEFAULT_MOMENTUM (0.9 for sgd, torch's 0 for rmsprop)
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float | None = None  # None: the optimizer's torch default, DEFAULT_WEIGHT_DECAY
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float | None = None  # None: the optimizer's torch default, DEFAULT_EPS
    amsgrad: bool = False
    alpha: float = 0.99  # rmsprop's smoothing constant
    centered: bool = False  # rmsprop
    lr_decay: float = 0.0  # adagrad
    initial_accumulator_value: float = 0.0  # adagrad
    l2: float = 0.0  # ½·λ·ΣW² in the loss, weights only (CS231n's reg); not weight_decay
    l1: float = 0.0  # λ·Σ|W| in the loss, weights only (the nnfs book's L1)
    schedule: str = "cosine"
    step_size: int = 5
    gamma: float = 0.1
    seed: int = 0
    dtype: str = "float32"
    eval_batch_size: int = 10000
    dataset: str = "mnist"

    def __post_init__(self):
        if self.lr is None and self.optimizer in DEFAULT_LR:
            object.__setattr__(self, "lr", DEFAULT_LR[self.optimizer])
        if self.weight_decay is None:
            object.__setattr__(self, "weight_decay", DEFAULT_WEIGHT_DECAY.get(self.optimizer, 0.0))
        if self.momentum is None:
            object.__setattr__(self, "momentum", DEFAULT_MOMENTUM.get(self.optimizer, 0.0))
        if self.eps is None:
            object.__setattr__(self, "eps", DEFAULT_EPS.get(self.optimizer, 1e-8))
        checks = [
            (self.epochs >= 0, f"--epochs {self.epochs} must be 0 or more"),
            (self.batch_size >= 1, f"--batch-size {self.batch_size} must be at least 1"),
            (
                self.optimizer in optimizer_names(),
                f"--optimizer {self.optimizer!r} is unknown; choose one of {', '.join(optimizer_names())}",
            ),
            (
                self.lr is not None and math.isfinite(self.lr) and self.lr > 0,
                f"--lr {self.lr} must be a positive number",
            ),
            (0 <= self.momentum, f"--momentum {self.momentum} must be 0 or more"),
            (
                self.weight_decay is not None and self.weight_decay >= 0,
                f"--weight-decay {self.weight_decay} must be 0 or more",
            ),
            (
                not self.nesterov or (self.momentum > 0 and self.dampening == 0),
                "--nesterov needs --momentum > 0 and --dampening 0 (as torch.optim.SGD)",
            ),
            (all(0 <= b < 1 for b in self.betas), f"--betas {self.betas} must each lie in [0, 1)"),
            (self.eps > 0, f"--eps {self.eps} must be positive"),
            (0 <= self.alpha < 1, f"--alpha {self.alpha} must lie in [0, 1)"),
            (self.lr_decay >= 0, f"--lr-decay {self.lr_decay} must be 0 or more"),
            (self.l2 >= 0 and self.l1 >= 0, f"--l2 {self.l2} and --l1 {self.l1} must be 0 or more"),
            (
                self.initial_accumulator_value >= 0,
                f"--initial-accumulator-value {self.initial_accumulator_value} must be 0 or more",
            ),
            (
                self.schedule in SCHEDULES,
                f"--schedule {self.schedule!r} is unknown; choose one of {', '.join(SCHEDULES)}",
            ),
            (self.step_size >= 1, f"--step-size {self.step_size} must be at least 1"),
            (self.gamma > 0, f"--gamma {self.gamma} must be positive"),
            (self.dtype in DTYPES, f"--dtype {self.dtype!r} is unknown; choose float32 or float64"),
            (
                self.dataset in DATASET_NAMES,
                f"--dataset {self.dataset!r} is unknown; choose one of {', '.join(DATASET_NAMES)}",
            ),
            (self.eval_batch_size >= 1, f"--eval-batch-size {self.eval_batch_size} must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def optimizer_kwargs(self) -> dict:
        """Both twins' ``make_optimizer`` arguments (each takes those its optimizer has)."""
        return dict(
            lr=self.lr,
            momentum=self.momentum,
            dampening=self.dampening,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
            betas=self.betas,
            eps=self.eps,
            amsgrad=self.amsgrad,
            alpha=self.alpha,
            centered=self.centered,
            lr_decay=self.lr_decay,
            initial_accumulator_value=self.initial_accumulator_value,
        )

    def scheduler_kwargs(self) -> dict:
        """Both twins' ``make_scheduler`` arguments."""
        return dict(epochs=self.epochs, step_size=self.step_size, gamma=self.gamma)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["spec"]["hidden"] = list(self.spec.hidden)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        spec = dict(d.pop("spec"))
        spec["hidden"] = tuple(spec["hidden"])
        d["betas"] = tuple(d["betas"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(spec=ModelSpec(**spec), **{k: v for k, v in d.items() if k in known})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
