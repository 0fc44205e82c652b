"""The autograd twin as the training loop drives it (``compare.twins`` has the hand-written one)."""

from __future__ import annotations

import numpy as np
import torch

import torch_impl
import torch_impl.data
import torch_impl.optim
import torch_impl.train
from compare import distributed
from compare.architecture import proof
from compare.config import ModelSpec, TrainConfig
from compare.distributed import SINGLE, World

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def build_torch(
    spec: ModelSpec, state: dict[str, np.ndarray], dtype: str, device: torch.device | str = "cpu"
) -> torch_impl.SimpleNet:
    net = torch_impl.SimpleNet(**spec.kwargs(), dtype=TORCH_DTYPES[dtype], device=device)
    net.load_numpy_state(state)
    return net


class TorchTwin:
    """The autograd twin: tensors kept on its device, ``torch_impl.train.train_step``.

    Per-step losses go into a device buffer; the host reads them only when the loop asks
    (every ``--log-every`` steps), never once per step.
    """

    name = label = "torch"

    def __init__(
        self, cfg: TrainConfig, state: dict[str, np.ndarray], root, device: torch.device, world: World = SINGLE
    ):
        self.cfg, self.device, self.dtype, self.world = cfg, device, TORCH_DTYPES[cfg.dtype], world
        self.dead = None  # dead ReLU fractions of the last evaluation, until read
        self.zero_levels: dict[str, float] = {}  # the last probe's: how far from 0 rounding takes a cancelled bias
        self.model = build_torch(cfg.spec, state, cfg.dtype, device)
        # under DDP the step runs through the wrapper (its backward all-reduces the gradients);
        # evaluation, checkpoints and diagnostics read the plain module, the same on every rank
        self.stepped = (
            self.model
            if world.size == 1
            else torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
        )
        self.loss_fn = torch_impl.LOSSES[cfg.spec.loss]()
        self.penalty = torch_impl.WeightPenalty(cfg.l2, cfg.l1)
        self.optimizer = torch_impl.optim.make_optimizer(
            cfg.optimizer, self.model.parameters(), **cfg.optimizer_kwargs()
        )
        self.scheduler = torch_impl.optim.make_scheduler(cfg.schedule, self.optimizer, **cfg.scheduler_kwargs())
        (train_images, train_labels), (test_images, test_labels) = (
            torch_impl.data.load_split(root, split, cfg.dataset) for split in ("train", "test")
        )
        self.images = {"train": train_images, "test": test_images}
        self.x_train = torch_impl.data.normalize(train_images, self.dtype, device, cfg.dataset)
        self.x_test = torch_impl.data.normalize(test_images, self.dtype, device, cfg.dataset)
        self.y_train, self.y_test = train_labels.to(device), test_labels.to(device)

    def begin_epoch(self, perm: np.ndarray, steps: int) -> None:
        self.perm = torch.from_numpy(perm).to(self.device)
        self.losses = torch.zeros(steps, dtype=self.dtype, device=self.device)
        self.correct = torch.zeros((), dtype=torch.int64, device=self.device)

    def step(self, s: int, lo: int, hi: int, masks: dict | None = None) -> None:
        a, b = distributed.shard(lo, hi, self.world)  # the whole batch when alone
        idx = self.perm[a:b]
        if masks:  # the judge's dropout masks, this rank's rows of them
            self.hand_masks({name: keep[a - lo : b - lo] for name, keep in masks.items()})
        loss, correct = torch_impl.train.train_step(
            self.stepped,
            self.loss_fn,
            self.optimizer,
            self.x_train.index_select(0, idx),
            self.y_train.index_select(0, idx),
            distributed.shard_weight(b - a, hi - lo, self.world),
            penalty=self.penalty,
        )
        self.losses[s] = loss if self.world.size == 1 else loss * ((b - a) / (hi - lo))  # share of the mean
        self.correct += correct

    def hand_masks(self, masks: dict[str, np.ndarray]) -> None:
        for name, keep in masks.items():
            getattr(self.model, name).mask = torch.from_numpy(np.ascontiguousarray(keep)).to(self.device)

    def _summed(self, t: torch.Tensor) -> torch.Tensor:
        """Across ranks: the shards' shares add up to the global batch's figure."""
        if self.world.size > 1:
            t = t.clone()
            torch.distributed.all_reduce(t)
        return t

    def host_losses(self, a: int, b: int) -> np.ndarray:
        return self._summed(self.losses[a:b]).cpu().numpy().astype(np.float64)

    def host_correct(self) -> int:
        return int(self._summed(self.correct).item())

    def restore_epoch(self, correct: int) -> None:
        self.correct.fill_(correct if self.world.leader else 0)

    def evaluate(self) -> tuple[float, float]:
        """(test loss, test accuracy); the predictions and their probabilities are kept for pictures."""
        relus = [act for act in self.model.acts if isinstance(act, torch_impl.ReLU)]
        loss, accuracy, pred, confidence, self.dead = torch_impl.train.evaluate(
            self.model, self.loss_fn, self.x_test, self.y_test, self.cfg.eval_batch_size, relus
        )
        self.test_pred, self.test_confidence = pred.cpu().numpy(), confidence.cpu().numpy()
        return loss, accuracy

    def test_labels(self) -> np.ndarray:
        return self.y_test.cpu().numpy()

    def params(self) -> dict[str, np.ndarray]:
        return self.model.numpy_state()

    def probe(
        self, state: dict[str, np.ndarray], rows: np.ndarray, update: bool = True, masks: dict | None = None
    ) -> tuple[dict, np.ndarray, dict]:
        """One autograd step of the training rows ``rows`` from the parameters ``state`` with this twin's own
        optimizer state: (gradients, logits, the update each parameter got), float64 copies.  Parameters and
        optimizer state are put back after (compare.divergence re-synchronises through this)."""
        import copy

        named = dict(self.model.named_parameters())
        own = {n: p.detach().clone() for n, p in named.items()}
        last_grads = {n: None if p.grad is None else p.grad.detach().clone() for n, p in named.items()}
        saved = copy.deepcopy(self.optimizer.state_dict()) if update else None
        buffers = {n: b.detach().clone() for n, b in self.model.named_buffers()}  # the probe's forward moves them
        idx = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.device)
        try:
            with torch.no_grad():
                for n, p in named.items():
                    p.copy_(torch.from_numpy(np.asarray(state[n])))
            if masks:
                self.hand_masks(masks)
            x, y = self.x_train.index_select(0, idx), self.y_train.index_select(0, idx)
            cancelled = proof.CancelledBiases(self.cfg.spec, self.model)
            _, logits = torch_impl.train.forward_backward(self.model, self.loss_fn, x, y, penalty=self.penalty)
            self.zero_levels = cancelled.levels(len(rows), self.cfg.dtype)
            grads = {n: g.astype(np.float64) for n, g in self.grads().items()}
            moved = {}
            if update:
                self.optimizer.step()
                moved = {n: p.detach().cpu().numpy().astype(np.float64) - state[n] for n, p in named.items()}
            return grads, logits.cpu().numpy().astype(np.float64), moved
        finally:  # the twin as it was: parameters, the last step's gradients (the epoch end reads them), optimizer
            with torch.no_grad():
                for n, p in named.items():
                    p.copy_(own[n])
                    p.grad = last_grads[n]
                for n, b in self.model.named_buffers():
                    b.copy_(buffers[n])
            if saved is not None:
                self.optimizer.load_state_dict(saved)

    def grads(self) -> dict[str, np.ndarray]:
        return {name: p.grad.detach().cpu().numpy() for name, p in self.model.named_parameters() if p.grad is not None}

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def dead_relu(self) -> list[float]:
        """Measured by the evaluation that just ran (its first batch), else by a pass of its own."""
        dead, self.dead = self.dead, None
        if dead is not None:
            return dead
        return torch_impl.train.dead_relu_fraction(self.model, self.x_test[: self.cfg.eval_batch_size])
