"""Side: Paddle's high-level ``Model.fit`` on the tutorial's recipe (one process per round).

The recipe of the PaddlePaddle tutorial: ``paddle.Model(resnet50(num_classes=10))``,
``Momentum`` (lr 0.01, momentum 0.9, ``L2Decay(1e-4)``), ``CrossEntropyLoss``,
``Accuracy(topk=(1, 5))``, batch 64, on 32x32 images, here from a per-sample in-memory data set
of random images (the same numpy arrays as the other sides', see ``peer_common.py``) through
``paddle.io.DataLoader`` (built by ``fit``), in float32 on the CPU (Paddle's default). Threads:
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` (set by ``peer_common`` before Paddle loads) and
``paddle.base.core.set_num_threads``. Run by ``benchmarks/peers.py``:

    /work/venvs/paddle/bin/python benchmarks/peers/paddle_fit.py --steps 20 --warmup 3
"""

from __future__ import annotations

import contextlib
import io
import time

import peer_common


def main() -> None:
    args = peer_common.parse_args(__doc__.splitlines()[0], ("fp32",))
    import numpy as np
    import paddle  # after parse_args: the thread variables are set
    from paddle.vision import models

    paddle.set_device("cpu")
    set_threads = getattr(paddle.base.core, "set_num_threads", None)
    if set_threads is not None:
        set_threads(args.threads)
    paddle.seed(args.seed)
    x, y = peer_common.random_images(args)

    class Images(paddle.io.Dataset):
        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i: int):
            return x[i], y[i]

    last: dict = {}  # the logs of the last epoch

    class Last(paddle.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            last.clear()
            last.update(logs or {})

    net = getattr(models, args.model)(num_classes=args.classes)
    model = paddle.Model(net)
    opt = paddle.optimizer.Momentum(
        learning_rate=args.lr,
        momentum=args.momentum,
        parameters=model.parameters(),
        weight_decay=paddle.regularizer.L2Decay(args.weight_decay),
    )
    model.prepare(opt, paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy(topk=args.topk))
    data = Images()

    def fit(**kw) -> None:
        model.fit(data, batch_size=args.batch, epochs=1, shuffle=True,
                  num_workers=args.workers, verbose=0, callbacks=[Last()], **kw)  # fmt: skip

    seconds = []
    with contextlib.redirect_stdout(io.StringIO()):
        if args.warmup:
            fit(num_iters=args.warmup)
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            fit()
            seconds.append(time.perf_counter() - t0)
    final = {}
    for k, v in last.items():
        with contextlib.suppress(TypeError, ValueError):
            final[k] = float(np.ravel(v)[0])
    peer_common.report(
        args,
        side="Paddle Model.fit",
        seconds=seconds,
        # trainable only: Paddle keeps batch norm's running mean and variance as parameters
        params=int(sum(int(np.prod(p.shape)) for p in net.parameters() if not p.stop_gradient)),
        data_digest=peer_common.digest(x, y),
        threads={"paddle_set_num_threads": args.threads if set_threads else None},
        versions={"paddle": paddle.__version__},
        precision="fp32 (Paddle's default on the CPU)",
        implementation="paddle.Model.fit; paddle.optimizer.Momentum(weight_decay=L2Decay); "
        "paddle.nn.CrossEntropyLoss; paddle.metric.Accuracy",
        final=final,
    )


if __name__ == "__main__":
    main()
