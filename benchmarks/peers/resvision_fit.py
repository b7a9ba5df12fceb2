"""Side: resvision's ``Model.fit`` on the tutorial's recipe (one process per round).

``resvision.Model(create_model(model, num_classes))``, ``resvision.optim.Momentum`` (lr,
momentum, ``L2Decay``), cross-entropy, ``resvision.metrics.Accuracy(topk)``; ``fit`` on a
per-sample in-memory Dataset of random images (numpy arrays, the same as the other sides',
see ``peer_common.py``), through resvision's DataLoader path (the data set holds no image cache,
so ``fit`` builds a ``torch.utils.data.DataLoader``). Precision: ``auto`` leaves
``prepare`` to choose (bf16 autocast and channels-last where the hardware gains), ``fp32`` asks
for float32 NCHW. Run by ``benchmarks/peers.py`` with the peer's interpreter and ``src/`` on
``PYTHONPATH``, so both sides share one torch and numpy build:

    PYTHONPATH=src /work/venvs/tv/bin/python benchmarks/peers/resvision_fit.py --steps 20
"""

from __future__ import annotations

import contextlib
import io
import time

import peer_common


def main() -> None:
    args = peer_common.parse_args(__doc__.splitlines()[0], ("auto", "fp32"))
    import torch  # after parse_args: the thread variables are set

    import resvision
    from resvision.callbacks import Callback
    from resvision.metrics import Accuracy
    from resvision.optim import L2Decay, Momentum

    torch.set_num_threads(args.threads)
    x, y = peer_common.random_images(args)

    class Images(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i: int):
            return x[i], y[i]

    last: dict = {}  # the logs of the last epoch

    class Last(Callback):
        def on_epoch_end(self, epoch, logs=None):
            last.clear()
            last.update(logs or {})

    torch.manual_seed(args.seed)
    net = resvision.create_model(args.model, num_classes=args.classes)
    model = resvision.Model(net, device="cpu")
    opt = Momentum(
        learning_rate=args.lr,
        momentum=args.momentum,
        weight_decay=L2Decay(args.weight_decay),
        parameters=model.parameters(),
    )
    speed = {} if args.precision == "auto" else {"amp_configs": "fp32", "channels_last": False}
    model.prepare(opt, torch.nn.CrossEntropyLoss(), Accuracy(topk=args.topk), **speed)
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
    chosen = model.auto_settings.describe() if model.auto_settings is not None else ""
    chosen = chosen.removeprefix("speed settings: ")
    peer_common.report(
        args,
        side="resvision Model.fit",
        seconds=seconds,
        params=sum(p.numel() for p in net.parameters() if p.requires_grad),
        data_digest=peer_common.digest(x, y),
        threads={"torch": torch.get_num_threads()},
        versions={"torch": torch.__version__, "resvision": resvision.__version__},
        precision=f"{args.precision}: {chosen}",
        implementation="resvision.Model.fit; resvision.optim.Momentum(weight_decay=L2Decay); "
        "torch.nn.CrossEntropyLoss; resvision.metrics.Accuracy",
        final=_floats(last),
    )


def _floats(logs: dict) -> dict[str, float]:
    out = {}
    for k, v in logs.items():
        with contextlib.suppress(TypeError, ValueError):
            out[k] = float(v[0] if isinstance(v, (list, tuple)) else v)
    return out


if __name__ == "__main__":
    main()
