"""Checkpoints: written atomically, loaded without ever unpickling code.

A checkpoint is a directory ``ckpt-<step>`` holding one file per twin:

* ``manual.npz`` — NumPy arrays (``model/…``, ``optim/…``) and a JSON string ``meta``;
  loaded with ``np.load(allow_pickle=False)``;
* ``torch.pt`` — ``torch.save`` of state dicts and the same JSON ``meta``; loaded with
  ``torch.load(weights_only=True)``.

``meta`` carries the step and epoch counters, the batch-order position, the config, the
environment card, the run directory and the history so far.  The directory is built under
a temporary name and renamed into place (``os.replace``), so it is never half-written.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from compare.errors import CheckpointError, ResourceError
from compare.resources import os_error_line

FORMAT = 1
FILES = {"manual": "manual.npz", "torch": "torch.pt"}


def _save_manual(twin, path: Path, meta: str) -> None:
    arrays = {f"model/{k}": v for k, v in twin.model.state_dict().items()}
    optim = twin.optimizer.state_dict()
    arrays.update({f"optim/{k}": v for k, v in optim["state"].items()})
    extra = {"optim_group": optim["param_group"], "scheduler": twin.scheduler.state_dict()}
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(meta), extra=np.array(json.dumps(extra)), **arrays)
        f.flush()
        os.fsync(f.fileno())


def _save_torch(twin, path: Path, meta: str) -> None:
    payload = {"meta": meta, "model": twin.model.state_dict(), "optimizer": twin.optimizer.state_dict(),
               "scheduler": twin.scheduler.state_dict()}
    with open(path, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())


def save(directory: Path, step: int, twins, meta: dict, keep: int = 3) -> Path:
    """Write ``directory/ckpt-<step>`` for every twin, atomically; keep the newest ``keep``."""
    final = directory / f"ckpt-{step:09d}"
    tmp = directory / f".{final.name}.tmp-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        text = json.dumps(meta)
        for twin in twins:
            (_save_manual if twin.name == "manual" else _save_torch)(twin, tmp / FILES[twin.name], text)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)          # never leave a half-written checkpoint behind
        previous = sorted(p for p in directory.glob("ckpt-*") if p.is_dir()) if directory.is_dir() else []
        kept = f"; the previous checkpoint {previous[-1]} is intact" if previous else ""
        e.filename = None if e.filename is not None and str(e.filename).startswith(str(tmp)) else e.filename
        raise ResourceError(f"writing checkpoint {final.name} to " + os_error_line(e, str(directory)) + kept) from None
    if final.exists():                       # same step saved again (interrupted right at an epoch end)
        old = directory / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    for stale in sorted(directory.glob("ckpt-*"))[:-keep]:
        shutil.rmtree(stale, ignore_errors=True)
    for leftover in directory.glob(".ckpt-*.tmp-*"):     # from a run killed while saving (kill -9)
        if not pid_alive(leftover.name.rsplit("-", 1)[-1]):
            shutil.rmtree(leftover, ignore_errors=True)
    return final


def pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError, OSError):
        return True                      # unknown or not ours: leave it
    return True


def find(path: str | Path) -> Path:
    """``path`` may be a ``ckpt-*`` directory, a file inside one, or a directory of them (newest wins)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"--resume {path}: no such file or directory; give a checkpoint directory "
                              "(ckpt-…) or the --checkpoint-dir it was written to")
    if path.is_file():
        if path.name not in FILES.values():
            raise CheckpointError(f"--resume {path}: not a checkpoint; give a ckpt-… directory, the "
                                  "--checkpoint-dir holding them, or the manual.npz / torch.pt inside one")
        return path.parent
    if any((path / name).exists() for name in FILES.values()):
        return path
    found = sorted(p for p in path.glob("ckpt-*") if p.is_dir())
    if not found:
        raise CheckpointError(f"--resume {path}: holds no checkpoint (ckpt-… directories with "
                              "manual.npz / torch.pt)")
    return found[-1]


def _reason(e: Exception) -> str:
    """The gist of a loader's error in a few words (torch's run to paragraphs)."""
    text = " ".join(str(e).split())
    if text.startswith("Weights only load failed"):
        return "not a torch.save file of tensors"
    first = text.split(". ")[0]
    return (first[:117] + "...") if len(first) > 120 else first or type(e).__name__


def _refuse(path: Path, e: Exception) -> CheckpointError:
    reason = _reason(e)
    return CheckpointError(f"{path}: not a readable checkpoint ({reason}); it may be truncated or not a "
                           "checkpoint at all - resume from an earlier ckpt-… directory or start a new run")


def read_meta(ckpt: Path, impls: list[str]) -> dict:
    """The JSON meta of the checkpoint, read from the first twin's file (each file carries it)."""
    metas = [load_twin_file(ckpt, impl)[0] for impl in impls]
    if any(m["step"] != metas[0]["step"] for m in metas):
        raise CheckpointError(f"{ckpt}: the twins' files are from different steps; resume from another checkpoint")
    return metas[0]


def load_twin_file(ckpt: Path, impl: str) -> tuple[dict, object]:
    path = ckpt / FILES[impl]
    if not path.is_file():
        raise CheckpointError(f"{path}: missing - this checkpoint has no {impl} twin; "
                              f"resume it with the command that wrote it")
    try:
        if impl == "manual":
            with np.load(path, allow_pickle=False) as z:
                payload = {k: z[k] for k in z.files}
            meta = json.loads(str(payload["meta"]))
        else:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(payload["meta"])
    except Exception as e:  # zipfile, pickle and OS errors all mean the same thing to the user
        raise _refuse(path, e) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a simplenet checkpoint (format {meta.get('format') if isinstance(meta, dict) else '?'})")
    return meta, payload


def restore_twin(ckpt: Path, twin) -> None:
    """Load model, optimizer and scheduler state into ``twin`` (already built from the same config)."""
    _, payload = load_twin_file(ckpt, twin.name)
    path = ckpt / FILES[twin.name]
    try:
        if twin.name == "manual":
            twin.model.load_state_dict({k[len("model/"):]: v for k, v in payload.items() if k.startswith("model/")})
            extra = json.loads(str(payload["extra"]))
            twin.optimizer.load_state_dict({"param_group": extra["optim_group"],
                                            "state": {k[len("optim/"):]: v for k, v in payload.items()
                                                      if k.startswith("optim/")}})
            twin.scheduler.load_state_dict(extra["scheduler"])
        else:
            twin.model.load_state_dict(payload["model"])
            twin.model.to(twin.device)
            twin.optimizer.load_state_dict(payload["optimizer"])
            twin.scheduler.load_state_dict(payload["scheduler"])
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{path}: does not fit this model ({_reason(e)}); "
                              "was it written for another architecture?") from None
