"""What a command is told, as data: the run's options (a frozen record the CLI fills and the library
reads) and the tables of flags the CLI builds its parser from.  Nothing here knows argparse: a flag's
``kind`` names one of the value parsers in ``KINDS``, which raise ``BadValue``."""

from __future__ import annotations

from dataclasses import dataclass, field

from compare.architecture.flags import model_flags
from compare.flags import KINDS, BadValue, Flag  # noqa: F401  (the flags' own module; re-exported)


def check_arguments(command: str, function: str, values: dict, required: tuple[str, ...] = ()) -> None:
    """The Python API's arguments through the CLI's own rules: each value whose name is a flag of
    ``command`` is checked by that flag's parser and choices, so ``compare_training(epochs=0)`` is refused
    as ``--epochs 0`` is, in the same words, as a ``ConfigError`` naming the argument.  None is the
    default, except for the names in ``required``."""
    from compare.errors import ConfigError

    flags = {f.dest: f for c in commands() if c.name == command for f in c.flags}
    for name, value in values.items():
        if value is None and name in required:
            raise ConfigError(f"{function}: {name}=None: give a value (its default is the function's own)")
        f = flags.get(name)
        if f is None or value is None or f.kind in ("switch", "maybe"):
            continue
        try:
            check_value(f, value)
        except BadValue as e:
            raise ConfigError(f"{function}: {name}={value!r}: {e}") from None


def check_value(f: Flag, value) -> None:
    """``value`` (a Python value, not text) as the flag ``f``'s parser and choices would judge it."""
    import numbers
    import os

    parse = KINDS[f.kind]
    if f.dest == "hidden" and isinstance(value, (list, tuple)):  # the API's (128, 64); ModelSpec checks sizes
        return
    if f.kind == "betas":
        if isinstance(value, str):
            parse(value)
            return
        try:
            b1, b2 = value
        except (TypeError, ValueError):
            raise BadValue("give two numbers, e.g. (0.9, 0.999)") from None
        for v in (b1, b2):
            check_value(Flag(f.flag, f.dest, "nonneg", ""), v)
        return
    if f.kind in ("text", "path", "name"):
        if f.kind == "path" and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise BadValue(f"a {type(value).__name__}, not a string")
        parse(value)
    else:
        wants_int = getattr(parse, "__name__", "") == "int"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise BadValue(f"a {type(value).__name__}, not {'an integer' if wants_int else 'a number'}")
        if wants_int and not isinstance(value, numbers.Integral):
            raise BadValue("not an integer")
        parse(str(int(value) if wants_int else float(value)))
    if f.choices and value not in f.choices:
        raise BadValue(f"choose from {', '.join(map(str, f.choices))}")


@dataclass(frozen=True)
class RunOptions:
    """How a training run is carried out, apart from the training itself (``TrainConfig``): where it
    writes, how it resumes and logs, the device, the data and the hand-written implementation."""

    logdir: str = "runs"
    experiment: str | None = None
    checkpoint_dir: str | None = None
    resume: str | None = None
    log_every: int = 50
    quiet: bool = False
    progress: bool | None = None  # a progress bar; None: on a terminal unless quiet
    images: bool = True
    stop_grace: float = 5.0
    step_timeout: float | None = None
    device: str = "auto"
    data_dir: str | None = None
    download: bool = True
    manual: str | None = None  # --manual TARGET; None: ours (or the checkpoint's)
    convention: str = "auto"
    plugin_optimizer: str | None = None
    overrides: dict = field(default_factory=dict)  # TrainConfig fields the user set
    within: str | None = None  # the experiment this run is one of (a sweep's): named in its dashboard


# TrainConfig's fields, in --help's order; the default shown is the config's (or the text given here).
CONFIG_FLAGS = (
    Flag("--epochs", "epochs", "positive", "passes over the training set"),
    Flag("--batch-size", "batch_size", "positive", "examples per step"),
    Flag("--lr", "lr", "above0", "learning rate"),
    Flag("--optimizer", "optimizer", "text", "{optimizers}"),
    Flag("--momentum", "momentum", "nonneg", "momentum (sgd, rmsprop)"),
    Flag("--dampening", "dampening", "nonneg", "SGD dampening"),
    Flag("--weight-decay", "weight_decay", "nonneg", "L2 (sgd, adam) or decoupled (adamw) weight decay"),
    Flag("--eps", "eps", "nonneg", "epsilon (adam, adamw, rmsprop, adagrad)"),
    Flag("--alpha", "alpha", "nonneg", "RMSprop smoothing constant"),
    Flag("--lr-decay", "lr_decay", "nonneg", "Adagrad learning-rate decay"),
    Flag("--initial-accumulator-value", "initial_accumulator_value", "nonneg", "Adagrad's initial sum of squares"),
    Flag("--schedule", "schedule", "text", "learning-rate schedule per epoch: none, step or cosine"),
    Flag("--step-size", "step_size", "positive", "epochs between decays for --schedule step"),
    Flag("--gamma", "gamma", "above0", "decay factor for --schedule step"),
    Flag("--seed", "seed", "seed", "seeds the initial weights and the batch order"),
    Flag("--dtype", "dtype", "text", "float32 or float64"),
    Flag("--eval-batch-size", "eval_batch_size", "positive", "batch size for evaluation"),
    Flag(
        "--l2",
        "l2",
        "nonneg",
        "L2 regularization in the loss, ½·λ·ΣW² over the weights only (CS231n's reg; "
        "not --weight-decay, which the optimizer applies)",
    ),
    Flag("--l1", "l1", "nonneg", "L1 regularization in the loss, λ·Σ|W| over the weights only (the nnfs book's)"),
    Flag("--betas", "betas", "betas", "Adam betas"),
    Flag("--nesterov", "nesterov", "maybe", "Nesterov momentum (SGD)"),
    Flag("--amsgrad", "amsgrad", "maybe", "AMSGrad (adam, adamw)"),
    Flag("--centered", "centered", "maybe", "centered RMSprop"),
)
# defaults that depend on the optimizer, as torch.optim has them (compare.config.OPTIMIZER_DEFAULTS)
SHOWN_DEFAULTS = {
    "lr": "{lrs}",
    "weight_decay": "0, but 0.01 for adamw (torch.optim's)",
    "momentum": "0.9 for sgd, 0 for rmsprop (torch's)",
    "eps": "1e-8, but 1e-10 for adagrad (torch.optim's)",
    "betas": "0.9,0.999",
}

# RunOptions' fields (train, compare, sweep, overfit leave some out)
RUN_FLAGS = (
    Flag("--logdir", "logdir", "path", "TensorBoard root; each run gets its own experiment directory", "runs"),
    Flag(
        "--experiment", "experiment", "name", "experiment name (default: {command}-<timestamp>; numbered if it exists)"
    ),
    Flag("--checkpoint-dir", "checkpoint_dir", "path", "where checkpoints go (default: <experiment>/checkpoints)"),
    Flag(
        "--resume",
        "resume",
        "path",
        "continue from a checkpoint (a ckpt-… directory, or the directory holding them)",
        metavar="PATH_OR_DIR",
    ),
    Flag("--log-every", "log_every", "positive", "steps between reads of the loss back to the host", 50),
    Flag(
        "--stop-grace",
        "stop_grace",
        "nonneg",
        "after SIGINT/SIGTERM, seconds a step may still take before it is "
        "abandoned (a hung plug-in); the run then ends with exit 130/143",
        5.0,
        "S",
    ),
    Flag(
        "--step-timeout",
        "step_timeout",
        "above0",
        "abandon any step that runs longer than S seconds, exit 4 (default: off)",
        None,
        "S",
    ),
    Flag("--quiet", "quiet", "switch", "no progress bars or per-epoch lines"),
    Flag("--no-images", "no_images", "switch", "no pictures in TensorBoard (weights, confusion matrices, mistakes)"),
)

GRADCHECK_FLAGS = (
    Flag("--dtype", "dtype", "text", "", "float64", choices=("float32", "float64")),
    Flag("--batch-size", "batch_size", "positive", "examples in the batch", 64),
    Flag("--seed", "seed", "seed", "seeds the initial weights and the batch draw", 0),
)
GRADCHECK_CHECK_FLAGS = (
    Flag("--random-data", "random_data", "switch", "use random inputs instead of MNIST"),
    Flag(
        "--l2",
        "l2",
        "nonneg",
        "L2 regularization ½·λ·ΣW² in the loss (weights only; a factory taking reg or l2 gets it)",
        0.0,
    ),
    Flag("--l1", "l1", "nonneg", "L1 regularization λ·Σ|W| in the loss (weights only)", 0.0),
    Flag("--fd", "fd", "switch", "also check both twins against finite differences (three-way)"),
    Flag("--fd-samples", "fd_samples", "positive", "coordinates per parameter for --fd", 16),
    Flag("--fd-all", "fd_all", "switch", "finite differences on every coordinate (slow)"),
)
OPTIMCHECK_FLAGS = (
    Flag("--steps", "steps", "positive", "steps to compare", 50),
    Flag("--dtype", "dtype", "text", "", "float64", choices=("float32", "float64")),
    Flag("--seed", "seed", "seed", "seeds the parameters and the gradient stream", 0),
    Flag("--lr", "lr", "above0", "learning rate given to both (default: the plug-in's own default)"),
    Flag("--momentum", "momentum", "nonneg", "momentum given to both (sgd_momentum)"),
    Flag("--alpha", "alpha", "nonneg", "RMSprop decay rate given to both"),
    Flag("--eps", "eps", "nonneg", "epsilon given to both"),
    Flag("--betas", "betas", "betas", "Adam betas given to both"),
    Flag("--json", "json", "path", "also write the report to this JSON file"),
    Flag("--traceback", "traceback", "switch", "show the plug-in's traceback on an error"),
)
BENCH_FLAGS = (
    Flag("--batch-sizes", "batch_sizes", "text", "batch sizes to time, comma-separated", "64,256"),
    Flag("--dtypes", "dtypes", "text", "dtypes to time, comma-separated", "float32,float64"),
    Flag(
        "--repeats",
        "repeats",
        "positive",
        "timed rounds, one epoch per figure each (min and median shown); an even "
        "number puts each twin before and after its plain loop equally often",
        4,
    ),
    Flag("--device", "device", "text", "torch twin's device: auto, cpu, cuda or mps", "cpu"),
    Flag("--no-baseline", "no_baseline", "switch", "skip the slow DataLoader + ToTensor baseline"),
    Flag(
        "--grade",
        "grade",
        "positive",
        "time only `simplenet grade` on a synthetic class of N submissions against one command per check",
        metavar="N",
    ),
    Flag(
        "--nproc",
        "nprocs",
        "text",
        "also time train --impl torch under DDP with these process counts, e.g. 1,2 "
        "(epoch time and one step's all-reduce)",
        metavar="N,M",
    ),
    Flag(
        "--no-startup",
        "no_startup",
        "switch",
        "skip timing whole default commands (gradcheck, train, compare; about two minutes)",
    ),
)
MANUAL_HELP = (
    "the hand-written implementation to judge: manual (ours), sklearn, MODULE:FACTORY or "
    "path/to/file.py:FACTORY (docs/plugins.md; default: {default})"
)
DATA_DIR_HELP = (
    "data root (DIR/MNIST/raw/, DIR/FashionMNIST/raw/, DIR/KMNIST/raw/ or a flat DIR of the four files, "
    "raw or .gz); default: $SIMPLENET_DATA, else ./data (downloaded there if missing)"
)
PLUGIN_OPTIMIZER_HELP = (
    "update the hand-written side with your own optimizer (a cs231n rule such as optim.py:adam, "
    "or an nnfs optimizer class), judged against torch.optim's --optimizer; needs --schedule "
    "none"
)
NPROC_HELP = (
    "run the torch twin in N processes under torch's DistributedDataParallel, launched by "
    "torch.distributed.run (gloo on CPU, NCCL on CUDA; default: 1, one process)"
)


def spelled(names) -> str:
    """'a', 'a or b', 'a, b or c'."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def registry_text(text: str) -> str:
    """Help text with the registries filled in: the optimizers and their default learning rates."""
    from compare.config import DEFAULT_LR, optimizer_names

    by_lr: dict[float, list[str]] = {}
    for name in optimizer_names():
        by_lr.setdefault(DEFAULT_LR[name], []).append(name)
    lrs = ", ".join(f"{lr:g} for {' and '.join(names)}" for lr, names in by_lr.items())
    return text.replace("{optimizers}", spelled(optimizer_names())).replace("{lrs}", lrs)


def run_options(values: dict) -> RunOptions:
    """RunOptions from a command's parsed values (a flag a command does not have keeps its default)."""
    given = {k: values[k] for k in RunOptions.__dataclass_fields__ if values.get(k) is not None}
    if values.get("no_images"):
        given["images"] = False
    if values.get("no_download"):
        given["download"] = False
    return RunOptions(**given)


def config_overrides(values: dict) -> dict:
    """The TrainConfig fields a command's parsed values set explicitly (None: not given)."""
    from compare.config import MODEL_FIELDS, ModelSpec

    given = {f.dest: values.get(f.dest) for f in CONFIG_FLAGS}
    given["dataset"] = values.get("dataset")
    given = {k: v for k, v in given.items() if v is not None}
    model = {k: values.get(k) for k in MODEL_FIELDS}
    if any(v is not None for v in model.values()):
        given["spec"] = ModelSpec.from_values(model)
    return given


# --- the commands' flags --------------------------------------------------------------------
JSON = Flag("--json", "json", "path", "also write the results to this JSON file")
DEVICE_HELP = "torch twin's device: auto, cpu, cuda or mps"


def data_flags(dataset_default: str | None = "mnist") -> tuple[Flag, ...]:
    shown = "mnist; on --resume, the checkpoint's" if dataset_default is None else dataset_default
    return (
        Flag(
            "--dataset",
            "dataset",
            "text",
            f"which of the MNIST family (default: {shown})",
            dataset_default,
            choices=tuple(_dataset_names()),
        ),
        Flag("--data-dir", "data_dir", "path", DATA_DIR_HELP),
        Flag("--no-download", "no_download", "switch", "never fetch the data; fail if it is missing"),
    )


def plugin_flags(default_shown: str = "manual") -> tuple[Flag, ...]:
    from compare.plugins import convention_names

    return (
        Flag("--manual", "manual", "text", MANUAL_HELP.format(default=default_shown), metavar="TARGET"),
        Flag(
            "--convention",
            "convention",
            "text",
            "how the plug-in's names and layouts map to torch's (default: auto, detected)",
            "auto",
            choices=("auto", *convention_names()),
        ),
        Flag(
            "--traceback",
            "traceback",
            "switch",
            "on a plug-in error, show the full Python traceback (for debugging a plug-in)",
        ),
    )


NPROC_FLAGS = (
    Flag("--nproc", "nproc", "positive", NPROC_HELP, 1, metavar="N"),
    Flag(
        "--force",
        "force",
        "switch",
        "allow --nproc above this machine's core count on the CPU (slow: they share cores)",
    ),
)


def train_flags(command: str, exclude: tuple[str, ...] = (), defaults: dict | None = None) -> tuple[Flag, ...]:
    """Every config flag, plus the run flags; ``exclude`` leaves some out (``unset`` gives their values),
    ``defaults`` sets this command's own defaults for some config fields."""
    from compare.config import TrainConfig

    defaults = defaults or {}
    shown = TrainConfig(**defaults)
    flags = [
        f.but(
            default=defaults.get(f.dest),
            help=registry_text(
                f.help
                if f.kind == "maybe"
                else f"{f.help} (default: {SHOWN_DEFAULTS.get(f.dest, getattr(shown, f.dest))})"
            ),
        )
        for f in CONFIG_FLAGS
        if f.flag not in exclude
    ]
    flags += [
        *model_flags(False),
        Flag("--device", "device", "text", f"{DEVICE_HELP} (auto: cuda, then mps, then cpu)", "auto"),
        *data_flags(None),
    ]
    flags += [f.but(help=f.help.replace("{command}", command)) for f in RUN_FLAGS if f.flag not in exclude]
    return (
        *flags,
        JSON,
        *plugin_flags("manual; on --resume, the checkpoint's"),
        Flag("--plugin-optimizer", "plugin_optimizer", "text", PLUGIN_OPTIMIZER_HELP, metavar="FILE_OR_MODULE:NAME"),
    )


def unset(exclude: tuple[str, ...], defaults: dict | None = None) -> dict:
    """The values of the flags a command leaves out: unset, or this command's own default."""
    return {f.dest: (defaults or {}).get(f.dest) for f in CONFIG_FLAGS + RUN_FLAGS if f.flag in exclude}


def _dataset_names():
    from compare.datasets import DATASETS

    return DATASETS


OVERFIT_LEAVES_OUT = (
    "--epochs",
    "--schedule",
    "--step-size",
    "--gamma",
    "--eval-batch-size",
    "--logdir",
    "--experiment",
    "--checkpoint-dir",
    "--resume",
    "--log-every",
    "--quiet",
    "--no-images",
)
OVERFIT_DEFAULTS = {"batch_size": 16, "schedule": "none"}
SWEEP_LEAVES_OUT, SWEEP_DEFAULTS = ("--lr", "--resume", "--checkpoint-dir"), {"epochs": 1}


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    flags: tuple[Flag, ...]
    defaults_shown: bool = False  # --help appends each flag's default
    unset: dict = field(default_factory=dict)


def commands() -> list[Command]:
    """Every subcommand of ``simplenet``, its help and its flags, in --help's order."""
    from compare.faults import FAULTS

    impl = Flag("--impl", "impl", "text", "which twin (default: {default})", choices=("manual", "torch", "both"))
    return [
        Command(
            "gradcheck",
            "compare both twins' gradients, parameter by parameter, on one batch",
            (
                *GRADCHECK_FLAGS,
                *model_flags(True),
                *data_flags(),
                *GRADCHECK_CHECK_FLAGS,
                Flag(
                    "--inject-fault",
                    "inject_fault",
                    "text",
                    "break the manual backward on purpose, to watch the check fail",
                    choices=tuple(sorted(FAULTS)),
                ),
                JSON,
                *plugin_flags(),
                *NPROC_FLAGS,
            ),
            defaults_shown=True,
        ),
        Command(
            "train",
            "train one twin on MNIST (or Fashion-MNIST, KMNIST), logged to TensorBoard",
            (
                impl.but(choices=("manual", "torch"), required=True, help="which twin to train"),
                *train_flags("train"),
                *NPROC_FLAGS,
            ),
        ),
        Command(
            "compare",
            "train both twins in lockstep from one start and one batch order",
            (*train_flags("compare"), *NPROC_FLAGS),
        ),
        Command(
            "overfit",
            "check the pipes: can the net memorise one batch (loss < 1e-3)?",
            (
                impl.but(default="both", help="which twin (default: both)"),
                *train_flags("overfit", OVERFIT_LEAVES_OUT, OVERFIT_DEFAULTS),
                Flag("--max-steps", "max_steps", "positive", "step budget (default: 1000)", 1000),
                Flag("--target", "target", "above0", "loss to reach (default: 0.001)", 1e-3),
            ),
            unset=unset(OVERFIT_LEAVES_OUT, OVERFIT_DEFAULTS),
        ),
        Command(
            "sweep",
            "one short training per learning rate, each its own TensorBoard run",
            (
                impl.but(default="torch", help="which twin (default: torch)"),
                *train_flags("sweep", SWEEP_LEAVES_OUT, SWEEP_DEFAULTS),
                Flag(
                    "--lr",
                    "lrs",
                    "text",
                    "comma-separated learning rates (default: 0.001,0.01,0.1,1)",
                    "0.001,0.01,0.1,1",
                ),
            ),
            unset=unset(SWEEP_LEAVES_OUT, SWEEP_DEFAULTS),
        ),
        Command(
            "optimcheck",
            "your optimizer (CS231n update rules or an nnfs optimizer object) against torch.optim, "
            "step by step; needs no data",
            (
                Flag(
                    "--plugin-optimizer",
                    "plugin_optimizer",
                    "text",
                    "a cs231n rule (…optim.py:adam, sgd, "
                    "sgd_momentum, rmsprop) or an nnfs optimizer class (…:Optimizer_Adam)",
                    metavar="FILE_OR_MODULE:NAME",
                    required=True,
                ),
                *OPTIMCHECK_FLAGS,
            ),
            defaults_shown=True,
        ),
        Command(
            "layercheck",
            "your layer functions (CS231n's layers.py: affine, relu, batchnorm, layernorm, dropout, conv, "
            "pool, losses) against torch, function by function, with the known bugs named; needs no data",
            (
                Flag(
                    "target",
                    "target",
                    "text",
                    "your layers file (path/to/layers.py) or module (cs231n.layers)",
                    metavar="FILE_OR_MODULE",
                ),
                Flag("--only", "only", "text", "judge only these layers, comma-separated (e.g. batchnorm,dropout)"),
                Flag("--seed", "seed", "seed", "seeds the generated inputs", 0),
                Flag(
                    "--rtol",
                    "rtol",
                    "above0",
                    "tolerance: max |yours − torch| relative to the larger magnitude, per output (float64)",
                    1e-8,
                ),
                Flag("--json", "json", "path", "also write the report to this JSON file"),
                Flag("--traceback", "traceback", "switch", "show your code's traceback on an error"),
            ),
            defaults_shown=True,
        ),
        Command(
            "grade",
            "a class's submissions judged in one command: Gradescope results.json, JUnit, grades.csv, class.html",
            (
                Flag(
                    "submissions",
                    "submissions",
                    "text",
                    "a folder of submission folders (one per student), or one submission",
                    metavar="SUBMISSIONS",
                ),
                Flag(
                    "--checks",
                    "checks",
                    "path",
                    "the instructor's checks (docs/grading.md)",
                    metavar="CHECKS.toml",
                    required=True,
                ),
                Flag(
                    "--out",
                    "out",
                    "path",
                    "where each student's results.json and junit.xml, grades.csv and class.html go",
                ),
                Flag("--gradescope", "gradescope", "path", "one submission's results.json, where Gradescope wants it"),
                Flag("--jobs", "jobs", "positive", "checks run at once, each in its own process", 1),
                Flag("--timeout", "timeout", "above0", "seconds a check may take before it is stopped", 60.0, "S"),
                Flag("--memory", "memory", "above0", "GiB of memory a check may allocate", 4.0, "GIB"),
                Flag("--again", "again", "switch", "grade again the students already graded in --out"),
                Flag("--json", "json", "path", "also write every student's results to this JSON file"),
            ),
            defaults_shown=True,
        ),
        Command(
            "plot",
            "draw a run's curves, divergence and confusion matrices into a PNG (no server)",
            (
                Flag(
                    "run_dir",
                    "run_dir",
                    "text",
                    "the run directory a train or compare run printed (logs: …)",
                    metavar="RUN_DIR",
                ),
                Flag(
                    "--output",
                    "output",
                    "text",
                    "where to write (default: RUN_DIR/plot.png)",
                    metavar="FILE.png",
                    short="-o",
                ),
            ),
        ),
        Command(
            "report",
            "one self-contained HTML file of a run: verdict, curves, pictures, config (no server, no network)",
            (
                Flag(
                    "run_dir",
                    "run_dir",
                    "text",
                    "the run directory a train or compare run printed (logs: …)",
                    metavar="RUN_DIR",
                ),
                Flag(
                    "--output",
                    "output",
                    "text",
                    "where to write (default: RUN_DIR/report.html)",
                    metavar="FILE.html",
                    short="-o",
                ),
            ),
        ),
        Command(
            "bench",
            "time both twins' training epochs side by side, against a FLOP floor",
            (
                *BENCH_FLAGS,
                *data_flags(),
                Flag("--json", "json", "text", "also write the figures to this JSON file"),
                Flag("--quiet", "quiet", "switch", "print only the final table"),
            ),
            defaults_shown=True,
        ),
    ]
