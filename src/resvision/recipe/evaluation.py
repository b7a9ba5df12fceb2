"""Evaluation with the details a report needs, and loading a run's model for inference.

One pass of :meth:`resvision.Model.predict` over the evaluation split gives the logits; the
engine's metrics (``Accuracy``, ``ConfusionMatrix``) turn them into top-1/top-5, the confusion
matrix and per-class accuracy, and the most confident mistakes are kept as thumbnails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from resvision.atomic import atomic_write_bytes
from resvision.recipe.config import Config
from resvision.recipe.data import DataBundle, Preprocess
from resvision.recipe.errors import UsageError
from resvision.recipe.runfolder import EVALUATION_FILE, MISCLASSIFIED_FILE

THUMBNAIL = 64  # side of the misclassified thumbnails of photo folders (CIFAR stays 32)


def dataset_labels(dataset: Any) -> np.ndarray:
    """The labels of a data set, from its label array when it has one (no image decoding)."""
    for attr in ("labels", "targets"):
        labels = getattr(dataset, attr, None)
        if labels is not None:
            return np.asarray(labels, dtype=np.int64).reshape(-1)
    return np.asarray([int(np.asarray(dataset[i][1]).reshape(-1)[0]) for i in range(len(dataset))])


def raw_image(dataset: Any, index: int) -> np.ndarray | None:
    """The untransformed image ``index`` as ``uint8`` HWC (thumbnail-sized for photos)."""
    if hasattr(dataset, "hwc"):
        image = np.asarray(dataset.hwc(index))
        return image[..., None] if image.ndim == 2 else image
    samples = getattr(dataset, "samples", None)
    if samples is None:
        return None
    from PIL import Image, ImageOps

    try:
        with Image.open(samples[index][0]) as img:
            img = ImageOps.fit(img.convert("RGB"), (THUMBNAIL, THUMBNAIL))
            return np.asarray(img)
    except OSError:
        return None


def evaluate_logits(
    logits: np.ndarray, labels: np.ndarray, classes: list[str]
) -> tuple[dict[str, Any], np.ndarray]:
    """Loss, top-1/top-5, confusion matrix and per-class accuracy of ``logits`` [N, C].

    Returns:
        ``(results, probabilities)``; results are JSON-ready.

    Examples:
        >>> logits = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
        >>> res, _ = evaluate_logits(logits, np.array([0, 1, 1]), ["a", "b"])
        >>> res["acc_top1"], res["confusion_matrix"], res["per_class_accuracy"]
        (0.6666666666666666, [[1, 0], [1, 1]], [1.0, 0.5])
    """
    import torch

    from resvision.metrics import Accuracy, ConfusionMatrix

    scores = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
    target = torch.from_numpy(labels.astype(np.int64))
    loss = float(torch.nn.functional.cross_entropy(scores, target))
    topk = (1, 5) if len(classes) > 5 else (1,)
    accuracy = Accuracy(topk=topk)
    accuracy.update(accuracy.compute(scores, target))
    values = accuracy.accumulate()
    values = values if isinstance(values, list) else [values]
    confusion = ConfusionMatrix(len(classes))
    confusion.update(*confusion.compute(scores, target))
    matrix = confusion.matrix()
    results = {
        "loss": loss,
        "acc_top1": float(values[0]),
        "acc_top5": float(values[1]) if len(values) > 1 else None,
        "mean_class_acc": float(confusion.accumulate()),
        "num_samples": len(labels),
        "classes": list(classes),
        "confusion_matrix": matrix.tolist(),
        "per_class_accuracy": [None if a != a else a for a in confusion.per_class_accuracy()],
        "per_class_count": matrix.sum(dim=1).tolist(),
    }
    # A split may lack some classes (a small val/): they are counted, with no accuracy.
    results["classes_without_samples"] = [
        c for c, n in zip(classes, results["per_class_count"]) if n == 0
    ]
    return results, torch.softmax(scores, dim=1).numpy()


def predict_logits(model: Any, dataset: Any, batch_size: int, num_workers: int, callbacks=None):
    """Logits [N, C] of ``model`` over ``dataset`` (one pass, no labels needed).

    ``Model.predict`` gives a network with auxiliary outputs (GoogLeNet) by its main output
    alone; of a network that returns several tensors otherwise, the first is the logits.
    """
    outputs = model.predict(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        stack_outputs=True,
        verbose=0,
        callbacks=callbacks,
    )
    return outputs[0]


def write_misclassified(
    path: Path, dataset: Any, probs: np.ndarray, labels: np.ndarray, classes: list[str], count: int
) -> int:
    """Save the ``count`` most confident mistakes (image, true, predicted, probability).

    Returns:
        How many images were saved.
    """
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:count]
    images, kept = [], []
    for i in order:
        image = raw_image(dataset, int(i))
        if image is not None:
            images.append(image)
            kept.append(int(i))
    if images and len({im.shape for im in images}) > 1:
        images, kept = [], []  # mixed sizes (a custom dataset): no grid rather than a wrong one
    kept_arr = np.asarray(kept, dtype=np.int64)
    arrays = {
        "images": np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8),
        "index": kept_arr,
        "true": labels[kept_arr] if kept else np.zeros(0, np.int64),
        "pred": pred[kept_arr] if kept else np.zeros(0, np.int64),
        "prob": probs[kept_arr, pred[kept_arr]] if kept else np.zeros(0, np.float32),
        "classes": np.asarray(classes, dtype=str),
    }
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return len(kept)


def final_evaluation(
    model: Any,
    data: DataBundle,
    out_dir: Path,
    cfg: Config,
    callbacks: Any = None,
    write: bool = True,
) -> dict[str, Any]:
    """Evaluate on ``data.eval`` and write ``evaluation.json`` and ``misclassified.npz``.

    Under torchrun every process calls it (the prediction is split between them); the others
    pass ``write=False`` and get ``{}``.
    """
    from resvision.recipe.runfolder import write_json

    logits = predict_logits(
        model, data.eval, cfg.train.batch_size, cfg.data.num_workers, callbacks=callbacks
    )
    if not write:
        return {}
    labels = dataset_labels(data.eval)
    results, probs = evaluate_logits(logits, labels, data.classes)
    results.update({"data": data.description, "split": data.eval_split})
    write_json(out_dir / EVALUATION_FILE, results)
    write_misclassified(
        out_dir / MISCLASSIFIED_FILE,
        data.eval,
        probs,
        labels,
        data.classes,
        cfg.output.misclassified,
    )
    return results


def load_model_for_inference(
    info: dict[str, Any],
    file: Path,
    device_name: str,
    checkpoint: dict[str, Any] | None = None,
    run_settings: bool = True,
) -> Any:
    """A ``resvision.Model`` with the checkpoint's network and weights, on ``device_name``.

    When the run kept an EMA of the weights (``--ema``), the averaged weights are loaded, as
    they are the ones its evaluations used. The model computes with the run's precision and
    memory format (``train.amp``, ``train.channels_last``), so that ``eval`` reproduces the
    run's own final evaluation; ``run_settings=False`` keeps fp32 and the default memory
    format (what ``export`` traces).
    """
    import resvision
    from resvision.recipe.build import amp_setting, build_network, resolve_device_name
    from resvision.recipe.config import ModelSection

    pre = Preprocess.from_dict(info["preprocess"])
    net = build_network(ModelSection(name=info["model"]), len(info["classes"]), pre.channels)
    model = resvision.Model(net, device=resolve_device_name(device_name))
    try:
        model.load(file, reset_optimizer=True)
    except (ValueError, OSError) as err:
        raise UsageError(f"cannot load {str(file)!r}: {err}") from None
    ema_state = ((checkpoint or {}).get("callbacks") or {}).get("EMA")
    if ema_state:
        from resvision.callbacks import EMA

        ema = EMA()
        ema.set_model(model)
        ema.load_state_dict(ema_state)
        ema.ema.copy_to(model.network)
    train = (info.get("config") or {}).get("train") or {}
    if not run_settings:
        return model
    model.prepare(
        amp_configs=amp_setting(train.get("amp", "off"), model.device),
        channels_last=train.get("channels_last", False),
    )
    return model
