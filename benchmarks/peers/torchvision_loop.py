"""Side: torchvision's ResNets trained by a plain PyTorch loop (one process per round).

Imports nothing from resvision. The recipe is the tutorial's, written the textbook way:
``torch.optim.SGD(lr, momentum, weight_decay)`` (coupled L2, as Paddle's ``L2Decay``),
``nn.CrossEntropyLoss``, and top-k accuracy counted on every batch (hits kept as tensors, read
once at the end of the epoch); the data is a per-sample in-memory data set of random images
(the same numpy arrays as the other sides', see ``peer_common.py``) through
``torch.utils.data.DataLoader``. Precision: ``fp32`` (NCHW) or ``bf16+cl`` (bf16 autocast and
channels-last network and inputs, the best hand tuning on the CPU). Run by
``benchmarks/peers.py``:

    /work/venvs/tv/bin/python benchmarks/peers/torchvision_loop.py --model resnet50 --size 32 \
        --batch 64 --steps 20 --precision bf16+cl
"""

from __future__ import annotations

import contextlib
import time

import peer_common


def main() -> None:
    args = peer_common.parse_args(__doc__.splitlines()[0], ("fp32", "bf16+cl"))
    import torch  # after parse_args: the thread variables are set
    import torchvision

    torch.set_num_threads(args.threads)
    tuned = args.precision == "bf16+cl"
    x, y = peer_common.random_images(args)

    class Images(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i: int):
            return x[i], y[i]

    torch.manual_seed(args.seed)
    net = getattr(torchvision.models, args.model)(num_classes=args.classes)
    if tuned:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    opt = torch.optim.SGD(
        net.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(
        Images(), batch_size=args.batch, shuffle=True, num_workers=args.workers
    )
    maxk = max(args.topk)

    def epoch(limit: int | None = None) -> dict[str, float]:
        """One pass over ``loader`` (``limit`` batches at most); loss and accuracy."""
        hits = torch.zeros(len(args.topk), dtype=torch.int64)
        loss_sum, seen = torch.zeros(()), 0
        for step, (images, labels) in enumerate(loader):
            if limit is not None and step >= limit:
                break
            if tuned:
                images = images.contiguous(memory_format=torch.channels_last)
            ctx = torch.autocast("cpu", torch.bfloat16) if tuned else contextlib.nullcontext()
            with ctx:
                logits = net(images)
                loss = loss_fn(logits, labels)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                top = logits.topk(maxk, dim=1).indices == labels[:, None]
                hits += torch.stack([top[:, :k].any(dim=1).sum() for k in args.topk])
                loss_sum += loss.detach().float() * len(labels)
            seen += len(labels)
        out = {"loss": float(loss_sum) / max(seen, 1)}
        out.update({f"acc_top{k}": int(h) / max(seen, 1) for k, h in zip(args.topk, hits)})
        return out

    if args.warmup:
        epoch(limit=args.warmup)
    seconds, final = [], {}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        final = epoch()
        seconds.append(time.perf_counter() - t0)
    peer_common.report(
        args,
        side="torchvision plain loop",
        seconds=seconds,
        params=sum(p.numel() for p in net.parameters() if p.requires_grad),
        data_digest=peer_common.digest(x, y),
        threads={"torch": torch.get_num_threads()},
        versions={"torch": torch.__version__, "torchvision": torchvision.__version__},
        precision=args.precision,
        implementation="torchvision.models + a plain loop; torch.optim.SGD(weight_decay); "
        "torch.nn.CrossEntropyLoss; top-k hits counted per batch",
        final=final,
    )


if __name__ == "__main__":
    main()
