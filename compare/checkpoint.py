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
    payload = {
        "meta": meta,
        "model": twin.model.state_dict(),
        "optimizer": twin.optimizer.state_dict(),
        "scheduler": twin.scheduler.state_dict(),
    }
    with open(path, "wb") as f:
        import torch  # a torch twin's checkpoint: torch is loaded already

        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())


OWNER = "RUN.json"  # in a checkpoint directory: which run it belongs to
RUN_ID = "run-id"  # in each ckpt-…: the run that wrote it


def claim(directory: Path, run_id: str, run_dir: Path) -> bool:
    """Make ``directory`` this run's, or refuse: a checkpoint directory belongs to one run.

    Returns True when the directory is this run's (claimed now, or earlier by the same run) and False
    for a directory that already held checkpoints without an owner (copied ones, or an older
    version's): the run may write there, but prunes only what it writes itself."""
    owner = directory / OWNER
    try:
        recorded = json.loads(owner.read_text())
    except FileNotFoundError:
        recorded = None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{owner}: unreadable ({_reason(e)}); remove it if no run owns {directory}") from None
    if recorded is not None:
        if recorded.get("run_id") != run_id:
            raise CheckpointError(
                f"--checkpoint-dir {directory} holds the checkpoints of another run "
                f"({recorded.get('run_dir', '?')}); give this run its own directory, or "
                f"continue that one with --resume {directory}"
            )
        return True
    if directory.is_dir() and any(directory.glob("ckpt-*")):
        return False
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(owner, "x") as f:  # two runs claiming at once: one wins, the other is refused
            json.dump({"run_id": run_id, "run_dir": str(Path(run_dir).resolve())}, f)
    except FileExistsError:
        return claim(directory, run_id, run_dir)
    except OSError as e:
        raise ResourceError("claiming the checkpoint directory: " + os_error_line(e, str(directory))) from None
    return True


def save(
    directory: Path, step: int, twins, meta: dict, keep: int = 3, *, run_id: str | None = None, prunable=None
) -> Path:
    """Write ``directory/ckpt-<step>`` for every twin, atomically; keep the newest ``keep`` of this run's.

    ``prunable(path) -> bool`` says which older checkpoints may be deleted (by default those whose
    ``run-id`` is ``run_id``): never another run's, never a copy this run did not write."""
    final = directory / f"ckpt-{step:09d}"
    tmp = directory / f".{final.name}.tmp-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        text = json.dumps(meta)
        for twin in twins:
            (_save_manual if twin.name == "manual" else _save_torch)(twin, tmp / FILES[twin.name], text)
        if run_id is not None:
            (tmp / RUN_ID).write_text(run_id)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half-written checkpoint behind
        previous = sorted(p for p in directory.glob("ckpt-*") if p.is_dir()) if directory.is_dir() else []
        kept = f"; the previous checkpoint {previous[-1]} is intact" if previous else ""
        e.filename = None if e.filename is not None and str(e.filename).startswith(str(tmp)) else e.filename
        raise ResourceError(f"writing checkpoint {final.name} to " + os_error_line(e, str(directory)) + kept) from None
    if final.exists():  # same step saved again (interrupted right at an epoch end)
        # between these two renames no ckpt-N is visible: a kill -9 there leaves the complete old copy
        # under .ckpt-N.old-PID, which find() and the next save put back (recover)
        old = directory / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    if prunable is None:
        prunable = lambda path: run_id is not None and written_by(path) == run_id
    ours = [p for p in sorted(directory.glob("ckpt-*")) if p.is_dir() and p != final and prunable(p)]
    for stale in ours[: max(0, len(ours) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    for leftover in directory.glob(".ckpt-*.tmp-*"):  # from a run killed while saving (kill -9)
        if not pid_alive(leftover.name.rsplit("-", 1)[-1]):
            shutil.rmtree(leftover, ignore_errors=True)
    recover(directory)
    return final


def supersede(directory: Path, step: int) -> list[Path]:
    """Resuming from ``ckpt-<step>`` while later checkpoints lie beside it starts a new branch of the
    run: TensorBoard drops the old branch's later steps from view (the purge event), and so must a
    later ``--resume DIR``, which would otherwise pick the old branch's newest checkpoint.  They are
    kept, renamed ``superseded-<time>-ckpt-…`` (no glob for ``ckpt-*`` finds them); returns the new names."""
    import time

    moved = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for later in sorted(directory.glob("ckpt-*")):
        try:
            number = int(later.name.split("-", 1)[1])
        except ValueError:
            continue
        if number > step and later.is_dir():
            target = directory / f"superseded-{stamp}-{later.name}"
            os.replace(later, target)
            moved.append(target)
    return moved


def written_by(ckpt: Path) -> str | None:
    try:
        return (ckpt / RUN_ID).read_text().strip()
    except OSError:
        return None


def recover(directory: Path) -> None:
    """A same-step re-save killed between its two renames left ``.ckpt-N.old-PID`` and no ``ckpt-N``: put
    the old copy back.  Stale old copies whose ``ckpt-N`` exists are removed, like ``.tmp-*``."""
    for old in directory.glob(".ckpt-*.old-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid_alive(pid) and int(pid) != os.getpid():
            continue  # another process is in the middle of its re-save
        final = directory / old.name[1:].rsplit(".old-", 1)[0]
        try:
            if final.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, final)
        except OSError:
            pass


def pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError, OSError):
        return True  # unknown or not ours: leave it
    return True


def find(path: str | Path) -> Path:
    """``path`` may be a ``ckpt-*`` directory, a file inside one, or a directory of them (newest wins)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"--resume {path}: no such file or directory; give a checkpoint directory "
            "(ckpt-…) or the --checkpoint-dir it was written to"
        )
    if path.is_file():
        if path.name not in FILES.values():
            raise CheckpointError(
                f"--resume {path}: not a checkpoint; give a ckpt-… directory, the "
                "--checkpoint-dir holding them, or the manual.npz / torch.pt inside one"
            )
        return path.parent
    if any((path / name).exists() for name in FILES.values()):
        return path
    if (path / "checkpoints").is_dir() and not any(path.glob("ckpt-*")):
        path = path / "checkpoints"  # the run directory a run printed (logs: …)
    recover(path)
    found = sorted(p for p in path.glob("ckpt-*") if p.is_dir())
    if not found:
        raise CheckpointError(f"--resume {path}: holds no checkpoint (ckpt-… directories with manual.npz / torch.pt)")
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
    return CheckpointError(
        f"{path}: not a readable checkpoint ({reason}); it may be truncated or not a "
        "checkpoint at all - resume from an earlier ckpt-… directory or start a new run"
    )


def read_meta(ckpt: Path, impls: list[str]) -> dict:
    """The JSON meta of the checkpoint, read from the first twin's file (each file carries it)."""
    metas = [load_twin_file(ckpt, impl)[0] for impl in impls]
    if any(m["step"] != metas[0]["step"] for m in metas):
        raise CheckpointError(f"{ckpt}: the twins' files are from different steps; resume from another checkpoint")
    return metas[0]


def load_twin_file(ckpt: Path, impl: str) -> tuple[dict, object]:
    path = ckpt / FILES[impl]
    if not path.is_file():
        raise CheckpointError(
            f"{path}: missing - this checkpoint has no {impl} twin; resume it with the command that wrote it"
        )
    try:
        if impl == "manual":
            with np.load(path, allow_pickle=False) as z:
                payload = {k: z[k] for k in z.files}
            meta = json.loads(str(payload["meta"]))
        else:
            import torch

            payload = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(payload["meta"])
    except Exception as e:  # zipfile, pickle and OS errors all mean the same thing to the user
        raise _refuse(path, e) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a simplenet checkpoint (format {meta.get('format') if isinstance(meta, dict) else '?'})"
        )
    return meta, payload


def restore_twin(ckpt: Path, twin) -> None:
    """Load model, optimizer and scheduler state into ``twin`` (already built from the same config)."""
    _, payload = load_twin_file(ckpt, twin.name)
    path = ckpt / FILES[twin.name]
    try:
        if twin.name == "manual":
            twin.model.load_state_dict({k[len("model/") :]: v for k, v in payload.items() if k.startswith("model/")})
            extra = json.loads(str(payload["extra"]))
            twin.optimizer.load_state_dict(
                {
                    "param_group": extra["optim_group"],
                    "state": {k[len("optim/") :]: v for k, v in payload.items() if k.startswith("optim/")},
                }
            )
            twin.scheduler.load_state_dict(extra["scheduler"])
        else:
            twin.model.load_state_dict(payload["model"])
            twin.model.to(twin.device)
            twin.optimizer.load_state_dict(payload["optimizer"])
            twin.scheduler.load_state_dict(payload["scheduler"])
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(
            f"{path}: does not fit this model ({_reason(e)}); was it written for another architecture?"
        ) from None


def file_digest(path: str) -> str | None:
    """SHA-256 of a file (a plug-in's source, kept with its checkpoints), or None when it cannot be read."""
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


LOCK = ".writer.lock"


def lock_run_dir(run_dir: Path) -> int | None:
    """Hold ``run_dir`` for this process while it writes (an advisory ``flock``, released when the process
    ends however it ends): a second process writing the same run - two ``--resume`` of one run at once -
    is refused in one line instead of both writing it.  Returns the lock's descriptor (None where the
    system has no flock)."""
    try:
        import fcntl
    except ImportError:
        return None
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ResourceError("locking the run directory: " + os_error_line(e, str(path))) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise CheckpointError(
            f"{run_dir} is being written by another simplenet process (pid {holder}); wait for it to end, "
            "or start a new run"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def unlock_run_dir(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock
