"""The one training loop, for one twin (``simplenet train``) or both in lockstep (``compare``).

The harness owns everything shared: the initial weights, the batch order (a permutation per
epoch drawn from ``numpy.random.default_rng((seed, epoch))``, independent of the device and
of which twin runs), logging, checkpoints and interruption.  Each twin only does its step.
"""

from __future__ import annotations

import math
import re
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import manual.optim
from compare import checkpoint, distributed, divergence, pictures, supervisor, tags
from compare.architecture import affine_bias, affine_name, affine_weight
from compare.architecture.dropout import step_masks
from compare.config import TrainConfig
from compare.distributed import SINGLE, World
from compare.errors import StepAbandoned
from compare.process import progress_bar
from compare.supervisor import StopRequest
from compare.tblog import RunLogger
from compare.verdicts import LOCKSTEP_TOLERANCE, param_max_abs_diff


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The batch order of ``epoch``: a pure function of (seed, epoch), so a resumed run
    regenerates it exactly and no RNG state has to be carried across a checkpoint."""
    return np.random.default_rng((seed, epoch)).permutation(n)


class Stepper:
    """Steps every twin on the same batch.  With two twins the torch twin's step runs in a worker
    thread while the manual twin's runs in this one, and the two are joined before the next step:
    still lockstep, each twin's arithmetic unchanged, but the machine's cores work on both at once
    (run back to back on the same cores, two BLAS thread pools spin against each other)."""

    def __init__(self, twins):
        self.twins = twins
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="torch-twin") if len(twins) == 2 else None

    def step(self, s: int, lo: int, hi: int, masks: dict) -> None:
        """``masks``: the step's dropout keep-masks, drawn once and handed to every twin."""
        if self.pool is None:
            self.twins[0].step(s, lo, hi, masks)
            return
        other = self.pool.submit(self.twins[1].step, s, lo, hi, masks)
        try:
            self.twins[0].step(s, lo, hi, masks)
        finally:
            other.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def lockstep_threads() -> None:
    """One BLAS/intra-op thread per twin for lockstep runs: the two twins then share the cores."""
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    torch.set_num_threads(1)


class NullLogger:
    """What ranks other than 0 log: nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@dataclass
class History:
    step_loss: list[float] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    diagnostics: list[dict] = field(default_factory=list)


@dataclass
class RunTiming:
    """Where a run's wall time went: inside the training steps, when the first one began (time.time()),
    the parts outside them, and under DDP what one gradient all-reduce costs."""

    step_seconds: float = 0.0
    first_step_at: float | None = None
    outside: dict = field(default_factory=lambda: {"step_logging": 0.0, "epoch_ends": 0.0, "checkpoints": 0.0})
    # the epoch ends' parts (their sum is outside["epoch_ends"], less the loop between them)
    epoch_end: dict = field(
        default_factory=lambda: {"evaluation": 0.0, "diagnostics": 0.0, "histograms": 0.0, "pictures": 0.0}
    )
    world_size: int = 1
    allreduce_seconds: float | None = None

    def to_dict(self) -> dict:
        return {
            "step_seconds": self.step_seconds,
            "first_step_at": self.first_step_at,
            "outside_steps_seconds": dict(self.outside),
            "epoch_end_seconds": dict(self.epoch_end),
            "world_size": self.world_size,
            "allreduce_seconds": self.allreduce_seconds,
        }


@dataclass
class Outcome:
    histories: dict[str, History]
    global_step: int
    interrupted_by: int | None = None
    checkpoint: Path | None = None
    message: str | None = None  # why the run stopped early, when a step was abandoned


class _NoBar:
    def update(self, n):
        pass

    def set_postfix(self, **kw):
        pass


class Runner:
    """Drives ``twins`` (1 or 2) through ``cfg.epochs`` epochs over the same batches."""

    def __init__(
        self,
        cfg: TrainConfig,
        twins: list,
        *,
        run_dir: Path,
        checkpoint_dir: Path,
        command: str,
        extra_meta: dict | None = None,
        log_every: int = 50,
        quiet: bool = False,
        progress: bool | None = None,
        env: dict | None = None,
        images: bool = True,
        world: World = SINGLE,
        stop_grace: float | None = 5.0,
        step_timeout: float | None = None,
    ):
        self.cfg, self.twins = cfg, twins
        self.run_dir, self.checkpoint_dir, self.command = Path(run_dir), Path(checkpoint_dir), command
        self.extra_meta = extra_meta or {}
        # the name its dashboard is scoped to (compare.tags.scoped): the experiment's, a sweep's "sweep-…/lr=0.1"
        self.experiment = self.extra_meta.get("experiment") or self.run_dir.name
        self.log_every, self.quiet, self.env = max(1, log_every), quiet, env or {}
        self.graph = None  # the torch twin's module graph, being traced (a Future)
        # a progress bar: asked for (the API's progress=True), else on a terminal unless quiet
        self.progress = progress if progress is not None else not quiet and sys.stderr.isatty()
        self.images, self.world = images and world.leader, world  # pictures are rank 0's to make
        self.sync_device = next((t.device for t in twins if t.name == "torch"), None)
        self.n = len(twins[0].y_train)
        self.steps_per_epoch = math.ceil(self.n / cfg.batch_size)
        self.histories = {t.name: History() for t in twins}
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.partial: dict | None = None
        self.max_param_diff, self.params_left_at = 0.0, None  # the trajectory's |Δθ|, and where it left
        # the last read-back's |Δθ| before the twins parted, and what re-synchronising there found
        self.gap_before, self.chaos = 0.0, None
        self.stop_grace, self.step_timeout = stop_grace, step_timeout
        self.last_checkpoint: Path | None = None
        # one run, one checkpoint directory: an id stored with every checkpoint; pruning touches only this
        # run's checkpoints, and in a directory it does not own only those this process wrote
        self.run_id, self.owns_checkpoint_dir, self.written = uuid.uuid4().hex, True, []
        self.timing = RunTiming(
            world_size=world.size
        )  # where the wall time went: the run's JSON and bench read this record
        # and outside them: per-step losses read back, checked and logged; epoch ends (evaluation,
        # diagnostics, histograms, pictures); checkpoints (seconds, for bench)
        self.loggers: dict[str, RunLogger] = {}
        self.before_last_step: dict[str, dict[str, np.ndarray]] = {}  # for the update-to-weight ratio

    # --- resume ---------------------------------------------------------------------------
    def restore(self, ckpt: Path, meta: dict) -> None:
        self.last_checkpoint = ckpt
        self.run_id = meta.get("run_id") or self.run_id
        for twin in self.twins:
            checkpoint.restore_twin(ckpt, twin)
        self.epoch, self.step_in_epoch, self.global_step = meta["epoch"], meta["step_in_epoch"], meta["step"]
        self.histories = {name: History(**h) for name, h in meta["history"].items()}
        self.partial = meta.get("partial")
        self.max_param_diff = meta.get("max_param_diff", 0.0)
        self.params_left_at = meta.get("params_left_at")
        self.chaos, self.gap_before = meta.get("chaos"), meta.get("gap_before", 0.0)

    # --- logging ----------------------------------------------------------------------------
    def open_loggers(self, purge_step: int | None) -> None:
        if not self.world.leader:  # one voice: rank 0 writes TensorBoard
            self.loggers = {name: NullLogger() for name in [t.name for t in self.twins] + ["divergence"]}
            return
        for twin in self.twins:
            self.loggers[twin.name] = RunLogger(self.run_dir / twin.label, purge_step, self.experiment)
        if len(self.twins) == 2:
            self.loggers["divergence"] = RunLogger(self.run_dir / "divergence", purge_step, self.experiment)

    def log_config(self) -> None:
        """Once per run (in the first twin's run directory, not one copy per twin): the dashboard, the
        config and environment (JSON, which ``simplenet plot`` reads back) and how to read the charts."""
        first = self.loggers[self.twins[0].name]
        first.custom_scalars(dashboard(self.twins, self.experiment))
        first.text(tags.TEXT_CONFIG, {"command": self.command, "config": self.cfg.to_dict(), **self.extra_meta})
        first.text(tags.TEXT_ENVIRONMENT, self.env)
        first.markdown(tags.TEXT_HOW_TO_READ, how_to_read(self.twins, self.experiment))
        torch_twin = next((t for t in self.twins if t.name == "torch"), None)
        if torch_twin is not None and self.images:  # the Graphs tab, traced on a copy while the first epoch runs
            import copy

            from compare.tblog import module_graph

            model = copy.deepcopy(getattr(torch_twin.model, "module", torch_twin.model))
            example = torch_twin.x_test[:1].clone()
            self.graph = ThreadPoolExecutor(1, thread_name_prefix="trace-graph").submit(module_graph, model, example)

    def close(self, failing: bool = False) -> None:
        """Close every writer (all of them, even if one fails); when the run is already ``failing``
        their errors are dropped - the first failure is the one the user sees."""
        first = None
        for logger in self.loggers.values():
            try:
                logger.close()
            except Exception as e:
                first = first or e
        if first is not None and not failing:
            raise first

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> Outcome:
        alone = self.world.size == 1  # under DDP a rank must not leave a collective on its own
        stop = StopRequest(
            hard_second_sigint=alone,
            grace=self.stop_grace if alone else None,
            step_timeout=self.step_timeout if alone else None,
        )
        stepper = Stepper(self.twins)
        try:
            # NumPy's overflow warnings would only repeat what the non-finite check says in one line
            with stop, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return self._loop(stop, stepper)
        finally:
            stepper.close()

    def _loop(self, stop: StopRequest, stepper: Stepper) -> Outcome:
        cfg, twins = self.cfg, self.twins
        while self.epoch < cfg.epochs:
            e = self.epoch
            perm = epoch_permutation(cfg.seed, e, self.n)
            for t in twins:
                t.begin_epoch(perm, self.steps_per_epoch)
                if self.partial:
                    t.restore_epoch(self.partial[t.name]["correct"])
            self.partial = None
            started = time.perf_counter()
            bar = progress_bar()(
                total=self.steps_per_epoch,
                initial=self.step_in_epoch,
                leave=False,
                unit="step",
                desc=f"epoch {e + 1}/{cfg.epochs}",
                disable=not self.progress,
            )
            s = flushed = self.step_in_epoch
            while s < self.steps_per_epoch:
                lo, hi = s * cfg.batch_size, min(self.n, (s + 1) * cfg.batch_size)
                if s == self.steps_per_epoch - 1:  # for the update-to-weight ratio
                    self.before_last_step = {t.name: {k: v.copy() for k, v in t.params().items()} for t in twins}
                if self.timing.first_step_at is None:
                    self.timing.first_step_at = time.time()
                    if self.images:  # matplotlib's import overlaps the steps (begun before, it delayed the first)
                        threading.Thread(target=pictures.warm_up, name="import-matplotlib", daemon=True).start()
                t0 = time.perf_counter()
                stop.begin_step(self.global_step + 1)
                try:
                    stepper.step(s, lo, hi, step_masks(cfg.spec, cfg.seed, e, s, hi - lo))
                except StepAbandoned as abandoned:
                    stop.end_step()
                    bar.close()
                    return self._abandoned(abandoned, s, flushed)
                stop.end_step()
                self.timing.step_seconds += time.perf_counter() - t0
                if self.world.size > 1:  # for the launcher's hang watch (--step-timeout)
                    distributed.heartbeat(self.world.rank, self.global_step + 1)
                s += 1
                self.global_step += 1
                if self.world.size > 1:
                    stop.agree(self.sync_device)  # every rank stops after the same step
                if s - flushed >= self.log_every or s == self.steps_per_epoch or stop.requested:
                    with self._timed("step_logging"):
                        self._flush(flushed, s, bar)
                    flushed = s
                if stop.requested:
                    break
            bar.close()
            self.step_in_epoch = s
            if not stop.requested:
                with self._timed("epoch_ends"):
                    self._end_epoch(time.perf_counter() - started)
                self.epoch, self.step_in_epoch = e + 1, 0
            with self._timed("checkpoints"):
                ckpt = self._checkpoint()
            if stop.requested:  # mid-epoch, or during evaluation once the epoch was done: saved either way
                return Outcome(self.histories, self.global_step, stop.CODES[stop.signum], ckpt)
        self._final_hparams()
        return Outcome(self.histories, self.global_step)

    def _abandoned(self, abandoned: StepAbandoned, s: int, flushed: int) -> Outcome:
        """A step given up (grace period after a signal, or --step-timeout).  When the one twin hung
        before its update (``clean``: its parameters and optimizer are as after step s-1), the run is
        checkpointed at the steps it completed; otherwise nothing new is written, and the last
        checkpoint on disk is the one to resume from."""
        step = self.global_step + 1
        who = ", ".join(t.label for t in self.twins if t.name == "manual") or "torch"
        ckpt = self.last_checkpoint
        saved = len(self.twins) == 1 and getattr(abandoned, "clean", False)
        if saved:
            if s > flushed:
                self._flush(flushed, s, _NoBar())
            self.step_in_epoch = s
            ckpt = self._checkpoint()
        message = f"step {step} (in {who}) was abandoned: {abandoned}; " + (
            f"the {step - 1} steps before it are checkpointed"
            if saved
            else "its twins are no longer at one step, so nothing new was saved"
            + (f"; the last checkpoint is {ckpt}" if ckpt else "")
        )
        return Outcome(self.histories, self.global_step, abandoned.code, ckpt, message=message)

    @contextmanager
    def _timed(self, part: str, table: str = "outside"):
        """Add the block's wall time to ``timing.<table>[part]`` (``outside`` or ``epoch_end``)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            getattr(self.timing, table)[part] += time.perf_counter() - start

    def _flush(self, a: int, b: int, bar) -> None:
        """Read losses of steps a..b-1 back once, check them, log them."""
        first = self.global_step - (b - a) + 1  # global step numbers are 1-based
        losses = {t.name: t.host_losses(a, b) for t in self.twins}
        divergence.check_finite(self.twins, losses, first)
        for t in self.twins:
            values = losses[t.name]
            self.histories[t.name].step_loss.extend(values.tolist())
            self.loggers[t.name].step_losses(first, values, tag=tags.TRAIN_LOSS)
            self.loggers[t.name].scalars(
                {f"{tags.GRAD_NORM_STEP}/{k}": float(np.linalg.norm(g)) for k, g in t.grads().items()},
                self.global_step,
            )
        if len(self.twins) == 2:
            # the trajectory itself: both twins' parameters at every read-back (every --log-every steps)
            gap = param_max_abs_diff(self.twins)
            self.max_param_diff = max(self.max_param_diff, gap)
            tol = LOCKSTEP_TOLERANCE[self.cfg.dtype]
            loss_gap = float(np.abs(losses["manual"] - losses["torch"]).max(initial=0.0))
            if self.params_left_at is None and tol["params"] is not None and gap > tol["params"]:
                self.params_left_at = self.global_step
            # float32 judges curves, not steps: its probe goes where per-step losses first part by 1e-4
            parted = self.params_left_at is not None or loss_gap > (tol["step_loss"] or divergence.FLOAT32_PARTING)
            if parted and self.chaos is None and self.world.size == 1:  # chaos or bug: the same parameters, once
                self.chaos = divergence.departure(
                    self.twins, [self._rows(s) for s in range(a, b)], self.cfg.dtype, self.histories, first - 1
                )
                self.chaos["params_before"] = self.gap_before
            elif not parted:
                self.gap_before = gap
            gap = np.abs(losses["manual"] - losses["torch"])
            self.loggers["divergence"].step_losses(first, gap, tag=tags.ABS_LOSS_DIFF)
            # its shape on a linear axis is a step function; log10 shows 1e-7 rising to 1e-2 (0 → 1e-20)
            self.loggers["divergence"].step_losses(
                first, np.log10(np.maximum(gap, 1e-20)), tag=tags.LOG10_ABS_LOSS_DIFF
            )
        for logger in self.loggers.values():  # the buffered scalars of these steps, in one write per run
            logger.flush()
        bar.update(b - a)
        bar.set_postfix(loss=f"{next(iter(losses.values()))[-1]:.4f}")

    def _rows(self, s: int) -> np.ndarray:
        """The training rows of step ``s`` of this epoch (the twins' shared batch order)."""
        perm = next(t for t in self.twins if t.name == "manual").perm
        return np.asarray(perm[s * self.cfg.batch_size : (s + 1) * self.cfg.batch_size])

    def _end_epoch(self, seconds: float) -> None:
        e = self.epoch
        step = self.global_step
        if self.graph is not None:  # traced in a thread during the first epoch
            self.loggers["torch"].graph(self.graph.result())
            self.graph = None
        rows = {}
        for t in self.twins:
            losses = np.asarray(self.histories[t.name].step_loss[-self.steps_per_epoch :])
            sizes = np.full(self.steps_per_epoch, self.cfg.batch_size)
            sizes[-1] = self.n - self.cfg.batch_size * (self.steps_per_epoch - 1)
            with self._timed("evaluation", "epoch_end"):
                test_loss, test_acc = t.evaluate()
            row = dict(
                epoch=e + 1,
                step=step,
                lr=t.lr(),
                train_loss=float((losses * sizes).sum() / self.n),
                train_accuracy=t.host_correct() / self.n,
                test_loss=test_loss,
                test_accuracy=test_acc,
                seconds=seconds,
            )
            with self._timed("diagnostics", "epoch_end"):
                row["diagnostics"] = self._diagnostics(t)
            self.histories[t.name].epochs.append(row)
            rows[t.name] = row
            log = self.loggers[t.name]
            for held in tags.held_steps(step - self.steps_per_epoch + 1, step):  # smoothing-proof
                log.scalars({tag: row[key] for key, tag in tags.EPOCH_CURVES.items()}, held)
            log.scalars({tags.LR: row["lr"]}, step)
            log.scalars({f"{tags.PER_LAYER}/{k}": v for k, v in row["diagnostics"].items()}, step)
            with self._timed("histograms", "epoch_end"):
                log.histograms(f"{tags.HISTOGRAMS}/weights", t.params(), step)
                log.histograms(f"{tags.HISTOGRAMS}/grads", t.grads(), step)
            if self.images:
                with self._timed("pictures", "epoch_end"):
                    pictures.twin_pictures(log, t, self.cfg, step, last=e + 1 == self.cfg.epochs)
            t.scheduler.step()
        if len(self.twins) == 2:
            m, t_ = rows["manual"], rows["torch"]
            self.loggers["divergence"].scalars(
                {
                    tags.ABS_TEST_ACCURACY_DIFF: abs(m["test_accuracy"] - t_["test_accuracy"]),
                    tags.ABS_TEST_LOSS_DIFF: abs(m["test_loss"] - t_["test_loss"]),
                    tags.PARAM_MAX_ABS_DIFF: param_max_abs_diff(self.twins),
                },
                step,
            )
            if self.images:
                with self._timed("pictures", "epoch_end"):
                    pictures.divergence_pictures(
                        self.loggers["divergence"], self.twins, self.cfg, step, last=e + 1 == self.cfg.epochs
                    )
        if not self.quiet:
            for t in self.twins:
                row = rows[t.name]
                print(
                    f"epoch {row['epoch']:>3}/{self.cfg.epochs}  {t.label:<6}  train loss {row['train_loss']:.4f}  "
                    f"acc {row['train_accuracy']:.4f}  test loss {row['test_loss']:.4f}  "
                    f"acc {row['test_accuracy']:.4f}  lr {row['lr']:.4g}  {row['seconds']:.1f}s",
                    flush=True,
                )

    def _diagnostics(self, twin) -> dict[str, float]:
        """The seeds' health checks, per layer: dead ReLU units (on up to one eval batch of test
        images), gradient norm at the epoch's last step (vanishing / exploding), and that step's
        update-to-weight ratio ‖Δθ‖/‖θ‖ (≈1e-3 is healthy; far below learns slowly, far above is unstable)."""
        diag = {}
        params, grads = twin.params(), twin.grads()
        before = self.before_last_step.get(twin.name)
        for i in range(1, len(self.cfg.spec.hidden) + 2):
            w, b = affine_weight(i), affine_bias(i)
            given = [grads[k].astype(np.float64) for k in (w, b) if k in grads]  # a plug-in may leave one alone
            if given:
                diag[f"grad_norm/{affine_name(i)}"] = float(np.sqrt(sum(np.sum(g**2) for g in given)))
            if before is not None:
                old = before[w].astype(np.float64)
                diag[f"update_ratio/{affine_name(i)}"] = float(
                    np.linalg.norm(params[w] - old) / max(np.linalg.norm(old), 1e-300)
                )
        for i, fraction in enumerate(twin.dead_relu(), start=1):
            diag[f"dead_relu/act{i}"] = fraction
        return diag

    def _final_hparams(self) -> None:
        """The HParams row of each twin: what distinguishes runs, and only the hyper-parameters the
        chosen optimizer takes (an Adam run has no momentum)."""
        hp = {
            "command": self.command,
            "optimizer": self.cfg.optimizer,
            "lr": float(self.cfg.lr),
            "batch_size": self.cfg.batch_size,
            "epochs": self.cfg.epochs,
            "schedule": self.cfg.schedule,
            "hidden": self.cfg.spec.hidden_text(),
            "activation": self.cfg.spec.activation,
            "dtype": self.cfg.dtype,
            "seed": self.cfg.seed,
        }
        for name in manual.optim.OPTIMIZERS[self.cfg.optimizer].takes:
            value = getattr(self.cfg, name)
            hp[name] = ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else value
        for t in self.twins:
            self.loggers[t.name].hparams(dict(hp, impl=t.label))

    def _checkpoint(self) -> Path:
        meta = {
            "format": checkpoint.FORMAT,
            "command": self.command,
            "impls": [t.name for t in self.twins],
            "step": self.global_step,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "batch_order": {
                "generator": "numpy.random.default_rng((seed, epoch)).permutation",
                "seed": self.cfg.seed,
                "epoch": self.epoch,
                "next_batch": self.step_in_epoch,
            },
            "config": self.cfg.to_dict(),
            "env": self.env,
            "run_dir": str(self.run_dir.resolve()),
            "history": {name: vars(h) for name, h in self.histories.items()},
            "run_id": self.run_id,
            "max_param_diff": self.max_param_diff,
            "params_left_at": self.params_left_at,
            "chaos": self.chaos,
            "gap_before": self.gap_before,
            **self.extra_meta,
        }
        for logger in self.loggers.values():  # what the checkpoint covers is on disk before it
            logger.flush()
        if self.step_in_epoch:  # mid-epoch: keep what the epoch's running figures need
            meta["partial"] = {t.name: {"correct": t.host_correct()} for t in self.twins}
        if not self.world.leader:  # rank 0 writes; the others took part in the collectives above
            return self.checkpoint_dir / f"ckpt-{self.global_step:09d}"
        self.last_checkpoint = checkpoint.save(
            self.checkpoint_dir,
            self.global_step,
            self.twins,
            meta,
            run_id=self.run_id,
            prunable=None if self.owns_checkpoint_dir else self.written.__contains__,
        )
        self.written.append(self.last_checkpoint)
        supervisor.BEACON.tell(checkpoint=self.last_checkpoint)  # named if the worker is killed later
        return self.last_checkpoint


def dashboard(twins, experiment: str) -> dict:
    """The Custom Scalars layout: the twins first (loss, accuracy, divergence), then blame by layer.

    TensorBoard merges the layouts of every run it reads and matches a chart's tag regexes against every
    run, never against run names.  So each chart matches only this experiment's own copies of its tags
    (``tags.scoped``): with many experiments under --logdir, a chart draws the runs its title names."""
    runs = ", ".join(f"{experiment}/{t.label}" for t in twins)

    def mine(tag: str, exact: bool = True) -> str:
        return f"^{re.escape(tags.scoped(experiment, tag))}" + ("$" if exact else "")

    twins_first = {
        f"{experiment}: train loss per step ({runs})": ["Multiline", [mine(tags.TRAIN_LOSS)]],
        f"{experiment}: test accuracy ({runs})": ["Multiline", [mine(tags.TEST_ACCURACY)]],
    }
    if len(twins) == 2:
        diverged = f"{experiment}/divergence"
        twins_first[f"{experiment}: log10 |Δ loss| per step ({diverged})"] = [
            "Multiline",
            [mine(tags.LOG10_ABS_LOSS_DIFF)],
        ]
        twins_first[f"{experiment}: test predictions that differ ({diverged})"] = [
            "Multiline",
            [mine(tags.TEST_PREDICTIONS_DIFFER)],
        ]
    return {
        f"1. {experiment}: the twins": twins_first,
        f"2. {experiment}: blame by layer": {
            f"{experiment}: gradient norm per layer ({runs})": ["Multiline", [mine(tags.DASHBOARD_PREFIXES[0], False)]],
            f"{experiment}: update-to-weight ratio per layer ({runs})": [
                "Multiline",
                [mine(tags.DASHBOARD_PREFIXES[1], False)],
            ],
            f"{experiment}: dead ReLU units ({runs})": ["Multiline", [mine(tags.DASHBOARD_PREFIXES[2], False)]],
        },
    }


def how_to_read(twins, experiment: str) -> str:
    """The Text tab's guide to this run's charts (Markdown)."""
    hand = next((t for t in twins if t.name == "manual"), None)
    lines = [f"## How to read the charts of {experiment}", ""]
    if hand is not None:
        lines += [f"`{hand.model.header()}`", ""] + [f"    {m}" for m in hand.model.mapping()] + [""]
    lines += [
        "- **curves/**: the batch loss per step and the per-epoch test and train figures carry the same tags in "
        "every twin's run, so the twins overlay: one line each, torch blue, the hand-written side orange.",
        "- A per-epoch figure is held across the steps of its epoch, so the default smoothing ends each epoch "
        "at its true value (the printed table has the same numbers).",
    ]
    if len(twins) == 2:
        lines += [
            "- **divergence/log10_abs_loss_diff**: log10 of |Δ loss| per step (0 drawn as -20): float64 twins "
            "stay at rounding (≈ -15); float32 ones drift up as rounding is amplified by training.",
            "- The verdict, with every check and tolerance, is the `Verdict` text of the `divergence` run, first in this tab.",
        ]
    lines += [
        "- **per_layer/**: gradient norm, update-to-weight ratio and dead ReLU units per layer - where to look "
        "when the twins disagree or a run does not learn.",
        f"- **Custom Scalars**: this experiment's charts (titled `{experiment}: …`) draw only its own runs, "
        f"from copies of their tags under `{tags.SCOPED}/{experiment}/` (TensorBoard matches charts to tags, "
        "not runs); open several experiments at once and each keeps its own charts.",
    ]
    return "\n".join(lines)
