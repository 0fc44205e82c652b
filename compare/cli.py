"""``simplenet``: a thin command line over the library functions that the tests also call.

Exit codes: 0 the twins agree / the run finished, 1 the twins disagree, 2 a usage or data
error (one line on stderr, no traceback), 3 training stopped on a non-finite loss, 4 the machine
failed the run (disk full, a path that cannot be written, out of memory; one line), 130/143
interrupted by SIGINT/SIGTERM (after writing a checkpoint).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path

from compare.config import DTYPES, ModelSpec
from compare.errors import SIGNALS, CheckpointError, ConfigError, NonFiniteLoss, ResourceError
from compare.datasets import DataError

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_DIVERGED, EXIT_RESOURCE = 0, 1, 2, 3, 4


class DefaultsShown(argparse.HelpFormatter):
    """Every default in --help, once: appended where the help text does not already say it, and left
    out where there is none to show (a flag that is off, a path that is unset)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), like every other user mistake."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def number(typ, low=None, *, above: bool = False, high=None):
    """An argparse type: an int or a finite float, at least ``low`` (greater than it when ``above``) and at
    most ``high``, so a value the run cannot use is refused at the parser in one line (exit 2)."""
    import math

    def parse(text: str):
        try:
            value = typ(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if typ is int else 'a number'}") from None
        if typ is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value < low or (above and value == low)):
            raise argparse.ArgumentTypeError(f"{text} must be {'greater than' if above else 'at least'} {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} must be at most {high}")
        return value
    parse.__name__ = typ.__name__      # argparse names the type in its messages
    return parse


def experiment_name(text: str) -> str:
    """--experiment is a directory *name* under --logdir: never a path that leads out of it."""
    if text in ("", ".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a name: give one directory name (no '/', not '.' "
                                         "or '..'); --logdir says where it goes")
    return text


def path_text(text: str) -> str:
    """A path flag's value: never empty (an empty --logdir would quietly mean the working directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a directory or file (. for the working directory)")
    return text


POSITIVE, NONNEG = number(int, 1), number(float, 0)
SEED = number(int, 0, high=2**63 - 1)      # numpy's Generator takes non-negative seeds


def write_file(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path``; a failure (disk full, unwritable) is one line naming the path (exit 4)."""
    from compare.resources import os_error_line

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    except OSError as e:
        e.filename = e.filename or str(path)
        raise ResourceError(os_error_line(e)) from None


def write_json(path: str | None, payload: dict) -> None:
    if path:
        write_file(path, json.dumps(payload, indent=2, default=float) + "\n")


# --- gradcheck ------------------------------------------------------------------------------
def add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hidden", default="128,64",
                   help="hidden layer sizes, comma-separated; 'none' for softmax regression")
    p.add_argument("--activation", default="relu", help="relu, sigmoid or tanh")
    add_objective_flags(p, "cross-entropy", "none")


def add_objective_flags(p: argparse.ArgumentParser, loss_default, output_default) -> None:
    p.add_argument("--loss", default=loss_default, help="cross-entropy (of logits), mse (mean squared error on "
                                                        "one-hot targets, torch.nn.MSELoss) or quadratic (Nielsen's "
                                                        "½·Σ over the classes: C/2 × mse) (default: cross-entropy)")
    p.add_argument("--output-activation", default=output_default,
                   help="after the last layer: none (logits), sigmoid or softmax (default: none)")


def add_plugin_flags(p: argparse.ArgumentParser, default_shown: str = "manual") -> None:
    p.add_argument("--manual", default=None, metavar="TARGET",
                   help="the hand-written implementation to judge: manual (ours), sklearn, MODULE:FACTORY or "
                        f"path/to/file.py:FACTORY (docs/plugins.md; default: {default_shown})")
    from compare.plugins import convention_names

    p.add_argument("--convention", default="auto", choices=("auto", *convention_names()),
                   help="how the plug-in's names and layouts map to torch's (default: %(default)s, detected)")
    p.add_argument("--traceback", action="store_true",
                   help="on a plug-in error, show the full Python traceback (for debugging a plug-in)")


def load_plugin(args, spec: ModelSpec, dtype: str, l2: float = 0.0, l1: float = 0.0):
    """The implementation ``--manual`` names, adapted to the protocol (not yet loaded with weights)."""
    from compare import plugins

    return plugins.load(args.manual or plugins.DEFAULT_TARGET, spec, dtype, convention=args.convention, l2=l2, l1=l1)


def print_header(impl) -> None:
    print(impl.header())
    for line in impl.mapping_lines():
        print(line)


def spec_from(args) -> ModelSpec:
    return ModelSpec(hidden=ModelSpec.parse_hidden(args.hidden), activation=args.activation, loss=args.loss,
                     output_activation=args.output_activation)


def add_data_flags(p: argparse.ArgumentParser, dataset_default: str | None = "mnist") -> None:
    p.add_argument("--dataset", default=dataset_default, choices=("mnist", "fashion-mnist", "kmnist"),
                   help="which of the MNIST family (default: " + ("mnist; on --resume, the checkpoint's)"
                                                                   if dataset_default is None else "%(default)s)"))
    p.add_argument("--data-dir", default=None, type=path_text,
                   help="data root (DIR/MNIST/raw/, DIR/FashionMNIST/raw/, DIR/KMNIST/raw/ or a flat DIR of the "
                        "four files, raw or .gz); default: $SIMPLENET_DATA, else ./data (downloaded there if missing)")
    p.add_argument("--no-download", action="store_true", help="never fetch the data; fail if it is missing")


def cmd_gradcheck(args) -> int:
    from compare.data import ensure_mnist, random_batch, real_batch, resolve_root
    from compare.gradcheck import gradient_proof

    spec = spec_from(args)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size} must be at least 1")
    if args.random_data:
        x, y = random_batch(args.batch_size, args.seed, args.dtype, spec.in_features, spec.out_features)
        source = f"random N(0,1) inputs, seed {args.seed}"
    else:
        from compare.datasets import DATASETS

        root = ensure_mnist(resolve_root(args.data_dir), download=not args.no_download, dataset=args.dataset)
        x, y = real_batch(root, args.batch_size, args.seed, args.dtype, args.dataset)
        source = f"{DATASETS[args.dataset].title} train from {root}, seed {args.seed}"
    from compare import distributed, plugins

    world = distributed.init(args.world, "cpu") if args.world else distributed.SINGLE
    report = gradient_proof(x, y, spec=spec, seed=args.seed, dtype=args.dtype, source=source,
                            fault=args.inject_fault, fd=(args.fd or args.fd_all) and world.leader,
                            fd_samples=None if args.fd_all else args.fd_samples,
                            manual_target=args.manual or plugins.DEFAULT_TARGET, convention=args.convention,
                            world=world, l2=args.l2, l1=args.l1)
    if world.size > 1:
        report.source += f"; torch: DDP over {world.size} {world.backend} processes, shards averaged"
        if not world.leader:
            return EXIT_OK
    print(report)                                   # compare.report.format_gradcheck
    write_json(args.json, report.to_dict())
    return EXIT_OK if report.passed else EXIT_MISMATCH


# --- train / compare --------------------------------------------------------------------------
CONFIG_FLAGS = {   # flag → (TrainConfig field, type, help); every numeric type is range-checked by the parser
    "--epochs": ("epochs", POSITIVE, "passes over the training set"),
    "--batch-size": ("batch_size", POSITIVE, "examples per step"),
    "--lr": ("lr", number(float, 0, above=True), "learning rate"),   # default shown per optimizer
    "--optimizer": ("optimizer", str, "sgd, adam, adamw, rmsprop or adagrad"),
    "--momentum": ("momentum", NONNEG, "momentum (sgd, rmsprop)"),
    "--dampening": ("dampening", NONNEG, "SGD dampening"),
    "--weight-decay": ("weight_decay", NONNEG, "L2 (sgd, adam) or decoupled (adamw) weight decay"),
    "--eps": ("eps", NONNEG, "epsilon (adam, adamw, rmsprop, adagrad)"),
    "--alpha": ("alpha", NONNEG, "RMSprop smoothing constant"),
    "--lr-decay": ("lr_decay", NONNEG, "Adagrad learning-rate decay"),
    "--initial-accumulator-value": ("initial_accumulator_value", NONNEG, "Adagrad's initial sum of squares"),
    "--schedule": ("schedule", str, "learning-rate schedule per epoch: none, step or cosine"),
    "--step-size": ("step_size", POSITIVE, "epochs between decays for --schedule step"),
    "--gamma": ("gamma", number(float, 0, above=True), "decay factor for --schedule step"),
    "--seed": ("seed", SEED, "seeds the initial weights and the batch order"),
    "--dtype": ("dtype", str, "float32 or float64"),
    "--eval-batch-size": ("eval_batch_size", POSITIVE, "batch size for evaluation"),
    "--l2": ("l2", NONNEG, "L2 regularization in the loss, ½·λ·ΣW² over the weights only (CS231n's reg; not "
                           "--weight-decay, which the optimizer applies)"),
    "--l1": ("l1", NONNEG, "L1 regularization in the loss, λ·Σ|W| over the weights only (the nnfs book's)"),
}


def parse_betas(text: str) -> tuple[float, float]:
    try:
        b1, b2 = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two comma-separated numbers such as 0.9,0.999") from None
    return b1, b2


RUN_FLAGS = {"--logdir": "logdir", "--experiment": "experiment", "--checkpoint-dir": "checkpoint_dir",
             "--resume": "resume", "--log-every": "log_every", "--quiet": "quiet", "--no-images": "no_images",
             "--stop-grace": "stop_grace", "--step-timeout": "step_timeout"}


def add_train_flags(p: argparse.ArgumentParser, command: str, exclude: tuple[str, ...] = (),
                    defaults: dict | None = None) -> None:
    """Every config flag, plus the run flags; ``exclude`` leaves some out (their values stay unset),
    ``defaults`` sets this command's own defaults for some config fields."""
    from compare.config import TrainConfig

    defaults = defaults or {}
    d = TrainConfig(**defaults)
    p.set_defaults(**{RUN_FLAGS[f]: None for f in exclude if f in RUN_FLAGS},
                   **{CONFIG_FLAGS[f][0]: defaults.get(CONFIG_FLAGS[f][0]) for f in exclude if f in CONFIG_FLAGS})
    for flag, (name, typ, help_) in CONFIG_FLAGS.items():
        if flag in exclude:
            continue
        default = {"lr": "0.05 for sgd, 0.001 for adam and adamw, 0.01 for rmsprop and adagrad",
                   "weight_decay": "0, but 0.01 for adamw (torch.optim's)",
                   "momentum": "0.9 for sgd, 0 for rmsprop (torch's)",
                   "eps": "1e-8, but 1e-10 for adagrad (torch.optim's)"}.get(name, getattr(d, name))
        p.add_argument(flag, dest=name, type=typ, default=defaults.get(name), help=f"{help_} (default: {default})")
    p.add_argument("--betas", type=parse_betas, default=None, help="Adam betas (default: 0.9,0.999)")
    p.add_argument("--nesterov", action="store_const", const=True, default=None, help="Nesterov momentum (SGD)")
    p.add_argument("--amsgrad", action="store_const", const=True, default=None, help="AMSGrad (adam, adamw)")
    p.add_argument("--centered", action="store_const", const=True, default=None, help="centered RMSprop")
    p.add_argument("--hidden", default=None, help="hidden layer sizes, comma-separated; 'none' for softmax "
                                                   "regression (default: 128,64)")
    p.add_argument("--activation", default=None, help="relu, sigmoid or tanh (default: relu)")
    add_objective_flags(p, None, None)
    p.add_argument("--device", default="auto", help="torch twin's device: auto, cpu, cuda or mps "
                                                    "(auto: cuda, then mps, then cpu)")
    add_data_flags(p, None)
    run_flags = [
        ("--logdir", dict(default="runs", type=path_text, help="TensorBoard root; each run gets its own experiment directory")),
        ("--experiment", dict(default=None, type=experiment_name, help=f"experiment name (default: {command}-<timestamp>; "
                                                 "numbered if it exists)")),
        ("--checkpoint-dir", dict(default=None, type=path_text, help="where checkpoints go (default: <experiment>/checkpoints)")),
        ("--resume", dict(default=None, metavar="PATH_OR_DIR", type=path_text,
                          help="continue from a checkpoint (a ckpt-… directory, or the directory holding them)")),
        ("--log-every", dict(type=POSITIVE, default=50, help="steps between reads of the loss back to the host")),
        ("--stop-grace", dict(type=NONNEG, default=5.0, metavar="S",
                              help="after SIGINT/SIGTERM, seconds a step may still take before it is abandoned "
                                   "(a hung plug-in); the run then ends with exit 130/143")),
        ("--step-timeout", dict(type=number(float, 0, above=True), default=None, metavar="S",
                                help="abandon any step that runs longer than S seconds, exit 4 (default: off)")),
        ("--quiet", dict(action="store_true", help="no progress bars or per-epoch lines")),
        ("--no-images", dict(action="store_true", help="no pictures in TensorBoard (weights, confusion "
                                                        "matrices, mistakes)")),
    ]
    for flag, kw in run_flags:
        if flag not in exclude:
            p.add_argument(flag, **kw)
    p.add_argument("--json", default=None, type=path_text, help="also write the results to this JSON file")
    add_plugin_flags(p, "manual; on --resume, the checkpoint's")
    p.add_argument("--plugin-optimizer", default=None, metavar="FILE_OR_MODULE:NAME",
                   help="update the hand-written side with your own optimizer (a cs231n rule such as optim.py:adam, "
                        "or an nnfs optimizer class), judged against torch.optim's --optimizer; needs --schedule none")


def config_overrides(args) -> dict:
    """The config fields the user set explicitly on the command line."""
    given = {name: getattr(args, name) for name, _, _ in CONFIG_FLAGS.values()}
    given.update(betas=args.betas, nesterov=args.nesterov, amsgrad=args.amsgrad, centered=args.centered,
                 dataset=args.dataset)
    given = {k: v for k, v in given.items() if v is not None}
    if any(v is not None for v in (args.hidden, args.activation, args.loss, args.output_activation)):
        given["spec"] = ModelSpec(hidden=ModelSpec.parse_hidden(args.hidden if args.hidden is not None else "128,64"),
                                  activation=args.activation or "relu", loss=args.loss or "cross-entropy",
                                  output_activation=args.output_activation or "none")
    return given


def resolve_config(args, command: str):
    """(config, checkpoint to resume or None, its meta) from the flags and --resume."""
    from compare.config import TrainConfig

    given = config_overrides(args)
    if not args.resume:
        return TrainConfig(**given), None, None
    from compare import checkpoint

    ckpt = checkpoint.find(args.resume)
    impls = ["manual", "torch"] if command == "compare" else [args.impl]
    meta = checkpoint.read_meta(ckpt, impls)
    if meta["command"] != command or meta["impls"] != impls:
        wrote = f"simplenet {meta['command']}" + (f" --impl {meta['impls'][0]}" if meta["command"] == "train" else "")
        raise checkpoint.CheckpointError(f"{ckpt} was written by `{wrote}`; resume it with that command")
    written = meta.get("implementation", {}).get("target", "manual")
    if getattr(args, "plugin_optimizer", None) is None:
        args.plugin_optimizer = meta.get("implementation", {}).get("optimizer")
    if args.manual is None:
        args.manual = written
    elif args.manual != written:
        raise checkpoint.CheckpointError(f"{ckpt} was written with --manual {written}, not {args.manual}; "
                                         "drop --manual to resume it, or start a new run")
    cfg = TrainConfig.from_dict(meta["config"])
    for key, value in given.items():
        if key != "epochs" and getattr(cfg, key) != value:
            shown = value.describe() if key == "spec" else value
            theirs = getattr(cfg, key).describe() if key == "spec" else getattr(cfg, key)
            raise checkpoint.CheckpointError(
                f"{ckpt} was made with {key}={theirs}, not {shown}; drop that flag to resume, or start a new run")
    if "epochs" in given and given["epochs"] != cfg.epochs:
        done = meta["epoch"] + (1 if meta.get("step_in_epoch") else 0)
        if given["epochs"] < done:
            raise checkpoint.CheckpointError(
                f"--epochs {given['epochs']}: {ckpt} has already trained {done} epoch(s); resume with "
                f"--epochs {cfg.epochs} (or at least {done}), or start a new run")
        if cfg.schedule == "cosine":
            # the cosine horizon is the run's length: the epochs already trained followed a schedule that a
            # fresh run of the new length would not have had, so the result could match neither run
            raise checkpoint.CheckpointError(
                f"--epochs {given['epochs']}: {ckpt} follows a cosine schedule over {cfg.epochs} epochs, which "
                f"its first {done} epoch(s) already trained with; a different length is another run - resume "
                f"with --epochs {cfg.epochs}, or start a new run (--schedule none or step can be extended)")
        cfg = cfg.replace(epochs=given["epochs"])
    return cfg, ckpt, meta


def build_twins(args, cfg, impls: list[str]):
    """Resolve the device, the hand-written implementation and the data, and build the requested twins
    from ONE initial state."""
    import numpy as np

    from compare.data import ensure_mnist, resolve_root
    from torch import device as torch_device

    from compare import distributed
    from compare.distributed import SINGLE
    from compare.twins import ManualTwin, TorchTwin, initial_state
    from torch_impl.device import resolve_device, strict_numerics

    if "manual" not in impls and getattr(args, "manual", None) not in (None, "manual"):
        raise ConfigError(f"--manual {args.manual} names the hand-written side; --impl torch trains autograd only")
    world = args.world or SINGLE
    if "torch" in impls:
        device = resolve_device(args.device)
        if world.size > 1 and device.type == "cuda":
            device = torch_device(f"cuda:{world.local_rank}")           # one device per rank
    elif args.device not in ("auto", "cpu"):
        raise ConfigError(f"--device {args.device}: the manual twin runs on the CPU only; drop --device")
    else:
        device = resolve_device("cpu")
    strict_numerics()
    if world.size > 1:
        args.world = world = distributed.init(world, device.type)
        impls = [i for i in impls if i == "torch" or world.leader]       # the manual twin runs in rank 0
    if len(impls) == 2 or world.size > 1:
        from compare.runner import lockstep_threads

        lockstep_threads()
    check_run_memory(args, cfg, impls, device)
    impl = load_plugin(args, cfg.spec, cfg.dtype, cfg.l2, cfg.l1) if "manual" in impls else None
    root = ensure_mnist(resolve_root(args.data_dir), download=not args.no_download, dataset=cfg.dataset)
    state = initial_state(cfg.spec, cfg.seed)
    plugin_optimizer = getattr(args, "plugin_optimizer", None)
    if plugin_optimizer and "manual" not in impls:
        raise ConfigError("--plugin-optimizer updates the hand-written side; --impl torch trains autograd only")
    twins = [ManualTwin(cfg, state, root, impl, plugin_optimizer) if name == "manual"
             else TorchTwin(cfg, state, root, device, world) for name in impls]
    if len(twins) == 2:
        for split in ("train", "test"):
            if not np.array_equal(twins[0].images[split], twins[1].images[split].numpy()):
                raise DataError(f"the two twins read different {split} images from {root}; check the files")
    start_up_done()
    return twins, device, root


def check_run_memory(args, cfg, impls: list[str], device) -> None:
    """Before anything big is allocated: does the run fit in the memory that is available?"""
    from compare import resources
    from compare.data import resolve_root
    from compare.datasets import locate_all

    n_train, n_test = resources.dataset_counts(locate_all(resolve_root(args.data_dir), cfg.dataset))
    parts = resources.memory_needed(cfg.spec, dtype=cfg.dtype, batch_size=cfg.batch_size,
                                    eval_batch_size=cfg.eval_batch_size, optimizer=cfg.optimizer,
                                    momentum=cfg.momentum, amsgrad=cfg.amsgrad, centered=cfg.centered,
                                    n_train=n_train, n_test=n_test,
                                    twins=len(impls), device_twins=int("torch" in impls and device.type != "cpu"))
    resources.check_memory(parts)


def timing(runner) -> dict:
    """Where the wall time went: inside training steps, and when the first step began (epoch seconds)."""
    return {"step_seconds": runner.step_seconds, "first_step_at": runner.first_step_at,
            "outside_steps_seconds": dict(runner.outside_seconds),
            "world_size": runner.world.size, "allreduce_seconds": runner.allreduce_seconds}


def implementation_meta(twins) -> dict:
    """Which hand-written implementation (and optimizer) ran, for checkpoints and JSON (empty for torch alone)."""
    return {"implementation": {"label": t.label, "target": t.model.target, "convention": t.model.convention,
                               "optimizer": getattr(t.optimizer, "target", None)}
            for t in twins if t.name == "manual"}


def stored_run_dir(meta: dict, ckpt: Path) -> Path:
    """The run directory a checkpoint belongs to: stored absolute; older checkpoints stored it relative
    to the working directory they ran in, which for the default layout is the checkpoint's grandparent."""
    run_dir = Path(meta["run_dir"])
    if run_dir.is_absolute():
        return run_dir
    beside = ckpt.resolve().parent.parent
    return beside if beside.name == run_dir.name else run_dir.resolve()


def run_training(args, command: str, impls: list[str]):
    """Build the twins, run the shared loop, return (runner, outcome); NonFiniteLoss propagates."""
    if args.log_every < 1:
        raise ConfigError(f"--log-every {args.log_every} must be at least 1")
    cfg, ckpt, meta = resolve_config(args, command)     # flags are checked before the heavy imports

    from compare import distributed
    from compare.data import fingerprint, fingerprint_change
    from compare.distributed import SINGLE
    from compare.envcard import environment_card
    from compare.resources import probe_writable
    from compare.runner import Runner
    from compare.tblog import new_experiment_dir

    leader = (args.world or SINGLE).leader            # rank 0 alone creates and writes directories
    if ckpt is None and leader:
        probe_writable(args.logdir, "--logdir")
    if args.checkpoint_dir and leader:
        probe_writable(args.checkpoint_dir, "--checkpoint-dir")
    twins, device, root = build_twins(args, cfg, impls)
    data_fingerprint = fingerprint(root, cfg.dataset)
    if ckpt is not None and meta.get("data_fingerprint"):
        changed = fingerprint_change(meta["data_fingerprint"], data_fingerprint)
        if changed is not None:
            raise CheckpointError(f"{ckpt} was trained on other data: {changed}; resume with the run's data "
                                  "(--data-dir), or start a new run")
    world = args.world or SINGLE                     # now with its backend, for the environment card
    hand = [t for t in twins if t.name == "manual"]
    if hand and not args.quiet:
        print_header(hand[0].model)
        if hasattr(hand[0].optimizer, "header"):
            print(hand[0].optimizer.header())
            for line in hand[0].optimizer.mapping():
                print(f"  {line}")
    if ckpt is None and not leader:
        run_dir = Path(args.logdir) / f"rank-{world.rank}-writes-nothing"      # never created
        checkpoint_dir = run_dir / "checkpoints"
    elif ckpt is None:
        run_dir = new_experiment_dir(args.logdir, args.experiment, command if command == "compare"
                                     else f"train-{impls[0]}")
        checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else run_dir / "checkpoints"
    else:
        run_dir = stored_run_dir(meta, ckpt)
        checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else ckpt.parent
    env = environment_card(device, cfg.dtype, cfg.seed, world)
    runner = Runner(cfg, twins, run_dir=run_dir, checkpoint_dir=checkpoint_dir, command=command, world=world,
                    log_every=args.log_every, quiet=args.quiet or not leader, env=env, images=not args.no_images,
                    stop_grace=args.stop_grace, step_timeout=args.step_timeout,
                    extra_meta={"data_dir": str(Path(root).resolve()), "data_fingerprint": data_fingerprint,
                                **implementation_meta(twins)})
    if ckpt is not None:
        runner.restore(ckpt, meta)
        if not args.quiet:
            print(f"resuming from {ckpt} at step {runner.global_step} (epoch {runner.epoch + 1})")
        if leader and ckpt.parent == Path(checkpoint_dir):
            from compare.checkpoint import supersede

            moved = supersede(ckpt.parent, runner.global_step)
            if moved and not args.quiet:
                print(f"a new branch of the run: {len(moved)} later checkpoint(s) kept as {moved[0].name}"
                      f"{' …' if len(moved) > 1 else ''}, out of --resume's way")
    if leader:
        from compare.checkpoint import claim

        try:
            runner.owns_checkpoint_dir = claim(checkpoint_dir, runner.run_id, run_dir)
        except CheckpointError:
            if ckpt is None:          # the fresh experiment directory made for this run: not left behind
                try:
                    run_dir.rmdir()
                except OSError:
                    pass
            raise
        run_dir.mkdir(parents=True, exist_ok=True)
        card = run_dir / ("environment.json" if ckpt is None else f"environment-resume-{runner.global_step}.json")
        write_file(card, json.dumps(env, indent=2) + "\n")
        write_file(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    runner.open_loggers(purge_step=runner.global_step + 1 if ckpt is not None else None)
    if ckpt is None:
        runner.log_config()
    if world.size > 1:       # for bench: what one step's gradient all-reduce costs here
        torch_twin = next(t for t in twins if t.name == "torch")
        runner.allreduce_seconds = distributed.allreduce_seconds(
            sum(p.numel() for p in torch_twin.model.parameters()), torch_twin.dtype, device)
    try:
        outcome = runner.run()
    except BaseException:
        runner.close(failing=True)
        raise
    runner.close()
    if outcome.interrupted_by is not None:
        again = f"{program('simplenet')} {command}" + (f" --impl {impls[0]}" if command == "train" else "")
        data = f" --data-dir {args.data_dir}" if args.data_dir else ""
        if outcome.message:
            print(f"simplenet {command}: {'error' if outcome.interrupted_by == EXIT_RESOURCE else 'stopped'}: "
                  f"{outcome.message}", file=sys.stderr)
        else:
            print(f"interrupted at step {outcome.global_step}; checkpoint written to {outcome.checkpoint}",
                  file=sys.stderr)
        if outcome.checkpoint is not None:
            print(f"resume with: {again} --resume {outcome.checkpoint}{data}", file=sys.stderr)
    return runner, outcome


def cmd_train(args) -> int:
    runner, outcome = run_training(args, "train", [args.impl])
    if outcome.interrupted_by is not None:
        return outcome.interrupted_by
    if not runner.world.leader:
        return EXIT_OK
    history = outcome.histories[args.impl]
    final = history.epochs[-1]["test_accuracy"] if history.epochs else None
    payload = {"impl": args.impl, **implementation_meta(runner.twins), "config": runner.cfg.to_dict(),
               "timing": timing(runner), "epochs": history.epochs,
               "final_test_accuracy": final, "steps": outcome.global_step,
               "logdir": str(runner.run_dir.parent), "run_dir": str(runner.run_dir)}
    write_file(runner.run_dir / "results.json", json.dumps(payload, indent=2) + "\n")
    write_json(args.json, payload)
    if not args.quiet:
        print(f"final test accuracy: {final}" if final is not None else "no epoch run")
        print(f"logs: {runner.run_dir}\nview: {program('tensorboard')} --logdir {runner.run_dir.parent}")
    else:       # one summary line all the same: what came out and where it went
        label = runner.twins[0].label
        acc = f"final test accuracy {final:.4f}" if final is not None else "no epoch completed"
        print(f"train {label}: {acc} after {outcome.global_step} steps; logs: {runner.run_dir}")
    return EXIT_OK


def cmd_compare(args) -> int:
    from compare.runner import lockstep_report, param_max_abs_diff
    from compare.datasets import DATASETS

    runner, outcome = run_training(args, "compare", ["manual", "torch"])
    if outcome.interrupted_by is not None:
        return outcome.interrupted_by
    if not runner.world.leader:
        return EXIT_OK
    cfg = runner.cfg
    m, t = outcome.histories["manual"], outcome.histories["torch"]
    report = lockstep_report(outcome.histories, runner.twins, cfg.dtype, max_param_diff=runner.max_param_diff,
                             params_left_at=runner.params_left_at)
    epochs = [{"epoch": a["epoch"], "manual": a, "torch": b,
               "abs_test_accuracy_diff": abs(a["test_accuracy"] - b["test_accuracy"]),
               "abs_test_loss_diff": abs(a["test_loss"] - b["test_loss"])} for a, b in zip(m.epochs, t.epochs)]
    measured = report["measured"]
    payload = {"passed": report["passed"], **implementation_meta(runner.twins), "dtype": cfg.dtype,
               "steps": outcome.global_step, "timing": timing(runner),
               "max_abs_loss_diff": measured["step_loss"], "max_abs_window_loss_diff": measured["window_loss"],
               "max_abs_test_accuracy_diff": measured["test_accuracy"],
               "max_abs_test_loss_diff": measured["test_loss"], "final_param_max_abs_diff": param_max_abs_diff(runner.twins),
               "max_param_abs_diff_along_run": measured["params"],
               "steps_within_1e-4": report["steps_within_1e-4"], "checks": report["checks"], "epochs": epochs,
               "notes": report["notes"], "loss_diagnosis": report["loss_diagnosis"],
               "params_left_at": report["params_left_at"],
               "config": cfg.to_dict(), "logdir": str(runner.run_dir.parent), "run_dir": str(runner.run_dir)}
    write_file(runner.run_dir / "results.json", json.dumps(payload, indent=2) + "\n")
    write_json(args.json, payload)
    print(f"\nlockstep compare: {DATASETS[cfg.dataset].title}, {cfg.spec.describe()}, {cfg.dtype}, {cfg.optimizer} lr {cfg.lr}, "
          f"{len(epochs)} epoch(s), {outcome.global_step} steps of batch {cfg.batch_size}")
    print(f"{'check':<32}{'measured':>11}{'tolerance':>11}  verdict")
    for c in report["checks"]:
        limit = "-" if c["tolerance"] is None else f"{c['tolerance']:.0e}"
        verdict = {None: "(reported)", True: "OK", False: "MISMATCH"}[c["passed"]]
        print(f"{c['name']:<32}{c['measured']:>11.2e}{limit:>11}  {verdict}")
    print(f"per-step losses agreed within 1e-4 for the first {report['steps_within_1e-4']} of "
          f"{outcome.global_step} steps")
    label = runner.twins[0].label
    acc_w, loss_w = max(16, len(label) + 10), max(13, len(label) + 7)     # columns as wide as their heads
    print(f"{'epoch':<7}{label + ' test acc':>{acc_w}}{'torch test acc':>16}{label + ' loss':>{loss_w}}{'torch loss':>12}")
    for e in epochs:
        print(f"{e['epoch']:<7}{e['manual']['test_accuracy']:>{acc_w}.4f}{e['torch']['test_accuracy']:>16.4f}"
              f"{e['manual']['test_loss']:>{loss_w}.6f}{e['torch']['test_loss']:>12.6f}")
    for note in report["notes"]:
        print(f"note: {note}")
    print(f"verdict: {'AGREE' if report['passed'] else 'MISMATCH'} - the twins' curves "
          f"{'match' if report['passed'] else 'do not match'} within the {cfg.dtype} tolerances")
    print(f"logs: {runner.run_dir}\nview: {program('tensorboard')} --logdir {runner.run_dir.parent}")
    return EXIT_OK if report["passed"] else EXIT_MISMATCH


# --- the debugging routine ------------------------------------------------------------------
def cmd_overfit(args) -> int:
    from compare.debug import overfit

    if args.max_steps < 1:
        raise ConfigError(f"--max-steps {args.max_steps} must be at least 1")
    if not args.target > 0:
        raise ConfigError(f"--target {args.target} must be positive")
    cfg, _, _ = resolve_config(args, "overfit")
    impls = ["manual", "torch"] if args.impl == "both" else [args.impl]
    twins, _, _ = build_twins(args, cfg, impls)
    if "manual" in impls:
        print_header(twins[0].model)
    results = overfit(twins, seed=cfg.seed, batch_size=cfg.batch_size, max_steps=args.max_steps,
                      target=args.target)
    from compare.datasets import DATASETS

    print(f"overfit one batch: {cfg.batch_size} {DATASETS[cfg.dataset].title} training images, {cfg.spec.describe()}, {cfg.dtype}, "
          f"{cfg.optimizer} lr {cfg.lr}; target loss < {args.target:g} within {args.max_steps} steps")
    labels = {t.name: t.label for t in twins}
    for r in results.values():
        if r.reached:
            print(f"  {labels[r.impl]:<7} reached loss {r.final_loss:.2e} at step {r.step}  OK")
        else:
            print(f"  {labels[r.impl]:<7} FAILED: {r.reason}")
    ok = all(r.reached for r in results.values())
    print("verdict: " + ("the net can memorise one batch - data, loss, backward and update are wired up"
                         if ok else "could not overfit one batch: the pipes are broken (check the backward, the "
                                    "optimizer step, the labels, or try another --lr)"))
    write_json(args.json, {"passed": ok, **implementation_meta(twins), "target": args.target, "max_steps": args.max_steps,
                           "config": cfg.to_dict(),
                           "results": {k: vars(r) for k, r in results.items()}})
    return EXIT_OK if ok else EXIT_MISMATCH


def cmd_sweep(args) -> int:
    import argparse as _argparse

    from compare.debug import sweep_verdict
    from compare.tblog import new_experiment_dir

    try:
        lrs = [float(v) for v in args.lrs.split(",")]
    except ValueError:
        raise ConfigError(f"--lr {args.lrs!r} is malformed; give comma-separated rates such as 0.001,0.01,0.1,1") from None
    if args.resume:
        raise ConfigError("--resume does not apply to a sweep; resume one of its runs with simplenet train")
    impls = ["manual", "torch"] if args.impl == "both" else [args.impl]
    command = "compare" if args.impl == "both" else "train"
    exp = new_experiment_dir(args.logdir, args.experiment, "sweep")
    rows = []
    for lr in lrs:
        run_args = _argparse.Namespace(**vars(args))
        run_args.lr, run_args.logdir, run_args.experiment, run_args.impl = lr, str(exp), f"lr={lr:g}", impls[0]
        run_args.checkpoint_dir = None
        if not args.quiet:
            print(f"--- lr {lr:g} ---")
        try:
            runner, outcome = run_training(run_args, command, impls)
            if outcome.interrupted_by is not None:
                return outcome.interrupted_by
            for impl in impls:               # --impl both: each twin its own row
                history = outcome.histories[impl]
                last = history.epochs[-1]
                rows.append(dict(lr=lr, impl=impl, first_loss=history.step_loss[0], train_loss=last["train_loss"],
                                 test_accuracy=last["test_accuracy"], diverged=False, note=""))
        except NonFiniteLoss as e:
            rows += [dict(lr=lr, impl=impl, first_loss=None, train_loss=None, test_accuracy=None, diverged=True,
                          note=f"non-finite loss at step {e.step}" + (f" ({e.twin} twin)" if len(impls) > 1 else ""))
                     for impl in impls]
    finite = [r["train_loss"] for r in rows if r["train_loss"] is not None and r["train_loss"] == r["train_loss"]]
    for r in rows:
        r["verdict"] = sweep_verdict(r["first_loss"] or 0.0, r["train_loss"], r["diverged"], min(finite, default=None))
    good = [r for r in rows if r["verdict"] == "learns"]
    best = max(good, key=lambda r: r["test_accuracy"]) if good else None
    both = len(impls) > 1
    print(f"\nlearning-rate sweep: {' and '.join(impls)} twin{'s' if both else ''}, {args.epochs or 'default'} "
          f"epoch(s) each; logs: {exp}")
    twin_head = f"{'twin':>8}" if both else ""
    print(f"{'lr':>10}{twin_head}{'first loss':>12}{'train loss':>12}{'test acc':>10}  verdict")
    for r in rows:
        fmt = lambda v, f: "-" if v is None else format(v, f)
        mark = "  <- best" if r is best else ""
        twin = f"{r['impl']:>8}" if both else ""
        print(f"{r['lr']:>10g}{twin}{fmt(r['first_loss'], '.4f'):>12}{fmt(r['train_loss'], '.4f'):>12}"
              f"{fmt(r['test_accuracy'], '.4f'):>10}  {r['verdict']}{' (' + r['note'] + ')' if r['note'] else ''}{mark}")
    print(f"view: {program('tensorboard')} --logdir {exp}")
    write_json(args.json, {"logdir": str(exp), "impl": args.impl, "runs": rows,
                           "best_lr": best["lr"] if best else None})
    return EXIT_OK


# --- optimcheck ------------------------------------------------------------------------------
def cmd_optimcheck(args) -> int:
    from compare.optimcheck import check, format_report

    overrides = {k: v for k, v in dict(lr=args.lr, momentum=args.momentum, alpha=args.alpha, eps=args.eps,
                                       beta1=args.betas[0] if args.betas else None,
                                       beta2=args.betas[1] if args.betas else None).items() if v is not None}
    report = check(args.plugin_optimizer, steps=args.steps, dtype=args.dtype, seed=args.seed, overrides=overrides)
    print(format_report(report))
    write_json(args.json, report.to_dict())
    return EXIT_OK if report.passed else EXIT_MISMATCH


# --- plot ------------------------------------------------------------------------------------
def cmd_plot(args) -> int:
    """One PNG per run: the run directory given, or each run under a sweep directory or ``runs/``."""
    from compare.plot import plot, run_dirs
    from compare.resources import os_error_line

    runs = run_dirs(Path(args.run_dir)) or [Path(args.run_dir)]    # none: plot() says why in one line
    if len(runs) > 1 and args.output:
        raise ConfigError(f"{args.run_dir} holds {len(runs)} runs; drop -o to write RUN/plot.png for each, "
                          f"or give one run directory (e.g. {runs[0]})")
    wrote = 0
    for run in runs:
        try:
            out = plot(run, args.output)
        except OSError as e:
            raise ResourceError(os_error_line(e, str(args.output or run))) from None
        except DataError as e:
            if len(runs) == 1:
                raise
            print(f"skipped {run}: {e}", file=sys.stderr)
            continue
        print(f"wrote {out}")
        wrote += 1
    return EXIT_OK if wrote else EXIT_USAGE


# --- bench -----------------------------------------------------------------------------------
def cmd_bench(args) -> int:
    from compare.bench import run_bench
    from compare.data import ensure_mnist, resolve_root
    from torch_impl.device import resolve_device, strict_numerics

    if args.dataset != "mnist":
        raise ConfigError(f"--dataset {args.dataset}: bench times MNIST only (its figures are MNIST's)")
    try:
        batch_sizes = [int(v) for v in args.batch_sizes.split(",")]
    except ValueError:
        raise ConfigError(f"--batch-sizes {args.batch_sizes!r} is malformed; give e.g. 64,256") from None
    try:
        nprocs = [int(v) for v in args.nprocs.split(",")] if args.nprocs else []
    except ValueError:
        raise ConfigError(f"--nproc {args.nprocs!r} is malformed; give e.g. 1,2") from None
    if any(n < 1 for n in nprocs):
        raise ConfigError("--nproc: every process count must be at least 1")
    dtypes = [d.strip() for d in args.dtypes.split(",")]
    if "float32" not in dtypes or any(d not in DTYPES for d in dtypes):
        raise ConfigError(f"--dtypes {args.dtypes!r}: give float32 and optionally float64")
    if any(b < 1 for b in batch_sizes) or args.repeats < 1:
        raise ConfigError("--batch-sizes and --repeats must be at least 1")
    device = resolve_device(args.device)
    strict_numerics()
    root = ensure_mnist(resolve_root(args.data_dir), download=not args.no_download)
    log = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    start_up_done()
    r = run_bench(root, batch_sizes=batch_sizes, dtypes=dtypes, repeats=args.repeats, device=device,
                  baseline=not args.no_baseline, startup=not args.no_startup, nprocs=nprocs, log=log)
    print(format_bench(r))
    write_json(args.json, r)
    return EXIT_OK


def format_bench(r: dict) -> str:
    from compare.bench import outside_parts_text

    env = r["environment"]
    blas = ", ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)"
                     for b in env["blas"]) or "unknown"
    lines = ["", f"simplenet bench - {r['train_examples']} training images, one epoch per sample, "
                 f"{r['repeats']} repeats (median; min in brackets)",
             f"machine: {env['platform']}, {r['cpu_count']} cores; numpy BLAS: {blas}; torch {env['torch']} "
             f"({env['torch_blas']}, {env['torch_threads']} threads); torch device {r['device']}",
             f"FLOPs: {r['flops_per_sample'] / 1e3:.1f} kFLOP per sample, {r['flops_per_epoch'] / 1e9:.1f} GFLOP "
             "per epoch; GEMM peak " + ", ".join(f"{d} {p['flops'] / 1e9:.0f} GFLOP/s" for d, p in r["gemm_peak"].items())
             + " -> floor " + ", ".join(f"{d} {r['flops_per_epoch'] / p['flops']:.3f}s"
                                        for d, p in r["gemm_peak"].items()),
             "load MNIST into memory: " + ", ".join(f"{k} {v['median']:.2f}s" for k, v in r["load_seconds"].items()),
             "", f"{'training epoch':<30}{'batch':>6}{'seconds':>18}{'µs/step':>10}{'× floor':>9}"]
    for key, s in r["epoch_seconds"].items():
        impl, dt, bs = key.split("/")
        lines.append(f"{impl + ' twin, ' + dt:<30}{bs:>6}{s['median']:>10.3f} [{s['min']:.3f}]"
                     f"{s['us_per_step']:>10.0f}{s['x_floor']:>9.1f}")
    for bs, s in r["lockstep"].items():
        lines.append(f"{'lockstep compare, float32':<30}{bs:>6}{s['median']:>10.3f} [{s['min']:.3f}]"
                     f"   vs {s['separate_sum']:.3f}s apart = {s['ratio']:.2f}×")
    for key, s in r.get("plain_loops", {}).items():
        impl, bs = key.split("/")
        base = "plain NumPy loop" if impl == "manual" else "plain torch loop"
        floor = r["gemm_floor"][bs]["seconds_per_step"]
        lines.append(f"{base + ', float32':<30}{bs:>6}{s['median']:>10.3f} [{s['min']:.3f}]"
                     f"   {impl} twin {s['twin_ratio']:.2f}× it (round by round; fastest to fastest "
                     f"{s['twin_ratio_of_fastest']:.2f}×); GEMM floor "
                     f"{floor * 1e6:.0f} µs/step, {impl} twin "
                     f"{r['epoch_seconds'][f'{impl}/float32/{bs}']['x_gemm_floor']:.1f}× it")
    for bs, s in r["dataloader_seconds"].items():
        lines.append(f"{'DataLoader + ToTensor, float32':<30}{bs:>6}{s['median']:>10.3f} [{s['min']:.3f}]"
                     f"   torch twin is {s['torch_speedup']:.1f}× faster")
    if "startup" in r:
        st = r["startup"]
        lines += ["", f"start-up and overhead of default commands (bare `import torch` {st['bare_import_torch']:.2f}s):",
                  f"{'command':<22}{'wall':>8}{'× import':>10}{'first step':>12}{'× import':>10}{'outside steps':>15}"]
        for name, c in st["commands"].items():
            first = (f"{c['to_first_step']:>11.2f}s{c['to_first_step_x_import']:>10.2f}"
                     f"{c['outside_steps']:>8.1f}s ({c['outside_fraction']:.0%})") if "to_first_step" in c else ""
            lines.append(f"{name:<22}{c['wall']:>7.1f}s{c['wall_x_import']:>10.2f}{first}")
            if "outside_parts" in c:
                lines.append(f"{'':<22}outside steps: {outside_parts_text(c['outside_parts'])}")
    if r.get("nproc"):
        lines += ["", f"torch twin under DDP (train --impl torch --nproc N, batch {r['batch_sizes'][0]}, steps only):"]
        for n, row in r["nproc"].items():
            if "error" in row:
                lines.append(f"  --nproc {n}: failed: {row['error']}")
                continue
            ar = row["allreduce_seconds"]
            lines.append(f"  --nproc {n}: {row['epoch_seconds']:.2f}s per epoch"
                         + (f", gradient all-reduce {ar * 1e6:.0f} µs per step" if ar else " (one process: no all-reduce)"))
    lines += ["", "targets:"]
    for t in r["targets"]:
        lines.append(f"  {'met   ' if t['met'] else 'MISSED'}  {t['target']}: {t['text']}")
    return "\n".join(lines)


def build_parser() -> Parser:
    from compare.faults import FAULTS

    parser = Parser(prog="simplenet", formatter_class=argparse.RawDescriptionHelpFormatter, description=(
        "SimpleNet twice: the same MNIST network by hand in NumPy and with PyTorch autograd,\n"
        "and the checks that prove they agree.\n\n" + __doc__.split("\n\n", 1)[1]))
    parser.set_defaults(world=None)          # the DDP world this process belongs to, set by main()
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    fmt = DefaultsShown

    g = sub.add_parser("gradcheck", formatter_class=fmt,
                       help="compare both twins' gradients, parameter by parameter, on one batch")
    g.add_argument("--dtype", default="float64", choices=DTYPES)
    g.add_argument("--batch-size", type=POSITIVE, default=64, help="examples in the batch")
    g.add_argument("--seed", type=SEED, default=0, help="seeds the initial weights and the batch draw")
    add_model_flags(g)
    add_data_flags(g)
    g.add_argument("--random-data", action="store_true", help="use random inputs instead of MNIST")
    g.add_argument("--l2", type=NONNEG, default=0.0, help="L2 regularization ½·λ·ΣW² in the loss (weights only; "
                                                         "a factory taking reg or l2 gets it)")
    g.add_argument("--l1", type=NONNEG, default=0.0, help="L1 regularization λ·Σ|W| in the loss (weights only)")
    g.add_argument("--fd", action="store_true",
                   help="also check both twins against finite differences (three-way)")
    g.add_argument("--fd-samples", type=POSITIVE, default=16, help="coordinates per parameter for --fd")
    g.add_argument("--fd-all", action="store_true", help="finite differences on every coordinate (slow)")
    g.add_argument("--inject-fault", choices=sorted(FAULTS), default=None,
                   help="break the manual backward on purpose, to watch the check fail")
    g.add_argument("--json", default=None, type=path_text, help="also write the results to this JSON file")
    add_plugin_flags(g)
    add_nproc_flag(g)
    g.set_defaults(func=cmd_gradcheck)

    t = sub.add_parser("train", help="train one twin on MNIST (or Fashion-MNIST, KMNIST), logged to TensorBoard")
    t.add_argument("--impl", choices=("manual", "torch"), required=True, help="which twin to train")
    add_train_flags(t, "train")
    add_nproc_flag(t)
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("compare", help="train both twins in lockstep from one start and one batch order")
    add_train_flags(c, "compare")
    add_nproc_flag(c)
    c.set_defaults(func=cmd_compare)

    o = sub.add_parser("overfit", help="check the pipes: can the net memorise one batch (loss < 1e-3)?")
    o.add_argument("--impl", choices=("manual", "torch", "both"), default="both", help="which twin (default: both)")
    add_train_flags(o, "overfit", exclude=("--epochs", "--schedule", "--step-size", "--gamma", "--eval-batch-size",
                                           "--logdir", "--experiment", "--checkpoint-dir", "--resume", "--log-every",
                                           "--quiet", "--no-images"),
                    defaults={"batch_size": 16, "schedule": "none"})
    o.add_argument("--max-steps", type=POSITIVE, default=1000, help="step budget (default: 1000)")
    o.add_argument("--target", type=number(float, 0, above=True), default=1e-3, help="loss to reach (default: 0.001)")
    o.set_defaults(func=cmd_overfit)

    w = sub.add_parser("sweep", help="one short training per learning rate, each its own TensorBoard run")
    w.add_argument("--impl", choices=("manual", "torch", "both"), default="torch", help="which twin (default: torch)")
    add_train_flags(w, "sweep", exclude=("--lr", "--resume", "--checkpoint-dir"), defaults={"epochs": 1})
    w.add_argument("--lr", dest="lrs", default="0.001,0.01,0.1,1",
                   help="comma-separated learning rates (default: 0.001,0.01,0.1,1)")
    w.set_defaults(func=cmd_sweep)

    oc = sub.add_parser("optimcheck", formatter_class=fmt,
                        help="your optimizer (CS231n update rules or an nnfs optimizer object) against torch.optim, "
                             "step by step; needs no data")
    oc.add_argument("--plugin-optimizer", required=True, metavar="FILE_OR_MODULE:NAME",
                    help="a cs231n rule (…optim.py:adam, sgd, sgd_momentum, rmsprop) or an nnfs optimizer class "
                         "(…:Optimizer_Adam)")
    oc.add_argument("--steps", type=POSITIVE, default=50, help="steps to compare")
    oc.add_argument("--dtype", default="float64", choices=DTYPES)
    oc.add_argument("--seed", type=SEED, default=0, help="seeds the parameters and the gradient stream")
    oc.add_argument("--lr", type=number(float, 0, above=True), default=None,
                    help="learning rate given to both (default: the plug-in's own default)")
    oc.add_argument("--momentum", type=NONNEG, default=None, help="momentum given to both (sgd_momentum)")
    oc.add_argument("--alpha", type=NONNEG, default=None, help="RMSprop decay rate given to both")
    oc.add_argument("--eps", type=NONNEG, default=None, help="epsilon given to both")
    oc.add_argument("--betas", type=parse_betas, default=None, help="Adam betas given to both")
    oc.add_argument("--json", default=None, type=path_text, help="also write the report to this JSON file")
    oc.add_argument("--traceback", action="store_true", help="show the plug-in's traceback on an error")
    oc.set_defaults(func=cmd_optimcheck)

    pl = sub.add_parser("plot", help="draw a run's curves, divergence and confusion matrices into a PNG (no server)")
    pl.add_argument("run_dir", metavar="RUN_DIR", help="the run directory a train or compare run printed (logs: …)")
    pl.add_argument("-o", "--output", default=None, metavar="FILE.png", help="where to write (default: RUN_DIR/plot.png)")
    pl.set_defaults(func=cmd_plot)

    b = sub.add_parser("bench", formatter_class=fmt,
                       help="time both twins' training epochs side by side, against a FLOP floor")
    b.add_argument("--batch-sizes", default="64,256", help="batch sizes to time, comma-separated")
    b.add_argument("--dtypes", default="float32,float64", help="dtypes to time, comma-separated")
    b.add_argument("--repeats", type=POSITIVE, default=4,
                   help="timed rounds, one epoch per figure each (min and median shown); an even number puts "
                        "each twin before and after its plain loop equally often")
    b.add_argument("--device", default="cpu", help="torch twin's device: auto, cpu, cuda or mps")
    b.add_argument("--no-baseline", action="store_true", help="skip the slow DataLoader + ToTensor baseline")
    b.add_argument("--nproc", dest="nprocs", default=None, metavar="N,M",
                   help="also time train --impl torch under DDP with these process counts, e.g. 1,2 "
                        "(epoch time and one step's all-reduce)")
    b.add_argument("--no-startup", action="store_true",
                   help="skip timing whole default commands (gradcheck, train, compare; about two minutes)")
    add_data_flags(b)
    b.add_argument("--json", default=None, help="also write the figures to this JSON file")
    b.add_argument("--quiet", action="store_true", help="print only the final table")
    b.set_defaults(func=cmd_bench)
    return parser


def quiet_writer_threads() -> None:
    """TensorBoard's writer thread re-raises a failed write (disk full) in itself, printing a second
    traceback; the main thread reports the same error in one line, so that thread keeps quiet."""
    import threading

    default = threading.excepthook

    def hook(info):
        if issubclass(info.exc_type, OSError) and type(info.thread).__name__ == "_AsyncWriterThread":
            return
        default(info)
    threading.excepthook = hook


def resource_error_line(e: BaseException) -> str | None:
    """One line for a failure of the machine (exit 4), or None if ``e`` is not one."""
    from compare.resources import os_error_line

    if isinstance(e, OSError):
        stream = getattr(e, "stream", None)
        if stream is not None:
            return (f"writing to {stream}: {e.strerror or e}; send the output somewhere with room "
                    "(a file on another disk), or use --quiet / --json")
        return os_error_line(e)
    if isinstance(e, MemoryError):
        return f"out of memory ({' '.join(str(e).split()) or 'an allocation failed'}); use a smaller --hidden, " \
               "--batch-size or --eval-batch-size, or float32"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(e, getattr(torch, "OutOfMemoryError", ())) or (
            isinstance(e, RuntimeError) and "can't allocate memory" in str(e)):
        return f"out of memory ({' '.join(str(e).split())[:160]}); use a smaller --hidden, --batch-size or " \
               "--eval-batch-size, or float32"
    return None


def program(name: str) -> str:
    """How to run ``name`` from the user's shell: its bare name when it is on PATH, else its path in this
    environment's bin (scripts/run.sh puts .venv/bin on PATH only while it runs)."""
    import shutil

    here = Path(sys.executable).parent / name
    found = shutil.which(name)
    if found or not here.exists():
        return name
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


class Guarded:
    """Standard output as it was, but a failed write (a full disk behind a redirection, a closed pipe)
    is marked as the stream's, so that it is reported as that and not as a file of the run's."""

    def __init__(self, stream, name: str):
        self._stream, self._name = stream, name

    def _marked(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            e.stream = self._name
            try:                       # later flushes (at exit) go nowhere instead of failing again
                os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            raise

    def write(self, text):
        return self._marked(self._stream.write, text)

    def flush(self):
        return self._marked(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def check_json_path(path: str | None) -> None:
    """--json must name a file in a writable directory: refused before any training, not after."""
    if not path:
        return
    from compare.resources import probe_writable

    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"--json {path}: is a directory; give a file path, e.g. {target / 'results.json'}")
    if not target.parent.exists():
        raise ConfigError(f"--json {path}: the directory {target.parent} does not exist")
    probe_writable(target.parent, "--json")


def add_nproc_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nproc", type=POSITIVE, default=1, metavar="N",
                   help="run the torch twin in N processes under torch's DistributedDataParallel, launched by "
                        "torch.distributed.run (gloo on CPU, NCCL on CUDA; default: 1, one process)")
    p.add_argument("--force", action="store_true",
                   help="allow --nproc above this machine's core count on the CPU (slow: they share cores)")


def check_nproc(args, nproc: int) -> None:
    """Before any worker is spawned: cores (CPU), devices (CUDA) and memory for N processes."""
    import os

    from compare import resources

    device = getattr(args, "device", "cpu")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device == "cuda" or (device == "auto" and nproc > 1 and cuda_count() > 0):
        have = cuda_count()
        if nproc > have:
            raise ConfigError(f"--nproc {nproc}: this machine has {have} CUDA device(s), one per process is needed")
    elif nproc > cores and not args.force:
        raise ConfigError(f"--nproc {nproc}: this machine has {cores} cores for {nproc} CPU processes, which would "
                          "only share them; use at most {cores}, or add --force".replace("{cores}", str(cores)))
    per_process = 600 * 2**20          # a worker's resident size with torch loaded and a default run (measured ~0.5 GB)
    available = resources.available_memory()
    if available is not None and nproc * per_process > available:
        raise ConfigError(f"--nproc {nproc}: {nproc} processes need about {nproc * per_process / 2**30:.1f} GiB of "
                          f"memory, {available / 2**30:.1f} GiB is available; use fewer")


def cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def distributed_start(args, argv: list[str]):
    """(exit code, None) when this process launched workers and is done; (None, world) otherwise.

    Launched by ``--nproc N`` or by a user's own ``torchrun`` (the launcher's environment), a worker
    joins its process group later, once its device is known."""
    from compare import distributed

    world = distributed.from_environment()
    nproc = getattr(args, "nproc", 1)
    wants = nproc > 1 or (world is not None and world.size > 1)
    if wants and (args.command == "train" and args.impl != "torch"):
        raise ConfigError("--nproc runs the torch twin under DDP; use it with train --impl torch, compare or "
                          "gradcheck (the manual twin is one process, in rank 0)")
    if wants and args.command not in ("train", "compare", "gradcheck"):
        raise ConfigError(f"--nproc applies to train --impl torch, compare and gradcheck, not {args.command}")
    if world is None and nproc > 1:
        check_nproc(args, nproc)
        start_up_done()               # this process only waits on its workers now, for as long as they run
        return distributed.launch(argv, nproc, getattr(args, "step_timeout", None)), None
    if world is not None and world.size > 1:
        distributed.die_with_parent()
        distributed.silence_followers(world)
        return None, world
    return None, None


def peer_lost_line(e: BaseException, args) -> str | None:
    """Under DDP, a collective that fails because another rank is gone: one line, exit 4."""
    world = args.world
    dist = sys.modules.get("torch.distributed")
    if world is None or dist is None or not isinstance(e, RuntimeError):
        return None
    if isinstance(e, getattr(dist, "DistError", ())) or "gloo" in str(e).lower() or "nccl" in str(e).lower() \
            or "Connection closed" in str(e) or "timed out" in str(e).lower():
        return f"rank {world.rank}: lost contact with the other ranks ({' '.join(str(e).split())[:120]}); " \
               "one of them stopped - see its line"
    return None


def main(argv: list[str] | None = None) -> int:
    owner = argv is None        # the process's own command line (console script, python -m, DDP workers)
    if owner:
        # Start-up: importing torch makes about a million objects and no garbage, yet set off ~770
        # collections (0.5 s, a sixth of the import).  Collection resumes, with those objects frozen,
        # once the twins are built or workers launched (start_up_done); gradcheck and plot are over
        # by then.
        gc.disable()
    code = run_command(argv)
    if owner:
        # The process exits next; the system takes its memory back.  With torch loaded, the
        # collections of the interpreter's shutdown took 1.0-1.3 s (0.3 s frozen).  Everything the
        # run wrote is closed by now.  Tests that call main(argv) are not affected by either.
        gc.freeze()
    return code


def start_up_done() -> None:
    """The command's modules are loaded and its twins built: if main() held the cycle collector back,
    those objects go to the permanent generation and collection resumes for the long part."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def count_sigint(signum, frame):
    """SIGINT as Python's default handler treats it (KeyboardInterrupt), counted, so that a plug-in
    raising KeyboardInterrupt itself is told from a real Ctrl-C (compare.plugins)."""
    SIGNALS.count += 1
    raise KeyboardInterrupt


def run_command(argv: list[str] | None) -> int:
    import signal

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        try:
            signal.signal(signal.SIGINT, count_sigint)
        except ValueError:            # not the main thread
            pass
    command = (argv if argv is not None else sys.argv[1:])[:1] or ["?"]
    stdout = sys.stdout
    sys.stdout = Guarded(stdout, "standard output")
    try:
        code = run_parsed(argv)
        sys.stdout.flush()
        return code
    except OSError as e:         # the stream itself failed (after the command was done)
        if getattr(e, "stream", None) is None:
            raise
        print(f"simplenet {command[0]}: error: {resource_error_line(e)}", file=sys.stderr)
        return EXIT_RESOURCE
    except KeyboardInterrupt:
        print(f"simplenet {command[0]}: interrupted (Ctrl-C); what was already written is kept", file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout


def run_parsed(argv: list[str] | None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    quiet_writer_threads()
    try:
        check_json_path(getattr(args, "json", None))
        code, args.world = distributed_start(args, argv)
        if code is not None:
            return code
        try:
            return args.func(args)
        finally:
            if args.world is not None:
                from compare.distributed import finish

                finish()
    except Exception as e:
        if isinstance(e, NonFiniteLoss):
            print(f"simplenet {args.command}: error: {e}", file=sys.stderr)
            return EXIT_DIVERGED
        machine = str(e) if isinstance(e, ResourceError) else resource_error_line(e) or peer_lost_line(e, args)
        if machine is not None:
            print(f"simplenet {args.command}: error: {machine}", file=sys.stderr)
            return EXIT_RESOURCE
        if not isinstance(e, user_errors()):
            raise
        cause = getattr(e, "cause", None)
        if cause is not None and getattr(args, "traceback", False):
            import traceback

            traceback.print_exception(type(cause), cause, cause.__traceback__)
        print(f"simplenet {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE


def user_errors() -> tuple[type, ...]:
    """Exceptions that mean the user's input is at fault (torch-side ones only once torch is loaded)."""
    errors = [ConfigError, DataError, CheckpointError]
    if "torch_impl.device" in sys.modules:
        errors.append(sys.modules["torch_impl.device"].DeviceError)
    return tuple(errors)


if __name__ == "__main__":
    sys.exit(main())
