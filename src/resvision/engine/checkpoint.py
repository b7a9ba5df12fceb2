"""One-file checkpoints: atomic writes, path conventions, random-number states, finding the latest.

A training checkpoint is one ``torch.save`` file (suffix ``.pt``) holding one dict:

=============  ==============================================================================
key            content
=============  ==============================================================================
``format``     ``'resvision.checkpoint'`` (how :func:`is_training_checkpoint` recognises one)
``version``    format version, ``2`` (version 1, without ``identity``, is read too)
``model``      ``network.state_dict()``
``optimizer``  ``optimizer.state_dict()`` or None
``scheduler``  state of the LR schedule the optimizer carries, or None
``scaler``     ``GradScaler.state_dict()`` (float16 on CUDA) or None
``callbacks``  ``{callback key: callback.state_dict()}`` (LRScheduler, EMA, EarlyStopping, ...)
``metrics``    ``[metric.state_dict()]``: the training metrics' accumulators mid-epoch
``progress``   ``{'epoch', 'batch', 'global_step'}``: where training continues
``grads``      parameter gradients when saved in the middle of gradient accumulation, else None
``rng``        Python, NumPy, torch (CPU) and CUDA / MPS random states at that point
``loader``     the train loader's ``state_dict()`` (order and augmentation of the epoch), or, for
               a loader without one, the random states at the start of the epoch
``config``     the ``fit`` arguments, amp level, network and optimizer class names
``identity``   the run's identity (:mod:`resvision.engine.identity`): model name, classes,
               data source, size and fingerprint, preprocessing, recipe (version 2)
``meta``       ``saved_at`` (ns since the epoch), torch and resvision versions
``ranks``      only when written inside an epoch of a distributed run: one
               ``{'metrics', 'grads', 'rng'}`` per rank (the top-level ones are rank 0's), so
               that each process resumes with its own
=============  ==============================================================================

Files are written atomically (temporary file in the same folder, flush, fsync, ``os.replace``),
so a crash never leaves a partial file where a good one was. Only plain types and tensors are
stored, so checkpoints load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import re
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from resvision.atomic import fsync_dir

CHECKPOINT_FORMAT = "resvision.checkpoint"
CHECKPOINT_VERSION = 2  # 2: the run identity; version 1 files are read as well
CHECKPOINT_SUFFIX = ".pt"
# Suffixes kept as they are: the path already names a file.
_FILE_SUFFIXES = (".pt", ".pth", ".ckpt")
# Paddle writes ``prefix.pdparams`` + ``prefix.pdopt`` (+ ``.pdscaler``); we write ``prefix.pt``.
_PADDLE_SUFFIXES = (".pdparams", ".pdopt", ".pdscaler", ".pdmodel")
# Checkpoints that ``find_latest_checkpoint`` never resumes from: ``best`` is written when a
# monitored value improves, possibly before the end-of-epoch callbacks ran.
_NOT_RESUMABLE_PREFIXES = ("best",)
# Temporary files of atomic_save: ``.<name>.<pid>.<8 hex>.tmp`` beside ``<name>``.
# Temporary files this process is writing now (another thread may be saving).
_WRITING: set[str] = set()
_TEMP_FILE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, I/O error, no permission).

    The file that was there before, if any, is unchanged: the write went to a temporary file
    that has been removed. ``errno`` and ``filename`` are those of the failure.
    """


def checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """Return the file a checkpoint ``path`` names, accepting Paddle-style prefixes.

    ``'out/final'`` -> ``'out/final.pt'``; ``'out/3.pdparams'`` -> ``'out/3.pt'``;
    ``'w.pt'`` / ``'w.pth'`` / ``'w.ckpt'`` stay as they are.

    Args:
        path: A file prefix (Paddle's convention) or a file name.

    Returns:
        The checkpoint's file path.

    Raises:
        ValueError: ``path`` is empty or names a folder.

    Examples:
        >>> checkpoint_path("output/final").as_posix()
        'output/final.pt'
        >>> checkpoint_path("output/3.pdparams").as_posix()
        'output/3.pt'
    """
    text = os.fspath(path)
    if not text or text.endswith(("/", os.sep)) or Path(text).name in ("", ".", ".."):
        raise ValueError(f"checkpoint path must be 'dirname/file_prefix' or a file, got {text!r}")
    p = Path(text)
    if p.suffix in _FILE_SUFFIXES:
        return p
    if p.suffix in _PADDLE_SUFFIXES:
        p = p.with_suffix("")
    return p.with_name(p.name + CHECKPOINT_SUFFIX)


def existing_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """Return the existing file for ``path``: its :func:`checkpoint_path`, else ``path`` itself.

    Raises:
        FileNotFoundError: neither exists.
    """
    resolved = checkpoint_path(path)
    if resolved.is_file():
        return resolved
    if Path(path).is_file():
        return Path(path)
    raise FileNotFoundError(f"no checkpoint at {os.fspath(path)!r} (looked for {str(resolved)!r})")


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``torch.save(obj)`` to ``path`` atomically and durably.

    The data goes to a temporary file in the same folder, which is flushed, fsynced and renamed
    over ``path``; the folder is fsynced so that the rename survives a power cut.

    Args:
        obj: What to save.
        path: The destination file; missing parent folders are created.

    Returns:
        ``path`` as a ``Path``.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = atomic_save({"a": torch.ones(2)}, Path(d) / "x.pt")
        ...     torch.load(p, weights_only=True)["a"].tolist()
        [1.0, 1.0]
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _write_error(path, err) from err
    remove_stale_temp_files(path.parent)
    # Not mkstemp: its files are private (0600); a checkpoint gets the umask's permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    writer = None
    _WRITING.add(tmp.name)
    try:
        with open(tmp, "xb") as f:
            writer = _RecordingWriter(f)
            torch.save(obj, writer)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        # torch.save turns a failed write (disk full) into a RuntimeError without errno: the
        # writer kept the OSError behind it.
        cause = writer.error if writer is not None and writer.error is not None else err
        if isinstance(cause, OSError) and not isinstance(cause, CheckpointWriteError):
            raise _write_error(path, cause) from err
        raise
    finally:
        _WRITING.discard(tmp.name)
    fsync_dir(path.parent)
    return path


class _RecordingWriter:
    """A file wrapper for ``torch.save`` that remembers the OSError of a failed write."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._file.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self._file.flush()


def _write_error(path: Path, err: OSError) -> CheckpointWriteError:
    code = err.errno or errno.EIO
    reason = err.strerror or str(err)
    if code == errno.ENOSPC:
        reason += " (the disk is full: free space or choose another output folder)"
    kept = f"the previous {path.name} is unchanged" if path.exists() else "nothing was written"
    return CheckpointWriteError(code, f"cannot write checkpoint {str(path)!r}: {reason}; {kept}")


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that :func:`atomic_save` calls killed mid-write left behind.

    A temporary file names the process that wrote it; it is removed when that process is gone
    (or is this one: the name's process id was reused). Files of running writers stay.

    Args:
        folder: The folder to clean (a missing folder is fine).

    Returns:
        The files removed.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = (Path(d) / ".last.pt.999999999.0123abcd.tmp").write_bytes(b"half a file")
        ...     [p.name for p in remove_stale_temp_files(d)]
        ['.last.pt.999999999.0123abcd.tmp']
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_FILE.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match["pid"])
        if entry.name in _WRITING or (pid != os.getpid() and _process_alive(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but belongs to someone else, or cannot tell: keep its file
    return True


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: torch.device | str | None = "cpu",
    *,
    mmap: bool = False,
) -> Any:
    """Load a checkpoint (or a plain state dict) safely, with ``weights_only=True``.

    Args:
        path: A checkpoint path or Paddle-style prefix (see :func:`checkpoint_path`).
        map_location: Where tensors are loaded.
        mmap: Map the file instead of reading it (a cheap look at a large checkpoint).

    Returns:
        The stored object.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a readable torch file.
    """
    file = existing_checkpoint_path(path)
    try:
        return torch.load(file, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as err:  # a truncated or foreign file: say which one
        raise ValueError(f"cannot read checkpoint {str(file)!r}: {_load_problem(err)}") from err


def _load_problem(err: Exception) -> str:
    """torch.load's error in one sentence (its weights-only refusal is a page of advice)."""
    text = str(err)
    if "Weights only load failed" in text:
        detail = next(
            (line.strip() for line in text.splitlines() if "WeightsUnpickler error" in line), ""
        )
        return (
            "it holds Python objects besides tensors and plain containers, which could run code "
            f"when loaded, so it is refused ({detail.split('. ')[0][:160]}). Load it with "
            "torch.load(path, weights_only=False) only if you trust where it comes from"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return first[:300]


def is_training_checkpoint(obj: Any) -> bool:
    """True when ``obj`` is a resvision training checkpoint dict (not a plain state dict).

    Raises:
        ValueError: it is one, of a format version newer than this resvision reads.
    """
    if not (isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT):
        return False
    version = obj.get("version", 1)
    if isinstance(version, int) and version > CHECKPOINT_VERSION:
        raise ValueError(
            f"this checkpoint has format version {version}; this resvision reads versions 1 to "
            f"{CHECKPOINT_VERSION}: upgrade resvision to use it"
        )
    return True


def find_latest_checkpoint(
    save_dir: str | os.PathLike[str], skipped: list[tuple[Path, str]] | None = None
) -> Path | None:
    """Return the checkpoint in ``save_dir`` that training would resume from, or None.

    Candidates are the ``*.pt`` training checkpoints of the folder, except ``best*`` (a best
    model may be saved before the end-of-epoch callbacks ran). The newest wins: the most
    optimizer steps, then the latest ``meta.saved_at``. Files are opened memory-mapped, so only
    their small metadata is read. A file that does not load (damaged, truncated) is no
    candidate; pass ``skipped`` to learn which were left out and why
    (:func:`describe_skipped` says it in a sentence).

    Args:
        save_dir: The folder ``fit(save_dir=...)`` wrote to.
        skipped: A list that gets ``(path, reason)`` for each unreadable ``*.pt`` file.

    Returns:
        The path, or None when the folder holds no training checkpoint.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     print(find_latest_checkpoint(d))
        None
    """
    folder = Path(save_dir)
    if not folder.is_dir():
        return None
    best_key, best_path = None, None
    for file in sorted(folder.glob(f"*{CHECKPOINT_SUFFIX}")):
        if file.name.startswith((".", *_NOT_RESUMABLE_PREFIXES)) or not file.is_file():
            continue
        try:
            obj = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        except Exception as err:  # not a torch file, or unreadable: not a candidate
            if skipped is not None:
                skipped.append((file, _load_problem(err)))
            continue
        if not is_training_checkpoint(obj) or "progress" not in obj:
            continue
        key = (int(obj["progress"].get("global_step", 0)), int(obj["meta"].get("saved_at", 0)))
        if best_key is None or key > best_key:
            best_key, best_path = key, file
    return best_path


def describe_skipped(
    skipped: list[tuple[Path, str]], chosen: str | os.PathLike[str] | None, lost: str = ""
) -> str:
    """One message for a resume that had to leave damaged checkpoints out: which files, why,
    when they were written, what is resumed instead and what that costs.

    Args:
        skipped: ``(path, reason)`` from :func:`find_latest_checkpoint`.
        chosen: The checkpoint resumed from instead, or None (training starts over).
        lost: What the caller knows of the steps lost (e.g. ``'steps 13-20 are trained
            again'``); by default the steps after the chosen checkpoint's.
    """
    parts = []
    for path, reason in skipped:
        try:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
        except OSError:
            when = "at an unknown time"
        parts.append(f"{path.name} (written {when}) cannot be read: {reason}")
    text = f"skipped {len(skipped)} unreadable checkpoint(s): " + "; ".join(parts)
    if chosen is None:
        return text + "; no other checkpoint: training starts from the beginning"
    step = "?"
    with contextlib.suppress(Exception):
        obj = torch.load(chosen, map_location="cpu", weights_only=True, mmap=True)
        step = obj["progress"]["global_step"]
    lost = lost or f"the steps after global step {step} are trained again"
    return f"{text}; resuming from {Path(chosen).name} (global step {step}) instead: {lost}"


def capture_rng_state() -> dict[str, Any]:
    """Return the Python, NumPy, torch CPU and (when in use) CUDA and MPS random states.

    NumPy's state is stored as a tensor so that checkpoints load with ``weights_only=True``.

    Examples:
        >>> state = capture_rng_state()
        >>> a = torch.rand(1)
        >>> restore_rng_state(state)
        >>> bool(torch.rand(1) == a)
        True
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if hasattr(torch, "mps") and torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the random states captured by :func:`capture_rng_state`.

    CUDA states are restored when the number of visible GPUs matches; otherwise a warning is
    given (the run continues, but is no longer bit-identical).
    """
    random.setstate(_as_python_state(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].cpu().numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
        else:
            warnings.warn(
                f"checkpoint holds {len(cuda_states)} CUDA random states but "
                f"{torch.cuda.device_count()} GPUs are visible; CUDA random states not restored",
                stacklevel=2,
            )
    if "mps" in state and hasattr(torch, "mps") and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"].cpu())


def _as_python_state(state: Any) -> tuple:
    # torch.save keeps tuples, but be lenient with lists from other writers.
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def to_safe(obj: Any) -> Any:
    """Convert NumPy values in ``obj`` to Python numbers and tensors (recursively).

    Callback and metric states may hold NumPy scalars or arrays; ``weights_only`` loading
    rejects those, so they are converted before saving.
    """
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {k: to_safe(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(to_safe(v) for v in obj)
    if isinstance(obj, list):
        return [to_safe(v) for v in obj]
    return obj


def clone_tree(obj: Any) -> Any:
    """Deep-copy the tensors of a nested state (dicts, lists, tuples), keep other leaves."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, Mapping):
        return {k: clone_tree(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(clone_tree(v) for v in obj)
    if isinstance(obj, list):
        return [clone_tree(v) for v in obj]
    return obj


#: Checkpoint entries that describe the writing rather than the state (when, by which versions).
RUN_INDEPENDENT_KEYS = ("meta",)


def checkpoint_differences(
    a: Mapping[str, Any], b: Mapping[str, Any], ignore: tuple[str, ...] = RUN_INDEPENDENT_KEYS
) -> list[str]:
    """Where two checkpoints' states differ, bit for bit, as dotted paths.

    Every entry is compared, recursively: the weights and buffers, the optimizer's state and
    ``param_groups``, the schedule, the loss scaler, the callbacks, the metric counts, the
    progress, the gradients, the random states, the loader position and the config. A key that
    one side has and the other lacks is a difference, and so is a tensor of another dtype or
    shape, or with any other bit (NaN payloads included). This is the test that "resumed" and
    "uninterrupted" ended in the same place.

    Args:
        a, b: Two loaded checkpoints (or any nested dicts, lists, tensors and plain values).
        ignore: Dotted paths left out with everything under them; by default ``meta`` (the
            time of writing, versions). Pass e.g. ``("meta", "config.fit.save_steps")`` for a
            setting the two runs legitimately differ in.

    Returns:
        The paths that differ (empty when the states are identical).

    Examples:
        >>> a = {"model": {"w": torch.ones(2)}, "progress": {"global_step": 4}}
        >>> b = {"model": {"w": torch.tensor([1.0, 1.5])}, "progress": {"global_step": 4}}
        >>> checkpoint_differences(a, b)
        ['model.w']
        >>> checkpoint_differences(a, {**a, "scaler": None})
        ['scaler: only in the second']
    """
    diffs: list[str] = []
    _compare(a, b, "", diffs, frozenset(ignore))
    return diffs


def _compare(a: Any, b: Any, where: str, diffs: list[str], ignore: frozenset[str]) -> None:
    name = where or "(root)"
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            diffs.append(f"{name}: a tensor on one side only")
        elif a.dtype != b.dtype or a.shape != b.shape or not _same_bits(a, b):
            diffs.append(name)
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            path = f"{where}.{key}" if where else str(key)
            if path in ignore:
                continue
            if key not in b:
                diffs.append(f"{path}: only in the first")
            elif key not in a:
                diffs.append(f"{path}: only in the second")
            else:
                _compare(a[key], b[key], path, diffs, ignore)
        return
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            diffs.append(f"{name}: {len(a)} items vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, f"{where}[{i}]", diffs, ignore)
        return
    if type(a) is not type(b) or (a != b and not (a != a and b != b)):  # NaN == NaN here
        diffs.append(f"{name}: {a!r} vs {b!r}"[:200])


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    # Flattened first: a 0-d tensor cannot be viewed as bytes.
    a, b = a.detach().cpu().reshape(-1), b.detach().cpu().reshape(-1)
    if a.is_complex() or a.dtype == torch.bool or not a.numel():
        return torch.equal(a, b)
    return torch.equal(a.view(torch.uint8), b.view(torch.uint8))


def now_ns() -> int:
    """The wall-clock time stored as ``meta.saved_at``."""
    return time.time_ns()
