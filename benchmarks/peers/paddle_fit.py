"""Peer: Paddle's high-level ``Model.fit`` on the tutorial's recipe (runs in its own venv).

The recipe of the PaddlePaddle tutorial: ``paddle.Model(resnet50(num_classes=10))``, Momentum
(lr 0.01, momentum 0.9, L2Decay 1e-4), cross-entropy, Accuracy(topk=(1, 5)), batch 64, on
32x32 images, here from an in-memory data set of random images (no decoding, no augmentation,
the tutorial's ``Transpose()`` only). Prints ``{"best": images/s, "median": images/s}``.

    /work/paddlevenv/bin/python benchmarks/peers/paddle_fit.py --iters 20
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time

import numpy as np
import paddle
from paddle.vision.models import resnet50


class RandomImages(paddle.io.Dataset):
    def __init__(self, n: int, size: int, classes: int) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((n, 3, size, size)).astype("float32")
        self.y = rng.integers(0, classes, (n, 1)).astype("int64")

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    paddle.set_device("cpu")
    paddle.seed(0)
    data = RandomImages(args.batch * args.iters, 32, 10)
    model = paddle.Model(resnet50(pretrained=False, num_classes=10))
    opt = paddle.optimizer.Momentum(
        learning_rate=0.01,
        momentum=0.9,
        parameters=model.parameters(),
        weight_decay=paddle.regularizer.L2Decay(1e-4),
    )
    model.prepare(opt, paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy(topk=(1, 5)))
    speeds = []
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(data, batch_size=args.batch, epochs=1, verbose=0, num_iters=2)  # warm-up
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            model.fit(data, batch_size=args.batch, epochs=1, verbose=0)
            speeds.append(len(data) / (time.perf_counter() - t0))
    print(json.dumps({"best": max(speeds), "median": statistics.median(speeds),
                      "versions": {"paddle": paddle.__version__}}))  # fmt: skip


if __name__ == "__main__":
    main()
