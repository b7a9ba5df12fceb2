"""Time to accuracy: the fast CIFAR-10 recipe (``configs/fast_cifar10.yaml``), end to end.

The run is built from the preset exactly as ``resvision train --config fast_cifar10 --data DIR``
builds it (the CLI's own builders: data, network, optimizer, schedule, loss, EMA), and trained
with ``Model.fit`` on CIFAR-10 (JPEG): a ``DatasetFolder`` over the extracted tree, which the
loader decodes once into memory and augments in whole batches (the fast path). Differences from
the CLI run, both to keep the clock on what the recipe needs: no evaluation after epoch 0 and no
HTML report.

The clock starts before the data set is opened (scan + JPEG decode, in a fresh cache, count)
and stops after the final test-set evaluation (6-view TTA; the EMA weights when the recipe
keeps an average). Extracting the archive
is reported apart. The curve's intermediate points evaluate the weights kept at each epoch
end, off the clock, with one view (no TTA) to keep the benchmark short; the final point is the
recipe's real result (with TTA), on the clock.

``benchmarks/fast_recipe_protocol.py`` drives :func:`train_recipe` for the recipe's protocol:
tuning on a validation split held out of the training images, then the test set once; with
``preset=`` it runs another preset the same way (``cifar10_v2``). ``fit`` takes the CLI's own
arguments (``resvision.recipe.training.fit_arguments``: accumulation, MixUp/CutMix, repeated
augmentation), less its logging and checkpoint frequencies.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import SHARED_ARCHIVE, Result


class _EpochClock:
    """Keeps (seconds since start, epoch, weights) at each epoch end: the EMA weights when the
    recipe averages them, else the network's own."""

    def __init__(self, start: float, ema: Any, network: Any) -> None:
        from resvision.callbacks import Callback

        outer = self

        class Hook(Callback):
            def on_train_begin(self, logs: dict | None = None) -> None:
                # fit has built its loader (the data set is on the device): setup ends here
                outer.train_begin = time.perf_counter() - outer.start

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if outer.ema is not None and outer.ema.ema is not None:
                    source = outer.ema.ema.shadow
                else:
                    source = outer.network.state_dict()
                state = {k: v.detach().clone() for k, v in source.items()}
                outer.points.append((time.perf_counter() - outer.start, epoch + 1, state))

        self.start, self.ema, self.network, self.points = start, ema, network, []
        self.train_begin = 0.0
        self.callback = Hook()


def extract_archive(archive: str, into: str | os.PathLike) -> float:
    """Extract ``archive`` into the folder ``into``; returns the seconds it took."""
    t0 = time.perf_counter()
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return time.perf_counter() - t0


def recipe_config(
    root: Path,
    epochs: int | None = None,
    seed: int = 0,
    overrides: tuple[str, ...] = (),
    preset: str = "fast_cifar10",
) -> Any:
    """The preset (``fast_cifar10`` unless named) with the data folder ``root`` (other epochs,
    ``--set``s)."""
    from resvision.recipe.config import resolve
    from resvision.recipe.presets import find_config

    sets = [f"data.name={root}", f"train.seed={seed}", *overrides]
    if epochs is not None:
        sets.append(f"train.epochs={epochs}")
    return resolve(find_config(preset), {}, sets)


def train_once(cfg: Any, data: Any, device: torch.device, start: float) -> dict[str, Any]:
    """Build the network, optimizer, schedule, loss and EMA of ``cfg``; train; evaluate.

    Returns the times (seconds since ``start``) at the end of training and after the final
    evaluation, the test accuracy with the recipe's TTA, and the EMA weights of each epoch.
    """
    from resvision.engine.device import synchronize
    from resvision.recipe.training import build_model, fit_arguments

    # The CLI's own assembly (seeded before the network is built, so train.seed fixes the
    # initial weights).
    model, ema, _ = build_model(cfg, data, device)
    clock = _EpochClock(start, ema, model.network)
    cbks = [clock.callback] if ema is None else [ema, clock.callback]
    # The CLI's fit arguments (batch, accumulation, workers, seed, repeated augmentation,
    # MixUp/CutMix), less its logging and checkpoint frequencies: no evaluation or saving
    # during training here.
    kwargs = fit_arguments(cfg)
    for key in ("eval_freq", "log_freq", "save_freq", "save_steps"):
        kwargs.pop(key)
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(data.train, verbose=0, callbacks=cbks, **kwargs)
    synchronize(device)
    train_end = time.perf_counter() - start
    if ema is not None:
        ema.ema.copy_to(model.network)
    result = model.evaluate(data.eval, batch_size=1000, verbose=0)
    synchronize(device)
    accuracy = result.get("acc_top1", result.get("acc"))
    return {
        "model": model,
        "train_begin": clock.train_begin,  # network built, data set on the device
        "train_end": train_end,
        "eval_end": time.perf_counter() - start,
        "test_acc_tta": accuracy,
        "points": clock.points,
        "settings": model.auto_settings.describe() if model.auto_settings else "",
    }


def train_recipe(
    root: Path,
    epochs: int | None,
    seed: int = 0,
    overrides: tuple[str, ...] = (),
    curve: bool = True,
    preset: str = "fast_cifar10",
) -> dict[str, Any]:
    """Run the preset (``fast_cifar10`` unless named) on the folder ``root``; returns timings,
    accuracy and the curve.

    The folder's evaluation split is the one the CLI takes: ``val/`` when present, else
    ``test/`` (``resvision.recipe.data.folder_splits``); ``eval_split`` in the result names it,
    and ``test_acc_tta`` is the accuracy on it. ``curve=False`` skips the per-epoch
    evaluations (off the clock; the list is then empty).
    """
    import resvision
    from resvision.recipe.data import open_data

    cfg = recipe_config(root, epochs, seed, overrides, preset)
    start = time.perf_counter()
    data = open_data(cfg.data)
    device = resvision.engine.device.resolve_device(None)
    out = train_once(cfg, data, device, start)
    model, network = out["model"], out["model"].network
    points = []
    network.tta_level = 0
    for seconds, epoch, state in out["points"] if curve else ():
        network.load_state_dict(state)
        result = model.evaluate(data.eval, batch_size=1000, verbose=0)
        acc = result.get("acc_top1", result.get("acc"))
        points.append({"seconds": seconds, "epoch": epoch, "acc_no_tta": acc})
    return {
        "preset": preset,
        "epochs": cfg.train.epochs,
        "seed": cfg.train.seed,
        "setup_seconds": out["train_begin"],  # scan, network, decode: training starts here
        "train_seconds": out["train_end"],  # since the start: setup and decode included
        "total_seconds": out["eval_end"],
        "test_acc_tta": out["test_acc_tta"],  # on the evaluation split (eval_split)
        "eval_split": data.eval_split,
        "train_images": len(data.train),
        "eval_images": len(data.eval),
        "curve": points,
        "device": str(device),
        "settings": out["settings"],
        "images_per_s": cfg.train.epochs * len(data.train) / out["train_end"],
    }


def plot(run: dict[str, Any], path: str) -> str | None:
    """The accuracy curve as a PNG; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [p["seconds"] / 60 for p in run["curve"]]
    ax.plot(
        xs,
        [100 * p["acc_no_tta"] for p in run["curve"]],
        "o-",
        label="weights at each epoch end, 1 view",
    )
    ax.plot([run["total_seconds"] / 60], [100 * run["test_acc_tta"]], "r*", markersize=12,
            label=f"final, 6-view TTA: {100 * run['test_acc_tta']:.2f}%")  # fmt: skip
    ax.axhline(91, color="grey", linestyle=":", label="target 91%")
    ax.set_xlabel("wall-clock minutes (data decode included)")
    ax.set_ylabel("CIFAR-10 (JPEG) test accuracy, %")
    ax.set_ylim(40, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"fast_cifar10 (airnet), {run['epochs']} epochs, {run['device']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(
    *,
    root: str | None = None,
    epochs: int | None = None,
    png: str | None = None,
    overrides: tuple[str, ...] = (),
) -> tuple[list[Result], dict[str, Any]]:
    """Extract (unless ``root`` is given), train, evaluate; rows plus the raw run."""
    with tempfile.TemporaryDirectory(prefix="resvision-tta-") as tmp:
        os.environ["RESVISION_CACHE"] = str(Path(tmp) / "cache")  # the decode is on the clock
        extract = None
        if root is None:
            if not os.path.exists(SHARED_ARCHIVE):
                return [
                    Result(
                        "time-to-acc",
                        "fast_cifar10",
                        None,
                        "",
                        note=f"skipped: no CIFAR-10 (JPEG) at {SHARED_ARCHIVE}; pass --data-root",
                    )
                ], {}
            extract = extract_archive(SHARED_ARCHIVE, tmp)
            root = tmp
        run_ = train_recipe(Path(root), epochs, overrides=overrides)
    run_["overrides"] = list(overrides)
    run_["extract_seconds"] = extract
    if png:
        run_["png"] = plot(run_, png)
    note = (
        f"{run_['epochs']} epochs, train {run_['train_seconds'] / 60:.1f} min at "
        f"{run_['images_per_s']:.0f} images/s; {run_['settings']}"
        + (f"; --set {' '.join(overrides)}" if overrides else "")
    )
    rows = [
        Result("time-to-acc", "fast_cifar10 CIFAR-10 (JPEG) test acc (6-view TTA)",
               100 * run_["test_acc_tta"], "%", note=note),
        Result("time-to-acc", "fast_cifar10 wall-clock, end to end", run_["total_seconds"],
               "s", note="decode + train + final eval; extract apart"
               + (f" ({extract:.1f} s)" if extract else "")),
    ]  # fmt: skip
    print("  time to accuracy: done", flush=True)
    return rows, run_
