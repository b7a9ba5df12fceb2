"""What a run carries besides weights, how to find it again, and what the CLI tells the user.

:class:`RunInfo` is a callback whose state (model name, class names, preprocessing, resolved
config) the engine stores in every checkpoint, so that ``eval`` and ``predict`` work from a
checkpoint file alone, even one copied away from its run folder.
"""

from __future__ import annotations

import datetime as _dt
import statistics
import sys
from pathlib import Path
from typing import Any

from resvision.atomic import atomic_write_text
from resvision.callbacks import Callback
from resvision.callbacks.checkpointing import BEST_CHECKPOINT
from resvision.distributed import is_main_process
from resvision.recipe.config import Config
from resvision.recipe.data import DataBundle
from resvision.recipe.errors import UsageError
from resvision.recipe.runfolder import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    read_jsonl,
    run_dir_of,
    write_json,
)

#: Key of the RunInfo state inside a checkpoint's ``callbacks`` dict.
STATE_KEY = "resvision.cli.RunInfo"
#: Checkpoints ``eval`` / ``predict`` / ``export`` take from a run folder, in this order of
#: preference: the best model (``EarlyStopping(save_best_model=True)`` writes ``best_model``,
#: Paddle's name, when a script asks for it; ``ModelCheckpoint`` keeps ``best.pt``, the best of its
#: ``save_top_k`` by the evaluation's first metric: what ``resvision train`` writes), the trained
#: one, the last resume point.
PREFERRED = ("best_model.pt", f"{BEST_CHECKPOINT}.pt", "final.pt", "last.pt")


class RunInfo(Callback):
    """Carries the run's description into each checkpoint (``state_dict``); trains nothing.

    Args:
        cfg: the resolved config.
        data: the opened data (classes and preprocessing).
        files: run-folder files to write when training begins (``{name: text or JSON
            object}``), on the main process: after ``fit`` has accepted a resume's settings.
    """

    state_key = STATE_KEY

    def __init__(self, cfg: Config, data: DataBundle, files: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.info = {
            "model": cfg.model.name,
            "classes": list(data.classes),
            "preprocess": data.preprocess.to_dict(),
            "data": cfg.data.name,
            "eval_split": data.eval_split,
            "config": cfg.to_dict(),
        }
        self.files = dict(files or {})
        self.run_dir = Path(cfg.output.dir) if cfg.output.dir else None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self.files or not is_main_process():
            return
        folder = Path(self.params["save_dir"]).parent  # the run folder holds checkpoints/
        for name, content in self.files.items():
            if isinstance(content, str):
                atomic_write_text(folder / name, content)
            else:
                write_json(folder / name, content)

    def state_dict(self) -> dict[str, Any]:
        return dict(self.info)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # The description of the current run wins over the one saved: nothing to restore.
        pass


def run_identity(cfg: Config, data: DataBundle) -> dict[str, Any]:
    """What the command line knows of a run's identity (:mod:`resvision.engine.identity`):
    the model's name, the class names, the preprocessing, the data source and the recipe (the
    optimizer, schedule and loss settings, which a resume must not change)."""
    sections = cfg.to_dict()
    train = sections["train"]
    return {
        "model": cfg.model.name,
        "classes": list(data.classes),
        "preprocess": data.preprocess.to_dict(),
        "data_source": cfg.data.name
        if cfg.data.root is None
        else f"{cfg.data.name}:{cfg.data.root}",
        "recipe": {
            "optim": sections["optim"],
            "schedule": sections["schedule"],
            "label_smoothing": train["label_smoothing"],
            "ema_decay": train["ema_decay"],
        },
    }


def resume_target(resume: str | None, run_dir: Path) -> Path | None:
    """The checkpoint ``--resume`` means: a file as given, else the newest of a run folder.

    Args:
        resume: None, ``'auto'``, a checkpoint file or a run folder.
        run_dir: this run's folder (where ``'auto'`` looks).

    Returns:
        The checkpoint path, or None (nothing to resume: ``'auto'`` on a new run).

    Raises:
        UsageError: ``resume`` names something that does not exist.
    """
    from resvision.engine.checkpoint import find_latest_checkpoint

    if resume is None:
        return None
    if resume == "auto":
        return latest_with_report(run_dir)
    path = Path(resume)
    if path.is_file():
        return path
    if not path.exists():
        raise UsageError(
            f"--resume {resume!r} does not exist (give a checkpoint, a run folder, or auto)"
        )
    folder = run_dir_of(path)
    return latest_with_report(folder) or find_latest_checkpoint(path)


def latest_with_report(run_dir: Path) -> Path | None:
    """The newest readable checkpoint of a run folder; damaged ones left out are reported on
    stderr with the steps lost (from the run's ``metrics.jsonl``)."""
    from resvision.engine.checkpoint import describe_skipped, find_latest_checkpoint

    skipped: list[tuple[Path, str]] = []
    found = find_latest_checkpoint(run_dir / CHECKPOINT_DIR, skipped)
    if skipped:
        lost = ""
        steps = [r.get("global_step") for r in read_jsonl(run_dir / METRICS_FILE)]
        logged = max((s for s in steps if isinstance(s, int)), default=None)
        if found is not None and logged is not None:
            done = load_progress(found)
            if logged > done:
                n = logged - done
                lost = f"{n} step{' is' if n == 1 else 's are'} lost (the run had logged step {logged})"
        print(f"resvision: warning: {describe_skipped(skipped, found, lost)}", file=sys.stderr)
    return found


def load_progress(path: Path) -> int:
    """The global step a checkpoint was saved at."""
    from resvision.engine.checkpoint import load_checkpoint

    return int(load_checkpoint(path, mmap=True)["progress"]["global_step"])


def checkpoint_of(path_text: str) -> Path:
    """The checkpoint file ``--checkpoint`` names: the file itself, or the best one of a run.

    Raises:
        UsageError: nothing there, or a folder without checkpoints.
    """
    path = Path(path_text)
    if path.is_file():
        return path
    if not path.exists():
        raise UsageError(f"checkpoint {path_text!r} does not exist")
    for folder in (path / CHECKPOINT_DIR, path):
        for name in PREFERRED:
            if (folder / name).is_file():
                return folder / name
    numbered = sorted(
        (p for p in (path / CHECKPOINT_DIR).glob("*.pt") if p.stem.isdigit()),
        key=lambda p: int(p.stem),
    )
    if numbered:
        return numbered[-1]
    raise UsageError(f"no checkpoint in {path_text!r} (looked for {', '.join(PREFERRED)})")


def load_run(
    path_text: str, model: str | None = None, classes: list[str] | None = None
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Read a checkpoint and the description of its run.

    The description is the checkpoint's RunInfo state, which every checkpoint written by
    ``resvision train`` holds, or the run identity a checkpoint of ``Model.fit`` holds.

    Args:
        path_text: a checkpoint file or a run folder.
        model: the model name (``--model``), for a checkpoint whose network was not built by the
            zoo; refused when the checkpoint names another model.
        classes: the class names in label order (``--classes``), for a checkpoint whose data
            named none; refused when the checkpoint names other classes.

    Returns:
        ``(checkpoint path, description, checkpoint object)``; the description has ``model``,
        ``classes``, ``preprocess``, ``config``.

    Raises:
        UsageError: missing or unreadable file, or no description to be found.
    """
    file = checkpoint_of(path_text)
    from resvision.engine.checkpoint import is_training_checkpoint, load_checkpoint

    try:
        obj = load_checkpoint(file)
    except (ValueError, OSError) as err:
        raise UsageError(str(err)) from None
    info = None
    if is_training_checkpoint(obj):
        info = (obj.get("callbacks") or {}).get(STATE_KEY)
        if info is None and obj.get("identity"):  # saved by Model.fit in Python
            given = {"model": model, "classes": classes}
            info = info_from_identity(file, {**obj["identity"], **_fill_in(obj, given)})
    if info is None:
        raise UsageError(
            f"{str(file)!r} does not say which model and classes it holds: it was not written "
            "by `resvision train` or `Model.fit` (in Python, load it with "
            "resvision.Model(net).load(path))"
        )
    _check_agrees(file, info, "model", model, "--model")
    _check_agrees(file, info, "classes", classes, "--classes")
    return file, info, obj


def _fill_in(obj: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The fields given on the command line that the checkpoint's identity lacks."""
    identity = obj.get("identity") or {}
    return {k: v for k, v in given.items() if v is not None and not identity.get(k)}


def _check_agrees(file: Path, info: dict[str, Any], key: str, given: Any, flag: str) -> None:
    """A flag that repeats what the checkpoint says is fine; one that contradicts it is refused."""
    if given is None:
        return
    recorded = list(info[key]) if key == "classes" else info[key]
    if recorded != (list(given) if key == "classes" else given):
        shown = ", ".join(recorded) if key == "classes" else recorded
        raise UsageError(f"{flag}: {str(file)!r} already names its {key} ({shown}); drop {flag}")


def parse_classes(text: str) -> list[str]:
    """``--classes``: class names in label order, comma-separated, or a text file with one name
    per line.

    Raises:
        UsageError: an empty name, a repeated name, or fewer than one name.

    Examples:
        >>> parse_classes("cat, dog")
        ['cat', 'dog']
    """
    path = Path(text)
    if path.is_file():
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--classes {text!r}: cannot read it ({err})") from None
        names = [n for n in names if n]
    else:
        names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise UsageError(
            f"--classes {text!r}: give the class names in label order, comma-separated "
            "(cat,dog) or a text file with one name per line"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"--classes: {', '.join(repeated)} given more than once")
    return names


def info_from_identity(file: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """The run description of a checkpoint written by ``Model.fit`` in Python, from the run
    identity the engine stores (:mod:`resvision.engine.identity`).

    The network must come from the model zoo (its builders tag it with its name) and the
    training data must have named its classes (``dataset.classes``), or the script must have set
    them (``model.identity = {'model': ..., 'classes': [...]}``). Without recorded
    preprocessing, the model's natural input size and ImageNet's statistics are assumed, and
    said on stderr.

    Raises:
        UsageError: the model or the classes are unknown; the message says how to record them.
    """
    from resvision.models import model_info
    from resvision.recipe.config import DATA_NAMES
    from resvision.recipe.data import STATS, Preprocess

    name, classes = identity.get("model"), identity.get("classes")
    if name:
        from resvision.models import UnknownModelError

        try:
            model_info(name)
        except UnknownModelError as err:
            raise UsageError(f"--model: {err}") from None
    if not name:
        raise UsageError(
            f"{str(file)!r} does not name its model: its network was not built by resvision's "
            "model zoo. Give --model NAME (a name from `resvision models`) if it is one of "
            "them, or before fit set model.identity = {'model': NAME}"
        )
    if not classes:
        n = identity.get("num_classes")
        raise UsageError(
            f"{str(file)!r} does not name its {n or ''} classes: the training data had no "
            "`classes`. Give --classes a,b,c (in label order, or a file with one per line), or "
            "before fit set model.identity = {'classes': [...]}"
        )
    n = identity.get("num_classes")
    if isinstance(n, int) and n > 0 and len(classes) != n:
        raise UsageError(f"{str(file)!r} holds a {n}-class network; --classes names {len(classes)}")
    pre = identity.get("preprocess")
    if not pre:
        channels, _, side = model_info(name).input_size
        mean, std = STATS["imagenet"]
        if channels != len(mean):
            mean, std = (sum(mean) / len(mean),) * channels, (sum(std) / len(std),) * channels
        pre = Preprocess(channels, side, None, list(mean), list(std)).to_dict()
        print(
            f"resvision: note: {file.name} records no preprocessing; assuming {side}x{side} "
            f"inputs normalised with ImageNet's mean and std (set model.identity = "
            "{'preprocess': {...}} before fit to record yours)",
            file=sys.stderr,
        )
    source = identity.get("data_source")
    known = source in DATA_NAMES
    data = source if known else "sample"
    return {
        "model": name,
        "classes": list(classes),
        "preprocess": pre,
        "data": data,
        "data_known": known,  # else eval asks for --data
        "config": Config.from_dict({"model": {"name": name}, "data": {"name": data}}).to_dict(),
    }


def now_iso() -> str:
    """The local time, ISO 8601 with the offset, to the second."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def timing(metrics_file: Path, train_seconds: float) -> dict[str, Any]:
    """Training time and speed for ``env.json``: wall seconds and the median logged images/s."""
    ips = [
        r["ips"]
        for r in read_jsonl(metrics_file)
        if r.get("event") == "train_batch" and r.get("ips")
    ]
    out: dict[str, Any] = {"train_seconds": round(train_seconds, 3)}
    if ips:
        out["train_images_per_second"] = round(statistics.median(ips), 1)
    return out


def interrupted_message(run_dir: Path, ckpt_dir: Path) -> str:
    """What to tell after Ctrl-C or SIGTERM: the checkpoint a resume takes (whichever the
    stop left: last.pt, an epoch's, final.pt) and the command that continues."""
    from resvision.engine.checkpoint import find_latest_checkpoint

    latest = find_latest_checkpoint(ckpt_dir)
    if latest is None:
        return (
            "\nresvision: training interrupted before its first checkpoint; nothing was saved.\n"
            f"start again with:\n  resvision train --resume {run_dir}"
        )
    step = load_progress(latest)
    if latest.name == "final.pt":
        return (
            f"\nresvision: interrupted after training finished; {latest} holds the trained "
            f"network (global step {step}).\nthe final evaluation did not run; run it with:\n"
            f"  resvision eval --checkpoint {run_dir}"
        )
    return (
        f"\nresvision: training interrupted; a resumable checkpoint is in {latest} (global step "
        f"{step}).\ncontinue exactly where it stopped with:\n  resvision train --resume {run_dir}"
    )


def finished_message(
    run_dir: Path, ckpt_dir: Path, evaluation: dict[str, Any], report: Path | None, env: dict
) -> str:
    """The closing lines of ``train``: result, where everything is, what to run next."""
    final = ckpt_dir / "final.pt"
    acc = evaluation.get("acc_top1")
    top5 = evaluation.get("acc_top5")
    seconds = env.get("train_seconds") or 0.0
    lines = [
        "",
        f"done in {seconds / 60:.1f} min: test top-1 {100 * acc:.2f}%"
        + (f", top-5 {100 * top5:.2f}%" if top5 is not None else "")
        + f", loss {evaluation['loss']:.4f} ({evaluation['num_samples']} images)",
        f"results in {run_dir}/",
    ]
    if report is not None:
        lines.append(f"  report:     {report}")
    lines.append(f"  checkpoint: {final if final.exists() else ckpt_dir}")
    best = ckpt_dir / "best.pt"
    if best.exists():
        lines.append(f"  best:       {best} (what eval/predict/export {run_dir} take)")
    lines.append(f"  metrics:    {run_dir / 'metrics.jsonl'}")
    lines.append(f"predict with: resvision predict --checkpoint {run_dir} IMAGE...")
    return "\n".join(lines)
