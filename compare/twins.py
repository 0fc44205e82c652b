"""The judge builds both twins from one spec and one set of initial weights.

``ManualTwin`` (any hand-written implementation, through ``compare.plugins``) and ``TorchTwin``
(``compare.torch_twin``) wrap each twin's model, loss, optimizer, schedule and data behind one small
interface, so a single training loop (``compare.runner``) drives either twin alone (``simplenet
train``) or both in lockstep (``simplenet compare``).  This module imports no torch: a run of the
hand-written twin alone never loads it; ``TorchTwin``, ``build_torch`` and ``TORCH_DTYPES`` are
looked up in ``compare.torch_twin`` on first use.
"""

from __future__ import annotations

import numpy as np

import manual
import manual.data
import manual.optim
import manual.train
from compare import catalogue, plugins
from compare.config import ModelSpec, TrainConfig
from compare.errors import StepAbandoned

NP_DTYPES = {"float32": np.float32, "float64": np.float64}


def initial_state(spec: ModelSpec, seed: int) -> dict[str, np.ndarray]:
    """ONE set of initial weights, torch's default init drawn from NumPy's Generator(seed).

    Drawn in float64; each twin casts it to its dtype, so both start from the same numbers.
    """
    net = manual.SimpleNet(**spec.kwargs(), dtype=np.float64, rng=np.random.default_rng(seed))
    return net.state_dict()


def build_manual(spec: ModelSpec, state: dict[str, np.ndarray], dtype: str) -> manual.SimpleNet:
    """Our twin at ``state``; a buffer the state lacks (a learner's batchnorm counts no batches) keeps its
    initial value: none of them changes a number the twin computes."""
    net = manual.SimpleNet(**spec.kwargs(), dtype=NP_DTYPES[dtype], rng=np.random.default_rng(0))
    net.load_state_dict({**net.state_dict(), **state})
    return net


class ManualTwin:
    """The hand-written side: ANY implementation behind the plug-in protocol (``compare.plugins``),
    ours by default.  Arrays in host memory; the optimizer from ``manual/optim.py`` updates the
    implementation's own arrays in place through the protocol's views.

    ``name`` is the role ("manual": keys of histories and checkpoints); ``label`` names the
    implementation in reports and TensorBoard (``manual`` for our twin, e.g. ``sklearn`` otherwise)."""

    name = "manual"

    def __init__(
        self, cfg: TrainConfig, state: dict[str, np.ndarray], root, impl=None, plugin_optimizer: str | None = None
    ):
        self.cfg, self.dtype = cfg, NP_DTYPES[cfg.dtype]
        self.model = (
            impl
            if impl is not None
            else plugins.load(plugins.DEFAULT_TARGET, cfg.spec, cfg.dtype, l2=cfg.l2, l1=cfg.l1)
        )
        self.model.load_state(state)
        # the run directory beside torch's and divergence's in TensorBoard
        self.label = (
            self.model.label if self.model.label not in ("torch", "divergence") else f"{self.model.label}-plugin"
        )
        if plugin_optimizer:  # the learner's own update rule, judged against torch.optim's
            from compare.optimcheck import TrainingOptimizer

            self.optimizer = TrainingOptimizer(plugin_optimizer, cfg, self.model.params)
        else:
            self.optimizer = manual.optim.make_optimizer(
                cfg.optimizer, self.model.params.values(), **cfg.optimizer_kwargs()
            )
        self.scheduler = manual.optim.make_scheduler(cfg.schedule, self.optimizer, **cfg.scheduler_kwargs())
        self.loss_fn = manual.LOSSES[cfg.spec.loss]()  # the test loss of the plug-in's outputs
        self._reported_max_diff, self._loss_note = 0.0, None  # the plug-in's reported loss against the judged
        # a convention with no training-mode scores (CS231n's loss(X) is test mode): with batchnorm or dropout
        # the judge has no outputs of the step to take the loss of, and records the reported loss
        self.reported_only = cfg.spec.stochastic and not getattr(self.model, "train_logits", True)
        self.pending: list[tuple] = []  # (step, reported loss, logits, labels, penalty), not yet judged
        self.nonfinite_logits: str | None = None  # "NaN" or "inf": what the first non-finite logits held
        self.dead = None  # dead ReLU fractions of the last evaluation, until read
        (train_images, self.y_train), (test_images, self.y_test) = (
            manual.data.load_split(root, split, cfg.dataset) for split in ("train", "test")
        )
        self.images = {"train": train_images, "test": test_images}
        self.x_train = manual.data.normalize(train_images, self.dtype, cfg.dataset)
        self.x_test = manual.data.normalize(test_images, self.dtype, cfg.dataset)
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):  # no plug-in can change them
            a.flags.writeable = False

    def begin_epoch(self, perm: np.ndarray, steps: int) -> None:
        self._settle()
        self.perm = perm
        self.losses = np.zeros(steps, dtype=np.float64)
        self.correct = 0

    # the reported loss may differ from the judged one by rounding (relative) before it is diagnosed
    REPORTED_RTOL = {"float64": 1e-9, "float32": 1e-5}
    SETTLE_EVERY = 64  # steps whose judged losses are computed together (at most; and at every read)

    def step(self, s: int, lo: int, hi: int, masks: dict | None = None) -> None:
        """Gradients through the protocol, then the optimizer's in-place update.

        The loss the judge records is its own: the mean cross-entropy of the plug-in's logits, computed
        for a few dozen steps at once (``_settle``, bit for bit what each step gets alone) before any
        of them is read.  The loss the plug-in reports is kept beside it, and the first step where the
        two differ is diagnosed (``loss_note``): a reported loss that is clipped or summed is shown,
        never failed."""
        idx = self.perm[lo:hi]
        x, y = self.x_train[idx], self.y_train[idx]
        x.flags.writeable = y.flags.writeable = False  # the batch as the plug-in sees it: read-only
        try:
            if masks:  # the judge's dropout masks, the same the torch twin gets
                self.model.feed_masks(masks)
            reported, logits = self.model.compute_gradients(x, y)  # sets (or clears) every .grad
        except StepAbandoned as e:
            e.clean = True  # before the update: parameters and optimizer as after the last step
            raise
        penalty = 0.0
        if self.model.run_penalty:  # the run's L2/L1 at the weights this step started from
            penalty = self.model.run_penalty.forward([self.model.params[n].data for n in self.model.weight_names])
        self.pending.append((s, float(reported), np.array(logits, copy=True), y, penalty))  # before the update
        self.optimizer.step()
        if len(self.pending) >= self.SETTLE_EVERY:
            self._settle()

    def _settle(self) -> None:
        """The judged losses and correct counts of the pending steps, and the reported loss's check."""
        pending, self.pending = self.pending, []
        loss, rtol = self.cfg.spec.loss, self.REPORTED_RTOL[self.cfg.dtype]
        while pending:  # steps of one batch size together (an epoch's last batch may be smaller)
            size = len(pending[0][3])
            same = [p for p in pending if len(p[3]) == size]
            pending = [p for p in pending if len(p[3]) != size]
            outputs, labels = np.stack([p[2] for p in same]), np.stack([p[3] for p in same])
            judged = catalogue.objectives(outputs, labels, loss)
            if self.nonfinite_logits is None and not np.isfinite(judged).all():  # for NonFiniteLoss's line
                bad = [o for o in outputs if not np.isfinite(o).all()][:1]  # the first step's own logits
                self.nonfinite_logits = ("NaN" if np.isnan(bad[0]).any() else "inf") if bad else None
            self.correct += int(np.count_nonzero(outputs.argmax(axis=2) == labels))
            for (s, reported, logits, y, penalty), ce in zip(same, judged.tolist()):
                judged_loss = reported if self.reported_only else (ce + penalty if penalty else ce)
                self.losses[s] = judged_loss
                gap = abs(reported - judged_loss)
                if gap > self._reported_max_diff:
                    self._reported_max_diff = gap
                # relative to max(|loss|, 1): a small loss's rounding is that of the logits it comes from
                if self._loss_note is None and gap > rtol * max(abs(judged_loss), 1.0):
                    self._loss_note = catalogue.loss_diagnosis(reported, logits, y, rtol, penalty, loss)
                    if self._loss_note is not None:
                        self._loss_note["first_step_in_epoch"] = s + 1

    @property
    def reported_max_diff(self) -> float:
        """The largest |reported − judged loss| so far."""
        self._settle()
        return self._reported_max_diff

    @property
    def loss_note(self) -> dict | None:
        """The diagnosis of the first step whose reported loss is not the judged one, if any."""
        self._settle()
        return self._loss_note

    def host_losses(self, a: int, b: int) -> np.ndarray:
        self._settle()
        return self.losses[a:b].copy()

    def host_correct(self) -> int:
        self._settle()
        return int(self.correct)

    def restore_epoch(self, correct: int) -> None:
        self.correct = correct

    def evaluate(self) -> tuple[float, float]:
        """(test loss, test accuracy); the predictions and their probabilities are kept for pictures."""
        obj = self.model.obj  # our own SimpleNet's ReLU masks, read after the first batch: no second pass
        relus = [a for a in obj.acts if isinstance(a, manual.ReLU)] if type(obj) is manual.SimpleNet else None
        for act in relus or ():
            act.mask = None  # a mask left from a training step must never pass for this pass's
        self.model.train(False)  # running statistics, no dropout
        try:
            loss, accuracy, self.test_pred, self.test_confidence, dead = manual.train.evaluate(
                self.model.forward, self.loss_fn, self.x_test, self.y_test, self.cfg.eval_batch_size, relus or ()
            )
        finally:
            self.model.train(True)
        self.dead = dead if relus is not None else None
        return loss, accuracy

    def test_labels(self) -> np.ndarray:
        return self.y_test

    def params(self) -> dict[str, np.ndarray]:
        """Parameters and running statistics: everything the twins must agree on."""
        return {**{name: p.data for name, p in self.model.params.items()}, **self.model.buffers()}

    def probe(
        self, state: dict[str, np.ndarray], rows: np.ndarray, update: bool = True, masks: dict | None = None
    ) -> tuple[dict, np.ndarray, dict]:
        """One step of the training rows ``rows`` from the parameters ``state`` (torch layout), with this
        twin's own optimizer state: (gradients, logits, the update each parameter got), float64 copies.
        Parameters and optimizer state are put back after (compare.divergence re-synchronises through this)."""
        import copy

        params = self.model.params
        own = {n: p.data.copy() for n, p in params.items()}
        last_grads = {n: None if p.grad is None else np.array(p.grad, copy=True) for n, p in params.items()}
        saved = copy.deepcopy(self.optimizer.state_dict()) if update else None
        buffers = self.model.buffers()  # the running statistics the probe's forward moves
        x, y = self.x_train[rows], self.y_train[rows]
        x.flags.writeable = y.flags.writeable = False
        try:
            for n, p in params.items():
                p.data[...] = state[n]
            if masks:
                self.model.feed_masks(masks)
            _, logits = self.model.compute_gradients(x, y)
            grads = {n: np.array(p.grad, dtype=np.float64) for n, p in params.items() if p.grad is not None}
            if self.reported_only:
                logits = None  # test-mode scores: nothing to set beside a training step's
            moved = {}
            if update:
                self.optimizer.step()
                moved = {n: p.data.astype(np.float64) - state[n] for n, p in params.items()}
            return grads, None if logits is None else np.array(logits, dtype=np.float64), moved
        finally:  # the twin as it was: parameters, the last step's gradients (the epoch end reads them), optimizer
            for n, p in params.items():
                p.data[...] = own[n]
                p.grad = last_grads[n]
            if saved is not None:
                self.optimizer.load_state_dict(saved)
            if buffers:
                self.model.load_buffers(buffers)

    def grads(self) -> dict[str, np.ndarray]:
        return {name: p.grad for name, p in self.model.params.items() if p.grad is not None}

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def dead_relu(self) -> list[float]:
        """Measured on our twin's forward with the implementation's current weights (a property of the
        weights and the spec, so the same for every implementation): by the evaluation that just ran
        when the implementation is our SimpleNet, else by a pass of its own."""
        dead, self.dead = self.dead, None
        if dead is not None:
            return dead
        ref = build_manual(self.cfg.spec, self.model.state_dict(), self.cfg.dtype)
        return manual.train.dead_relu_fraction(ref, self.x_test[: self.cfg.eval_batch_size])


def __getattr__(name):
    if name in ("TorchTwin", "build_torch", "TORCH_DTYPES"):
        from compare import torch_twin

        return getattr(torch_twin, name)
    raise AttributeError(f"module 'compare.twins' has no attribute {name!r}")
