"""Peer: the PaddlePaddle tutorial's 14-line example, on the embedded CIFAR-10 sample, in Paddle.

Runs in its own venv (``paddlepaddle``, numpy, Pillow). The recipe is the tutorial's, line for
line: ``paddle.Model(resnet50(pretrained=False, num_classes=10))``, ``Momentum(lr 0.01, momentum
0.9, L2Decay(1e-4))``, ``CrossEntropyLoss``, ``Accuracy(topk=(1, 5))``, ``Transpose()`` on
unnormalised 0-255 images (the 'cv2' backend's float32 HWC arrays), batch 64, evaluated on the
test split after every epoch. The only change is the data: the 5,000 / 1,000 images of
resvision's embedded sample (``src/resvision/assets/cifar10_sample.npz``, JPEG bytes decoded
with Pillow to RGB exactly as resvision decodes them), so that both toolkits see the same pixels.

Prints one JSON line per evaluation: ``{"epoch": e, "loss": ..., "acc_top1": ..., "acc_top5":
..., "train_acc_top1": ...}``.

    /work/venvs/paddle/bin/python benchmarks/peers/paddle_tutorial.py --epochs 6 --seed 0
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import paddle
from paddle.vision.models import resnet50
from paddle.vision.transforms import Transpose
from PIL import Image

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "resvision" / "assets" / "cifar10_sample.npz"


def decode(path: Path, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """HWC uint8 RGB images and int64 labels of one split of the sample."""
    with np.load(path, allow_pickle=False) as npz:
        blob, offsets = npz[f"{mode}_jpeg"], npz[f"{mode}_offsets"]
        labels = npz[f"{mode}_labels"].astype(np.int64)
    images = np.empty((len(labels), 32, 32, 3), dtype=np.uint8)
    for i in range(len(labels)):
        with Image.open(io.BytesIO(blob[offsets[i] : offsets[i + 1]].tobytes())) as im:
            images[i] = np.asarray(im.convert("RGB"))
    return images, labels


class Sample(paddle.io.Dataset):
    """The sample with the item semantics of ``paddle.vision.datasets.Cifar10`` (backend cv2)."""

    def __init__(self, mode: str, transform) -> None:
        super().__init__()
        self.images, self.labels = decode(SAMPLE, mode)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = self.images[i]
        if self.transform is not None:
            image = self.transform(image)
        return image.astype("float32"), np.array(self.labels[i]).astype("int64")


class Record(paddle.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epoch, self.train = 0, {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch, self.train = epoch + 1, dict(logs or {})

    def on_eval_end(self, logs=None):
        logs = logs or {}
        row = {
            "epoch": self.epoch,
            "loss": float(np.ravel(logs["loss"])[0]),
            "acc_top1": float(logs["acc_top1"]),
            "acc_top5": float(logs["acc_top5"]),
            "train_acc_top1": float(self.train.get("acc_top1", float("nan"))),
        }
        print(json.dumps(row), file=sys.__stdout__, flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    paddle.set_device("cpu")
    paddle.seed(args.seed)
    np.random.seed(args.seed)
    paddle.vision.set_image_backend("cv2")
    model = paddle.Model(resnet50(pretrained=False, num_classes=10))
    train_dataset = Sample("train", Transpose())
    val_dataset = Sample("test", Transpose())
    optimizer = paddle.optimizer.Momentum(
        learning_rate=0.01,
        momentum=0.9,
        weight_decay=paddle.regularizer.L2Decay(1e-4),
        parameters=model.parameters(),
    )
    model.prepare(optimizer, paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy(topk=(1, 5)))
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(train_dataset, val_dataset, epochs=args.epochs, batch_size=64, verbose=0,
                  num_workers=0, callbacks=[Record()])  # fmt: skip


if __name__ == "__main__":
    main()
