"""The judge as a library: the command line's checks as functions, for notebooks, scripts and pytest.

    from compare import check_gradients
    report = check_gradients(my_net)          # an object, a factory, or "path/to/file.py:FACTORY"
    report.ok                                 # True / False
    print(report)                             # the CLI's table, character for character
    report                                    # in Jupyter: a coloured HTML table
    report.to_dict()                          # the CLI's --json

``compare_training`` is ``simplenet compare`` (lockstep training against autograd), ``train`` is
``simplenet train``, ``check_optimizer`` is ``simplenet optimcheck``, the same way; ``compare.testing`` has
the pytest helpers.  Everything here takes plain Python values and is quiet: it prints nothing unless
``progress=True`` (a tqdm bar: a widget in Jupyter with ipywidgets installed, else text, with no warning).
"""

from __future__ import annotations

from compare.config import ModelSpec
from compare.errors import ConfigError

__all__ = [
    "check_gradients",
    "check_layers",
    "check_optimizer",
    "compare_training",
    "train",
    "LockstepReport",
    "TrainReport",
]


def check_gradients(
    net,
    x=None,
    y=None,
    *,
    batch_size: int = 64,
    spec: ModelSpec | None = None,
    activation: str = "relu",
    norm: str = "none",
    dropout: float = 0.0,
    seed: int = 0,
    dtype: str = "float64",
    fd: bool = False,
    fd_samples: int | None = 16,
    convention: str | None = None,
    l2: float | None = None,
    l1: float = 0.0,
):
    """The gradient proof of ``net`` against autograd (``simplenet gradcheck``); returns a ``GradReport``.

    ``net`` is an object in any convention (a CS231n model, an nnfs layer list, our protocol, an
    ``MLPClassifier``), a factory (called as the CLI calls one) or a ``"FILE_OR_MODULE:FACTORY"`` string.
    An object's layer sizes are read from its parameters; the judge loads its own initial weights into
    it for the proof and puts the object's own arrays back afterwards.  ``x``/``y`` default to ``batch_size``
    standard-normal inputs and uniform labels drawn from ``seed`` (the CLI's ``--random-data``).
    ``l2`` is the run's L2 term ½·λ·ΣW²; for an object that keeps its own ``reg`` (CS231n), it defaults
    to that ``reg``, and the object computes the term itself."""
    from compare.data import caller_batch, random_batch
    from compare.gradcheck import gradient_proof
    from compare.options import check_arguments

    check_arguments(
        "gradcheck",
        "check_gradients",
        dict(
            batch_size=batch_size,
            seed=seed,
            dtype=dtype,
            fd_samples=fd_samples,
            l2=l2,
            l1=l1,
            activation=activation,
            norm=norm,
            dropout=dropout,
        ),
        required=("batch_size", "seed", "dtype", "l1", "activation", "norm", "dropout"),
    )
    target, restore = net, None
    if not (isinstance(net, str) or (callable(net) and not _is_model(net))):
        obj = net
        spec = spec or ModelSpec.from_values(
            {**sizes_of(obj), "activation": activation, "norm": norm, "dropout": dropout}
        )
        restore = _keeper(obj, spec)
        own = getattr(obj, "reg", None)
        if own is not None:
            l2 = own if l2 is None else l2
            if own != l2:
                raise ConfigError(
                    f"check_gradients: the object's reg is {own:g}, l2={l2:g}; give the same "
                    "(the object computes its own L2 term)"
                )
        target = _constant(obj, owns_reg=own is not None)
    l2 = l2 or 0.0
    spec = spec or ModelSpec.from_values({"activation": activation, "norm": norm, "dropout": dropout})
    if x is None:
        x, y = random_batch(batch_size, seed, dtype, spec.in_features, spec.out_features)
        source = f"random N(0,1) inputs, seed {seed}"
    else:
        if y is None:
            raise ConfigError("check_gradients: give y (the labels) with x")
        x, y = caller_batch("check_gradients", x, y, spec.in_features, spec.out_features)
        source = "given batch"
    try:
        return gradient_proof(
            x,
            y,
            spec=spec,
            seed=seed,
            dtype=dtype,
            source=source,
            fd=fd,
            fd_samples=fd_samples,
            manual_target=target,
            convention=convention,
            l2=l2,
            l1=l1,
        )
    finally:
        if restore is not None:
            restore()


def check_optimizer(target: str, *, steps: int = 50, dtype: str = "float64", seed: int = 0, **hyper):
    """Your optimizer against torch.optim step by step (``simplenet optimcheck``); returns an
    ``OptimReport`` (``.ok``, ``str()``, ``to_dict()``).  ``hyper`` sets lr, momentum, alpha, eps, beta1,
    beta2 for both sides."""
    from compare.optimcheck import check
    from compare.options import check_arguments

    check_arguments(
        "optimcheck", "check_optimizer", dict(steps=steps, dtype=dtype, seed=seed), ("steps", "dtype", "seed")
    )
    hyper = {k: v for k, v in hyper.items() if v is not None}  # None: the plug-in's own default, as an unset flag
    betas = {k: hyper[k] for k in ("beta1", "beta2") if k in hyper}
    rest = {k: v for k, v in hyper.items() if k not in betas}
    check_arguments(
        "optimcheck",
        "check_optimizer",
        {**rest, **({"betas": (hyper.get("beta1", 0.9), hyper.get("beta2", 0.999))} if betas else {})},
    )
    return check(target, steps=steps, dtype=dtype, seed=seed, overrides=hyper)


def check_layers(target, *, only=None, seed: int = 0, rtol: float = 1e-8):
    """Your layer functions (a CS231n ``layers.py`` path, a module name or a module object) against torch,
    function by function (``simplenet layercheck``); returns a ``LayerReport`` (``.ok``, ``str()``,
    ``to_dict()``, a table in Jupyter).  ``only`` limits it to some layers."""
    from compare.layercheck import check_layers as judge
    from compare.options import check_arguments

    check_arguments("layercheck", "check_layers", dict(seed=seed, rtol=rtol), ("seed", "rtol"))
    return judge(target, only=only, seed=seed, rtol=rtol)


class LockstepReport:
    """The verdict of a lockstep run: ``.ok``, ``.checks`` (one row per check, tolerance and verdict),
    ``.epochs``, ``.notes``, ``.run_dir``; ``str()`` is the CLI's table, ``to_dict()`` its results.json."""

    def __init__(self, payload: dict):
        self.payload = payload

    ok = property(lambda self: bool(self.payload["passed"]))
    checks = property(lambda self: self.payload["checks"])
    epochs = property(lambda self: self.payload["epochs"])
    notes = property(lambda self: self.payload["notes"])
    run_dir = property(lambda self: self.payload["run_dir"])

    def to_dict(self) -> dict:
        return self.payload

    def __str__(self) -> str:
        from compare.report import format_compare

        return format_compare(self.payload)

    def __repr__(self) -> str:
        return f"<LockstepReport {'AGREE' if self.ok else 'MISMATCH'}: {len(self.epochs)} epoch(s), {self.run_dir}>"

    def _repr_html_(self) -> str:
        from compare.report import lockstep_html

        return lockstep_html(self.payload)


class TrainReport:
    """One twin's training run: ``.final_test_accuracy``, ``.epochs`` (per-epoch figures), ``.run_dir``;
    ``str()`` is the CLI's summary, ``to_dict()`` its results.json."""

    def __init__(self, payload: dict, label: str):
        self.payload, self.label = payload, label

    ok = property(lambda self: self.payload["final_test_accuracy"] is not None)
    final_test_accuracy = property(lambda self: self.payload["final_test_accuracy"])
    epochs = property(lambda self: self.payload["epochs"])
    run_dir = property(lambda self: self.payload["run_dir"])

    def to_dict(self) -> dict:
        return self.payload

    def __str__(self) -> str:
        from compare.report import format_train

        return format_train(self.payload, self.label)

    def __repr__(self) -> str:
        return f"<TrainReport {self.label}: test accuracy {self.final_test_accuracy}, {self.run_dir}>"


def _run_options(net, *, logdir, experiment, data_dir, download, device, progress, spec_given, config, activation):
    """RunOptions and config overrides for the API's training functions; an in-memory object goes in
    through a factory that returns it (its sizes read from its parameters)."""
    from compare.options import RunOptions

    spec = config.pop("spec", None)
    model = {k: config.pop(k, None) for k in ("hidden", "norm", "dropout")}  # the CLI's model flags
    manual = net
    if net is not None and not (isinstance(net, str) or (callable(net) and not _is_model(net))):
        spec = spec or ModelSpec.from_values({**model, **sizes_of(net), "activation": activation})
        manual = _constant(net)
    if spec is None and (any(v is not None for v in model.values()) or spec_given):
        spec = ModelSpec.from_values({**model, "activation": activation})
    overrides = {k: v for k, v in config.items() if v is not None}
    if spec is not None:
        overrides["spec"] = spec
    return RunOptions(
        logdir="runs" if logdir is None else str(logdir),  # None: the default, as SummaryWriter(log_dir=None)
        experiment=experiment,
        data_dir=None if data_dir is None else str(data_dir),
        download=download,
        device=device,
        quiet=True,
        progress=progress,
        manual=manual,
        overrides=overrides,
    )


def _run(net, command: str, impls: list[str], config: dict, where: dict, activation: str, progress: bool):
    """One training run of the API, as the CLI's ``command`` runs it."""
    from compare.options import check_arguments
    from compare.session import run_training

    function = {"compare": "compare_training"}.get(command, command)
    check_arguments(command, function, {**config, **{k: v for k, v in where.items() if k != "download"}})

    opts = _run_options(
        net, progress=progress, spec_given=activation != "relu", activation=activation, config=config, **where
    )
    run = run_training(opts, command, impls)
    if run.stopped is not None:
        raise KeyboardInterrupt(f"the run stopped at step {run.outcome.global_step} (exit {run.stopped})")
    return run


def compare_training(
    net="manual",
    *,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float | None = None,
    optimizer: str = "sgd",
    dtype: str = "float32",
    seed: int = 0,
    hidden=None,
    activation: str = "relu",
    schedule: str = "cosine",
    logdir="runs",
    experiment: str | None = None,
    data_dir=None,
    download: bool = True,
    device: str = "auto",
    progress: bool = False,
    **config,
) -> LockstepReport:
    """Train ``net`` (default: our hand-written twin) and torch's autograd twin in lockstep from one start
    and one batch order on MNIST (``simplenet compare``); returns a ``LockstepReport``.

    ``net`` is what ``check_gradients`` takes.  The keyword arguments are the CLI's flags (any other
    ``TrainConfig`` field - ``momentum``, ``l2``, ``dataset``, ``betas`` … - goes in ``config``); the run is
    logged to TensorBoard under ``logdir`` as the CLI's is."""
    from compare.session import compare_results

    config = dict(config, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, dtype=dtype, seed=seed)
    config.update(schedule=schedule, hidden=hidden)
    where = dict(logdir=logdir, experiment=experiment, data_dir=data_dir, download=download, device=device)
    run = _run(net, "compare", ["manual", "torch"], config, where, activation, progress)
    return LockstepReport(compare_results(run))


def train(
    impl="torch",
    *,
    epochs: int = 15,
    batch_size: int = 64,
    lr: float | None = None,
    optimizer: str = "sgd",
    dtype: str = "float32",
    seed: int = 0,
    hidden=None,
    activation: str = "relu",
    schedule: str = "cosine",
    logdir="runs",
    experiment: str | None = None,
    data_dir=None,
    download: bool = True,
    device: str = "auto",
    progress: bool = False,
    **config,
) -> TrainReport:
    """Train one twin on MNIST (``simplenet train``): ``impl`` is ``"torch"``, ``"manual"`` or a hand-written
    network (what ``check_gradients`` takes) trained by the harness; returns a ``TrainReport``."""
    from compare.session import train_results

    name = impl if impl == "torch" else "manual"
    config = dict(config, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, dtype=dtype, seed=seed)
    config.update(schedule=schedule, hidden=hidden)
    where = dict(logdir=logdir, experiment=experiment, data_dir=data_dir, download=download, device=device)
    run = _run(None if impl in ("torch", "manual") else impl, "train", [name], config, where, activation, progress)
    return TrainReport(train_results(run, name), run.runner.twins[0].label)


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
