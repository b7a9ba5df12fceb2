"""Batch normalisation over the whole global batch of a data-parallel job.

With plain BatchNorm each process normalises with the statistics of its own slice of the
batch, so two processes with batch B/2 do not train like one process with batch B.
Synchronised BatchNorm computes the mean and variance over every process's samples.

On CUDA, :func:`convert_sync_batchnorm` uses PyTorch's ``nn.SyncBatchNorm`` (fused kernels).
PyTorch's accepts GPU inputs only, so on any other device it uses :class:`CollectiveBatchNorm`,
which computes the same thing with ``torch.distributed`` collectives (gloo on CPU): the sums of
``x`` and ``x**2`` are added over the processes in the forward pass, and the gradient flowing
back through that sum is added over the processes too, which is the exact gradient of the
global-batch loss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["CollectiveBatchNorm", "convert_sync_batchnorm"]


class _SumOverProcesses(torch.autograd.Function):
    """``all_reduce(SUM)`` over a group whose backward is ``all_reduce(SUM)`` of the gradient.

    Every process's loss depends on the summed tensor, so the gradient of the total loss with
    respect to one process's contribution is the sum of every process's gradient.
    """

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        out = tensor.clone()
        torch.distributed.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        out = grad.contiguous().clone()
        torch.distributed.all_reduce(out, group=ctx.group)
        return out, None


class CollectiveBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the batches of all processes.

    Same parameters, buffers and state-dict keys as ``nn.BatchNorm1d/2d/3d`` (checkpoints move
    freely between the two); inputs of any rank >= 2 (``[N, C, ...]``). Outside training, or
    without a process group, it is plain BatchNorm.

    Args:
        num_features: Channels ``C``.
        eps, momentum, affine, track_running_stats: As in ``nn.BatchNorm2d``.
        process_group: The processes to synchronise over (default: all).

    Examples:
        >>> bn = CollectiveBatchNorm(3)
        >>> ref = nn.BatchNorm2d(3)
        >>> x = torch.randn(4, 3, 2, 2)
        >>> torch.allclose(bn(x), ref(x), atol=1e-6)  # no process group: plain BatchNorm
        True
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype
        )
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-d input [N, C, ...], got {input.dim()}-d")

    def _world(self) -> int:
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            return 1
        return dist.get_world_size(self.process_group)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not self.training or self._world() == 1:
            return super().forward(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            assert self.num_batches_tracked is not None
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked)
        c = input.shape[1]
        dims = [d for d in range(input.dim()) if d != 1]
        # float64 sums on the CPU: E[x^2] - E[x]^2 then loses nothing that matters.
        acc = torch.float64 if input.device.type == "cpu" else torch.float32
        x = input.to(acc)
        local = torch.cat([x.sum(dims), (x * x).sum(dims)])
        count = torch.tensor([float(input.numel() // c)], dtype=acc, device=input.device)
        total = _SumOverProcesses.apply(local, self.process_group)
        torch.distributed.all_reduce(count, group=self.process_group)
        n = count[0]
        mean = total[:c] / n
        var = (total[c:] / n - mean * mean).clamp_min(0.0)  # biased, as BatchNorm normalises
        shape = [1, c] + [1] * (input.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.to(acc).view(shape) + self.bias.to(acc).view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                unbiased = var * (n / (n - 1).clamp_min(1.0))
                assert self.running_mean is not None and self.running_var is not None
                self.running_mean.mul_(1 - momentum).add_(
                    momentum * mean.to(self.running_mean.dtype)
                )
                self.running_var.mul_(1 - momentum).add_(
                    momentum * unbiased.to(self.running_var.dtype)
                )
        return out.to(input.dtype)


def convert_sync_batchnorm(
    module: nn.Module, device: torch.device | str, process_group: Any = None
) -> nn.Module:
    """Replace every BatchNorm layer of ``module`` by a synchronised one.

    The new layers take over the very parameter and buffer tensors of the old ones, so an
    optimizer built before still holds the right parameters.

    Args:
        module: The network (changed in place; returned).
        device: Where it trains: CUDA uses ``nn.SyncBatchNorm``, anything else
            :class:`CollectiveBatchNorm`.
        process_group: Synchronise over this group (default: all processes).

    Returns:
        ``module`` (or the new layer when ``module`` itself is a BatchNorm).

    Examples:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        >>> net = convert_sync_batchnorm(net, "cpu")
        >>> type(net[1]).__name__
        'CollectiveBatchNorm'
    """
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module, process_group)
    return _convert(module, process_group)


def _convert(module: nn.Module, process_group: Any) -> nn.Module:
    if isinstance(module, _BatchNorm) and not isinstance(
        module, (CollectiveBatchNorm, nn.SyncBatchNorm)
    ):
        new = CollectiveBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            process_group,
        )
        if module.affine:
            new.weight = module.weight
            new.bias = module.bias
        new.running_mean = module.running_mean
        new.running_var = module.running_var
        new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        if hasattr(module, "qconfig"):
            new.qconfig = module.qconfig
        return new
    for name, child in module.named_children():
        converted = _convert(child, process_group)
        if converted is not child:
            setattr(module, name, converted)
    return module
