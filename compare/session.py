"""A run from start to finish, with plain values in and results out: the config and what ``--resume``
brings back, the twins built from one initial state, the run directory, the shared loop, and the
results each command writes.  The CLI (``compare.cli``) and the library (``compare.api``) both call
these; nothing here prints a report (``compare.report`` formats them) or knows argparse.

Each function takes the run's ``RunOptions`` and its process ``World`` explicitly; the world that a
DDP run joins (its backend is known once the device is) comes back in the result.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from compare import architecture, follow, tags
from compare.checkpoint import unlock_run_dir
from compare.config import ModelSpec, TrainConfig
from compare.datasets import DataError
from compare.errors import CheckpointError, ConfigError, NonFiniteLoss, ResourceError
from compare.options import RunOptions
from compare.process import program, start_up_done, write_file


@dataclass
class Run:
    """A finished (or stopped) training run: its runner and the loop's outcome."""

    runner: object
    outcome: object

    @property
    def stopped(self) -> int | None:
        """The exit code the run stopped with (interrupted, abandoned), or None when it finished."""
        return self.outcome.interrupted_by


def resolve_config(opts: RunOptions, command: str, impls: list[str]):
    """(config, options, checkpoint to resume or None, its meta) from the options and ``--resume``; the
    options come back with the checkpoint's implementation filled in."""
    given = opts.overrides
    if not opts.resume:
        return TrainConfig(**given), opts, None, None
    from compare import checkpoint

    ckpt = checkpoint.find(opts.resume)
    meta = checkpoint.read_meta(ckpt, impls)
    if meta["command"] != command or meta["impls"] != impls:
        wrote = f"simplenet {meta['command']}" + (f" --impl {meta['impls'][0]}" if meta["command"] == "train" else "")
        raise CheckpointError(f"{ckpt} was written by `{wrote}`; resume it with that command")
    implementation = meta.get("implementation", {})
    written = implementation.get("target", "manual")
    if opts.manual is not None and opts.manual != written:
        raise CheckpointError(
            f"{ckpt} was written with --manual {written}, not {opts.manual}; "
            "drop --manual to resume it, or start a new run"
        )
    opts = replace(opts, manual=written, plugin_optimizer=opts.plugin_optimizer or implementation.get("optimizer"))
    cfg = TrainConfig.from_dict(meta["config"])
    for key, value in given.items():
        if key != "epochs" and getattr(cfg, key) != value:
            shown = value.describe() if key == "spec" else value
            theirs = getattr(cfg, key).describe() if key == "spec" else getattr(cfg, key)
            raise CheckpointError(
                f"{ckpt} was made with {key}={theirs}, not {shown}; drop that flag to resume, or start a new run"
            )
    if "epochs" in given and given["epochs"] != cfg.epochs:
        done = meta["epoch"] + (1 if meta.get("step_in_epoch") else 0)
        if given["epochs"] < done:
            raise CheckpointError(
                f"--epochs {given['epochs']}: {ckpt} has already trained {done} epoch(s); resume with "
                f"--epochs {cfg.epochs} (or at least {done}), or start a new run"
            )
        if cfg.schedule == "cosine":
            # the cosine horizon is the run's length: the epochs already trained followed a schedule that a
            # fresh run of the new length would not have had, so the result could match neither run
            raise CheckpointError(
                f"--epochs {given['epochs']}: {ckpt} follows a cosine schedule over {cfg.epochs} epochs, which "
                f"its first {done} epoch(s) already trained with; a different length is another run - resume "
                f"with --epochs {cfg.epochs}, or start a new run (--schedule none or step can be extended)"
            )
        cfg = cfg.replace(epochs=given["epochs"])
    return cfg, opts, ckpt, meta


def load_plugin(opts: RunOptions, spec: ModelSpec, dtype: str, l2: float = 0.0, l1: float = 0.0):
    """The implementation ``--manual`` names, adapted to the protocol (not yet loaded with weights)."""
    from compare import plugins

    return plugins.load(opts.manual or plugins.DEFAULT_TARGET, spec, dtype, convention=opts.convention, l2=l2, l1=l1)


def build_twins(opts: RunOptions, cfg: TrainConfig, impls: list[str], world):
    """Resolve the device, the hand-written implementation and the data, and build the requested twins
    from ONE initial state: (twins, device, data root, world joined)."""
    import numpy as np

    from compare import distributed
    from compare.data import ensure_mnist, resolve_root
    from compare.datasets import check_files, locate_all
    from compare.twins import ManualTwin, initial_state

    if "manual" not in impls and opts.manual not in (None, "manual"):
        raise ConfigError(f"--manual {opts.manual} names the hand-written side; --impl torch trains autograd only")
    architecture.check_shards(cfg.spec, world.size)
    root = resolve_root(opts.data_dir)
    here = all(path is not None for path in locate_all(root, cfg.dataset).values())
    if here or not opts.download:  # before torch is imported: missing or damaged files are one line at once
        check_files(ensure_mnist(root, download=False, dataset=cfg.dataset), cfg.dataset)
    if "torch" in impls:
        from torch import device as torch_device

        from torch_impl.device import resolve_device, strict_numerics

        device = resolve_device(opts.device)
        if world.size > 1 and device.type == "cuda":
            device = torch_device(f"cuda:{world.local_rank}")  # one device per rank
        strict_numerics()
    elif opts.device not in ("auto", "cpu"):
        raise ConfigError(f"--device {opts.device}: the manual twin runs on the CPU only; drop --device")
    else:
        device = "cpu"  # the hand-written twin alone: NumPy on the CPU, torch never imported
    if world.size > 1:
        world = distributed.init(world, device.type)
        impls = [i for i in impls if i == "torch" or world.leader]  # the manual twin runs in rank 0
    if len(impls) == 2 or world.size > 1:
        from compare.runner import lockstep_threads

        lockstep_threads()
    check_run_memory(opts, cfg, impls, device)
    impl = load_plugin(opts, cfg.spec, cfg.dtype, cfg.l2, cfg.l1) if "manual" in impls else None
    root = ensure_mnist(root, download=opts.download, dataset=cfg.dataset)  # a download once the run is valid
    state = initial_state(cfg.spec, cfg.seed)
    if opts.plugin_optimizer and "manual" not in impls:
        raise ConfigError("--plugin-optimizer updates the hand-written side; --impl torch trains autograd only")
    twins = [
        ManualTwin(cfg, state, root, impl, opts.plugin_optimizer)
        if name == "manual"
        else torch_twin(cfg, state, root, device, world)
        for name in impls
    ]
    if len(twins) == 2:
        for split in ("train", "test"):
            if not np.array_equal(twins[0].images[split], twins[1].images[split].numpy()):
                raise DataError(f"the two twins read different {split} images from {root}; check the files")
    last = len(twins[0].y_train) % cfg.batch_size or cfg.batch_size  # the rows of an epoch's last batch
    architecture.check_rows(cfg.spec, last, f"--batch-size {cfg.batch_size}: each epoch's last batch")
    follow.l2_convention(twins, cfg)
    follow.running_variance(twins, cfg)
    start_up_done()
    return twins, device, root, world


def torch_twin(cfg, state, root, device, world):
    from compare.torch_twin import TorchTwin

    return TorchTwin(cfg, state, root, device, world)


def check_run_memory(opts: RunOptions, cfg: TrainConfig, impls: list[str], device) -> None:
    """Before anything big is allocated: does the run fit in the memory that is available?"""
    from compare import resources
    from compare.data import resolve_root
    from compare.datasets import locate_all

    n_train, n_test = resources.dataset_counts(locate_all(resolve_root(opts.data_dir), cfg.dataset))
    parts = resources.memory_needed(
        cfg.spec,
        dtype=cfg.dtype,
        batch_size=cfg.batch_size,
        eval_batch_size=cfg.eval_batch_size,
        optimizer=cfg.optimizer,
        momentum=cfg.momentum,
        amsgrad=cfg.amsgrad,
        centered=cfg.centered,
        n_train=n_train,
        n_test=n_test,
        twins=len(impls),
        device_twins=int("torch" in impls and str(device) != "cpu"),
    )
    resources.check_memory(parts)


def implementation_meta(twins) -> dict:
    """Which hand-written implementation (and optimizer) ran, for checkpoints and JSON (empty for torch alone)."""
    from compare.checkpoint import file_digest

    return {
        "implementation": {
            "label": t.label,
            "target": t.model.target,
            "convention": t.model.convention,
            "optimizer": getattr(t.optimizer, "target", None),
            "files_sha256": {f: file_digest(f) for f in getattr(t.model, "files", ())},
        }
        for t in twins
        if t.name == "manual"
    }


def stored_run_dir(meta: dict, ckpt: Path) -> Path:
    """The run directory a checkpoint belongs to: stored absolute; older checkpoints stored it relative
    to the working directory they ran in, which for the default layout is the checkpoint's grandparent."""
    run_dir = Path(meta["run_dir"])
    if run_dir.is_absolute():
        return run_dir
    beside = ckpt.resolve().parent.parent
    return beside if beside.name == run_dir.name else run_dir.resolve()


def say(opts: RunOptions, *lines: str) -> None:
    if not opts.quiet:
        for line in lines:
            print(line)


def run_training(opts: RunOptions, command: str, impls: list[str], world=None) -> Run:
    """Build the twins, run the shared loop, return the run; NonFiniteLoss propagates.  Four steps:
    resolve (the config and what --resume brings, checked before the heavy imports), build (the twins,
    the data, the runner and its directories), run (the loop, which the supervisor watches step by step)
    and finish (close the logs, say how to resume)."""
    from compare.distributed import SINGLE

    world = world or SINGLE
    plan = resolve(opts, command, impls, world)
    runner, lock = build(plan, world)
    try:
        outcome = run_loop(runner)
    finally:
        unlock_run_dir(lock)
    return finish(plan, runner, outcome)


@dataclass
class Plan:
    """What a run is before anything heavy is loaded: its config, options, and the checkpoint it resumes."""

    opts: RunOptions
    command: str
    impls: list[str]
    cfg: TrainConfig
    ckpt: Path | None
    meta: dict | None


def resolve(opts: RunOptions, command: str, impls: list[str], world) -> Plan:
    """The config and what --resume brings back; the directories the run will write, probed."""
    from compare.resources import probe_writable

    if opts.log_every < 1:
        raise ConfigError(f"--log-every {opts.log_every} must be at least 1")
    cfg, opts, ckpt, meta = resolve_config(opts, command, impls)  # checked before the heavy imports
    if ckpt is None and world.leader:  # rank 0 alone creates and writes directories
        probe_writable(opts.logdir, "--logdir")
    if opts.checkpoint_dir and world.leader:
        probe_writable(opts.checkpoint_dir, "--checkpoint-dir")
    return Plan(opts, command, impls, cfg, ckpt, meta)


def build(plan: Plan, world):
    """The twins from one initial state, their data checked against a resumed run's, the runner with its
    run directory claimed (and locked: the lock's descriptor comes back with it), restored to the
    checkpoint, its logs opened."""
    from compare import distributed
    from compare.data import fingerprint, fingerprint_change
    from compare.envcard import environment_card
    from compare.runner import Runner
    from compare.tblog import new_experiment_dir

    opts, command, impls, cfg, ckpt, meta = plan.opts, plan.command, plan.impls, plan.cfg, plan.ckpt, plan.meta
    leader = world.leader
    twins, device, root, world = build_twins(opts, cfg, impls, world)
    data_fingerprint = fingerprint(root, cfg.dataset)
    if ckpt is not None and meta.get("data_fingerprint"):
        changed = fingerprint_change(meta["data_fingerprint"], data_fingerprint)
        if changed is not None:
            raise CheckpointError(
                f"{ckpt} was trained on other data: {changed}; resume with the run's data "
                "(--data-dir), or start a new run"
            )
    hand = [t for t in twins if t.name == "manual"]
    if hand:
        say(opts, hand[0].model.header(), *hand[0].model.mapping_lines())
        if hasattr(hand[0].optimizer, "header"):
            say(opts, hand[0].optimizer.header(), *(f"  {line}" for line in hand[0].optimizer.mapping()))
    if ckpt is not None and hand:
        note = plugin_changed(meta, hand[0])
        if note:  # even with --quiet: the run that follows is not the one checkpointed
            print(note, file=sys.stderr)
    if ckpt is None and not leader:
        run_dir = Path(opts.logdir) / f"rank-{world.rank}-writes-nothing"  # never created
        checkpoint_dir = run_dir / "checkpoints"
    elif ckpt is None:
        run_dir = new_experiment_dir(
            opts.logdir, opts.experiment, command if command == "compare" else f"train-{impls[0]}"
        )
        checkpoint_dir = Path(opts.checkpoint_dir) if opts.checkpoint_dir else run_dir / "checkpoints"
    else:
        run_dir = stored_run_dir(meta, ckpt)
        checkpoint_dir = Path(opts.checkpoint_dir) if opts.checkpoint_dir else ckpt.parent
    env = environment_card(device, cfg.dtype, cfg.seed, world)
    # what its TensorBoard dashboard is scoped to (tags.scoped): kept by a resumed run
    experiment = (meta or {}).get("experiment") or (f"{opts.within}/{run_dir.name}" if opts.within else run_dir.name)
    runner = Runner(
        cfg,
        twins,
        run_dir=run_dir,
        checkpoint_dir=checkpoint_dir,
        command=command,
        world=world,
        log_every=opts.log_every,
        quiet=opts.quiet or not leader,
        env=env,
        images=opts.images,
        progress=opts.progress if leader else False,
        stop_grace=opts.stop_grace,
        step_timeout=opts.step_timeout,
        extra_meta={
            "data_dir": str(Path(root).resolve()),
            "data_fingerprint": data_fingerprint,
            "experiment": experiment,
            **implementation_meta(twins),
        },
    )
    if ckpt is not None:
        runner.restore(ckpt, meta)
        say(opts, f"resuming from {ckpt} at step {runner.global_step} (epoch {runner.epoch + 1})")
        if leader and ckpt.parent == Path(checkpoint_dir):
            from compare.checkpoint import supersede

            moved = supersede(ckpt.parent, runner.global_step)
            if moved:
                say(
                    opts,
                    f"a new branch of the run: {len(moved)} later checkpoint(s) kept as {moved[0].name}"
                    f"{' …' if len(moved) > 1 else ''}, out of --resume's way",
                )
    lock = None
    if leader:
        lock = claim_run_dir(runner, run_dir, checkpoint_dir, fresh=ckpt is None)
        card = run_dir / ("environment.json" if ckpt is None else f"environment-resume-{runner.global_step}.json")
        write_file(card, json.dumps(env, indent=2) + "\n")
        write_file(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        if command == "compare":  # a worker that ends without a verdict is recorded there (compare.supervisor)
            from compare import supervisor

            supervisor.BEACON.tell(results=run_dir / "results.json")
    runner.open_loggers(purge_step=runner.global_step + 1 if ckpt is not None else None)
    if ckpt is None:
        runner.log_config()
    if world.size > 1:  # what one step's gradient all-reduce costs here (the run's JSON reports it)
        torch_twin = next(t for t in twins if t.name == "torch")
        runner.timing.allreduce_seconds = distributed.allreduce_seconds(
            sum(p.numel() for p in torch_twin.model.parameters()), torch_twin.dtype, device
        )
    return runner, lock


def run_loop(runner):
    """The shared loop; its writers are closed whatever happens (the first failure is the one shown)."""
    try:
        outcome = runner.run()
    except BaseException:
        runner.close(failing=True)
        raise
    runner.close()
    return outcome


def finish(plan: Plan, runner, outcome) -> Run:
    if outcome.interrupted_by is not None:
        tell_how_to_resume(plan.opts, plan.command, plan.impls, outcome)
    return Run(runner, outcome)


def plugin_changed(meta: dict, hand) -> str | None:
    """A note when the plug-in's file differs from the one the checkpoint was trained with (its hash)."""
    from compare.checkpoint import file_digest

    before = (meta.get("implementation") or {}).get("files_sha256") or {}
    now = {f: file_digest(f) for f in getattr(hand.model, "files", ())}
    changed = [f for f, digest in now.items() if f in before and before[f] != digest]
    if not changed:
        return None
    return (
        f"note: {', '.join(changed)} changed since the checkpoint was written; the run resumes on the new code, "
        "so what follows is not the same run"
    )


def claim_run_dir(runner, run_dir: Path, checkpoint_dir: Path, fresh: bool) -> int | None:
    """Claim the checkpoint directory for this run (refused when another live run holds it), make the run
    directory and lock it for this process (refused while another process writes it); a fresh experiment
    directory of a refused run is not left behind.  Returns the lock (``checkpoint.unlock_run_dir``)."""
    from compare.checkpoint import claim, lock_run_dir

    try:
        runner.owns_checkpoint_dir = claim(checkpoint_dir, runner.run_id, run_dir)
    except CheckpointError:
        if fresh:
            try:
                run_dir.rmdir()
            except OSError:
                pass
        raise
    run_dir.mkdir(parents=True, exist_ok=True)
    return lock_run_dir(run_dir)


def tell_how_to_resume(opts: RunOptions, command: str, impls: list[str], outcome) -> None:
    again = f"{program('simplenet')} {command}" + (f" --impl {impls[0]}" if command == "train" else "")
    data = f" --data-dir {opts.data_dir}" if opts.data_dir else ""
    if outcome.message:
        print(
            f"simplenet {command}: {'error' if outcome.interrupted_by == ResourceError.exit_code else 'stopped'}: "
            f"{outcome.message}",
            file=sys.stderr,
        )
    else:
        print(f"interrupted at step {outcome.global_step}; checkpoint written to {outcome.checkpoint}", file=sys.stderr)
    if outcome.checkpoint is not None:
        print(f"resume with: {again} --resume {outcome.checkpoint}{data}", file=sys.stderr)


def train_results(run: Run, impl: str) -> dict:
    """What ``train`` writes to results.json (and --json)."""
    runner, outcome = run.runner, run.outcome
    history = outcome.histories[impl]
    final = history.epochs[-1]["test_accuracy"] if history.epochs else None
    payload = {
        "impl": impl,
        **implementation_meta(runner.twins),
        "config": runner.cfg.to_dict(),
        "timing": runner.timing.to_dict(),
        "epochs": history.epochs,
        "final_test_accuracy": final,
        "steps": outcome.global_step,
        "label": runner.twins[0].label,
        "logdir": str(runner.run_dir.parent),
        "run_dir": str(runner.run_dir),
    }
    write_file(runner.run_dir / "results.json", json.dumps(payload, indent=2) + "\n")
    return payload


def compare_results(run: Run) -> dict:
    """The lockstep verdict of a ``compare`` run, as results.json (and --json) hold it."""
    from compare.verdicts import lockstep_report, param_max_abs_diff

    runner, outcome = run.runner, run.outcome
    cfg = runner.cfg
    m, t = outcome.histories["manual"], outcome.histories["torch"]
    report = lockstep_report(
        outcome.histories,
        runner.twins,
        cfg.dtype,
        max_param_diff=runner.max_param_diff,
        params_left_at=runner.params_left_at,
        chaos=runner.chaos,
        classes=cfg.spec.out_features,
    )
    epochs = [
        {
            "epoch": a["epoch"],
            "manual": a,
            "torch": b,
            "abs_test_accuracy_diff": abs(a["test_accuracy"] - b["test_accuracy"]),
            "abs_test_loss_diff": abs(a["test_loss"] - b["test_loss"]),
        }
        for a, b in zip(m.epochs, t.epochs)
    ]
    measured = report["measured"]
    payload = {
        "passed": report["passed"],
        **implementation_meta(runner.twins),
        "dtype": cfg.dtype,
        "steps": outcome.global_step,
        "timing": runner.timing.to_dict(),
        "max_abs_loss_diff": measured["step_loss"],
        "max_abs_window_loss_diff": measured["window_loss"],
        "max_abs_test_accuracy_diff": measured["test_accuracy"],
        "max_abs_test_loss_diff": measured["test_loss"],
        "final_param_max_abs_diff": param_max_abs_diff(runner.twins),
        "max_param_abs_diff_along_run": measured["params"],
        "steps_within_1e-4": report["steps_within_1e-4"],
        "checks": report["checks"],
        "epochs": epochs,
        "notes": report["notes"],
        "loss_diagnosis": report["loss_diagnosis"],
        "params_left_at": report["params_left_at"],
        "judged_steps": report["judged_steps"],
        "chaos": report["chaos"],
        "config": cfg.to_dict(),
        "logdir": str(runner.run_dir.parent),
        "run_dir": str(runner.run_dir),
    }
    write_file(runner.run_dir / "results.json", json.dumps(payload, indent=2) + "\n")
    write_verdict(runner.run_dir / "divergence", payload)
    from compare.gradcheck import write_run_proof

    write_run_proof(runner)
    return payload


def write_verdict(run_dir: Path, payload: dict) -> None:
    """The verdict as the CLI prints it, with every check and tolerance, in the Text tab (Markdown)."""
    from compare.report import format_compare
    from compare.tblog import RunLogger

    logger = RunLogger(run_dir)
    verdict = "AGREE" if payload["passed"] else "MISMATCH"
    logger.markdown(
        tags.TEXT_VERDICT, f"## verdict: {verdict}\n\n```\n{format_compare(payload).strip()}\n```", payload["steps"]
    )
    logger.close()


def overfit_results(opts: RunOptions, impls: list[str], *, max_steps: int, target: float, world=None):
    """Can the net memorise one batch? (``simplenet overfit``): (results, {twin: label})."""
    from compare.debug import overfit
    from compare.distributed import SINGLE

    if max_steps < 1:
        raise ConfigError(f"--max-steps {max_steps} must be at least 1")
    if not target > 0:
        raise ConfigError(f"--target {target} must be positive")
    cfg, opts, _, _ = resolve_config(opts, "overfit", impls)
    twins, _, _, _ = build_twins(opts, cfg, impls, world or SINGLE)
    if "manual" in impls:
        print(twins[0].model.header())
        for line in twins[0].model.mapping_lines():
            print(line)
    results = overfit(twins, seed=cfg.seed, batch_size=cfg.batch_size, max_steps=max_steps, target=target)
    payload = {
        "passed": all(r.reached for r in results.values()),
        **implementation_meta(twins),
        "target": target,
        "max_steps": max_steps,
        "config": cfg.to_dict(),
        "results": {k: vars(r) for k, r in results.items()},
    }
    return payload, {t.name: t.label for t in twins}


def sweep_results(opts: RunOptions, impl: str, lrs_text: str, world=None) -> dict:
    """One short training per learning rate, each its own run (``simplenet sweep``); the stop code of
    an interrupted run is in ``stopped``."""
    from compare.debug import sweep_verdict
    from compare.tblog import new_experiment_dir

    try:
        lrs = [float(v) for v in lrs_text.split(",")]
    except ValueError:
        raise ConfigError(
            f"--lr {lrs_text!r} is malformed; give comma-separated rates such as 0.001,0.01,0.1,1"
        ) from None
    if opts.resume:
        raise ConfigError("--resume does not apply to a sweep; resume one of its runs with simplenet train")
    impls = ["manual", "torch"] if impl == "both" else [impl]
    command = "compare" if impl == "both" else "train"
    exp = new_experiment_dir(opts.logdir, opts.experiment, "sweep")
    rows = []
    for lr in lrs:
        run_opts = replace(
            opts,
            logdir=str(exp),
            experiment=f"lr={lr:g}",
            within=exp.name,
            checkpoint_dir=None,
            overrides={**opts.overrides, "lr": lr},
        )
        say(opts, f"--- lr {lr:g} ---")
        try:
            run = run_training(run_opts, command, impls, world)
            if run.stopped is not None:
                return {"stopped": run.stopped}
            for name in impls:  # --impl both: each twin its own row
                history = run.outcome.histories[name]
                last = history.epochs[-1]
                rows.append(
                    dict(
                        lr=lr,
                        impl=name,
                        first_loss=history.step_loss[0],
                        train_loss=last["train_loss"],
                        test_accuracy=last["test_accuracy"],
                        diverged=False,
                        note="",
                    )
                )
        except NonFiniteLoss as e:
            rows += [
                dict(
                    lr=lr,
                    impl=name,
                    first_loss=None,
                    train_loss=None,
                    test_accuracy=None,
                    diverged=True,
                    note=f"non-finite loss at step {e.step}" + (f" ({e.twin} twin)" if len(impls) > 1 else ""),
                )
                for name in impls
            ]
    finite = [r["train_loss"] for r in rows if r["train_loss"] is not None and r["train_loss"] == r["train_loss"]]
    for r in rows:
        r["verdict"] = sweep_verdict(r["first_loss"] or 0.0, r["train_loss"], r["diverged"], min(finite, default=None))
    good = [r for r in rows if r["verdict"] == "learns"]
    best = max(good, key=lambda r: r["test_accuracy"]) if good else None
    return {
        "logdir": str(exp),
        "impl": impl,
        "impls": impls,
        "epochs": opts.overrides.get("epochs"),
        "runs": rows,
        "best_lr": best["lr"] if best else None,
    }


def gradcheck(
    opts: RunOptions,
    spec: ModelSpec,
    *,
    batch_size: int,
    seed: int,
    dtype: str,
    dataset: str = "mnist",
    random_data: bool = False,
    fault: str | None = None,
    fd: bool = False,
    fd_samples: int | None = 16,
    l2: float = 0.0,
    l1: float = 0.0,
    world=None,
):
    """``simplenet gradcheck``: the gradient proof on one batch (MNIST's or random), with the torch side
    under DDP when ``world`` has several processes; returns the ``GradReport`` (None on a follower rank)."""
    from compare import distributed, plugins
    from compare.data import ensure_mnist, random_batch, real_batch, resolve_root
    from compare.datasets import DATASETS
    from compare.gradcheck import gradient_proof

    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size} must be at least 1")
    if random_data:
        x, y = random_batch(batch_size, seed, dtype, spec.in_features, spec.out_features)
        source = f"random N(0,1) inputs, seed {seed}"
    else:
        root = ensure_mnist(resolve_root(opts.data_dir), download=opts.download, dataset=dataset)
        x, y = real_batch(root, batch_size, seed, dtype, dataset)
        source = f"{DATASETS[dataset].title} train from {root}, seed {seed}"
    world = distributed.init(world, "cpu") if world else distributed.SINGLE
    report = gradient_proof(
        x,
        y,
        spec=spec,
        seed=seed,
        dtype=dtype,
        source=source,
        fault=fault,
        fd=fd and world.leader,
        fd_samples=fd_samples,
        manual_target=opts.manual or plugins.DEFAULT_TARGET,
        convention=opts.convention,
        world=world,
        l2=l2,
        l1=l1,
    )
    if world.size > 1:
        report.source += f"; torch: DDP over {world.size} {world.backend} processes, shards averaged"
    return report if world.leader else None
