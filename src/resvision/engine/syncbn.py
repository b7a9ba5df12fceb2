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

Which layers are converted (the rule :func:`convert_sync_batchnorm` follows on every device):

- Layers whose type is exactly ``nn.BatchNorm1d/2d/3d`` are replaced by the device's
  synchronised layer, which takes over their parameter and buffer tensors. On CUDA that is
  PyTorch's converter, called on these layers only (an exact ``nn.SyncBatchNorm`` or
  ``CollectiveBatchNorm`` goes through it too, as they have the same parameters and meaning).
- Layers that synchronise themselves (instances of ``nn.SyncBatchNorm`` or
  ``CollectiveBatchNorm``, subclasses included) are left as they are elsewhere.
- Any other BatchNorm subclass keeps its type, parameters, buffers and ``forward``: rebuilding
  it as a plain layer would drop what it adds (AirNet's ``ScaledBiasBatchNorm`` has no weight
  and its own ``8 * bias``: PyTorch's converter lost its biases and changed its outputs).
  Instead its ``forward`` runs, in training with more than one process, under a torch function
  mode that gives its ``torch.nn.functional.batch_norm`` calls the statistics of the global
  batch, with the weight, bias, momentum and eps the layer passes: nn.SyncBatchNorm's kernels on
  CUDA, :class:`CollectiveBatchNorm`'s collectives elsewhere. A subclass whose training
  ``forward`` does not call ``F.batch_norm`` cannot be synchronised that way: its first
  synchronised training step raises ``RuntimeError`` naming it, rather than train on local
  statistics.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.overrides import TorchFunctionMode

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
        return _world_size(self.process_group)

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
        track = self.track_running_stats
        return _collective_batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            momentum,
            self.eps,
            self.process_group,
        )


def _collective_batch_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    momentum: float,
    eps: float,
    process_group: Any,
) -> torch.Tensor:
    """``F.batch_norm`` in training, with the statistics of every process's batch.

    The running statistics (when given) are updated in place with ``momentum``, as
    ``F.batch_norm`` does; ``weight`` and ``bias`` are each optional.
    """
    c = input.shape[1]
    dims = [d for d in range(input.dim()) if d != 1]
    # float64 sums on the CPU: E[x^2] - E[x]^2 then loses nothing that matters.
    acc = torch.float64 if input.device.type == "cpu" else torch.float32
    x = input.to(acc)
    local = torch.cat([x.sum(dims), (x * x).sum(dims)])
    # torch.full, not torch.tensor([...], device=...): no host-to-device copy that would make
    # the host wait for the device.
    count = torch.full((1,), float(input.numel() // c), dtype=acc, device=input.device)
    total = _SumOverProcesses.apply(local, process_group)
    torch.distributed.all_reduce(count, group=process_group)
    n = count[0]
    mean = total[:c] / n
    var = (total[c:] / n - mean * mean).clamp_min(0.0)  # biased, as BatchNorm normalises
    shape = [1, c] + [1] * (input.dim() - 2)
    out = (x - mean.view(shape)) * torch.rsqrt(var + eps).view(shape)
    if weight is not None:
        out = out * weight.to(acc).view(shape)
    if bias is not None:
        out = out + bias.to(acc).view(shape)
    if running_mean is not None and running_var is not None:
        with torch.no_grad():
            unbiased = var * (n / (n - 1).clamp_min(1.0))
            running_mean.mul_(1 - momentum).add_(momentum * mean.to(running_mean.dtype))
            running_var.mul_(1 - momentum).add_(momentum * unbiased.to(running_var.dtype))
    return out.to(input.dtype)


def _world_size(process_group: Any) -> int:
    """Processes in ``process_group`` (default: all); 1 without a process group."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(process_group)


def _fused_sync_devices() -> tuple[str, ...]:
    """Device types on which ``nn.SyncBatchNorm``'s fused kernels run (elsewhere the
    collectives of :class:`CollectiveBatchNorm` are used)."""
    return ("cuda", "hpu", "xpu", torch._C._get_privateuse1_backend_name())


def _fused_batch_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    momentum: float,
    eps: float,
    process_group: Any,
    world: int,
) -> torch.Tensor:
    """``F.batch_norm`` in training with global statistics, by ``nn.SyncBatchNorm``'s kernels."""
    from torch.nn.modules.batchnorm import sync_batch_norm

    group = process_group if process_group is not None else torch.distributed.group.WORLD
    if weight is None and bias is not None:
        # PyTorch's function returns no bias gradient when there is no weight (AirNet's layers
        # have a bias only): normalise without either, and add the bias here, under autograd.
        out = sync_batch_norm.apply(
            input, None, None, running_mean, running_var, eps, momentum, group, world
        )
        shape = [1, -1] + [1] * (input.dim() - 2)
        return out + bias.to(out.dtype).view(shape)
    return sync_batch_norm.apply(
        input, weight, bias, running_mean, running_var, eps, momentum, group, world
    )


#: How F.batch_norm's arguments are named (bound per call: positional or keyword alike).
_BATCH_NORM_SIGNATURE = inspect.signature(F.batch_norm)


class _GlobalBatchStatistics(TorchFunctionMode):
    """While active, ``F.batch_norm(..., training=True)`` uses the global batch's statistics.

    Every other call runs unchanged. ``calls`` counts the ``F.batch_norm`` calls (synchronised
    or in evaluation mode), so that a layer whose forward normalises some other way is not left
    training on local statistics unnoticed.
    """

    def __init__(self, process_group: Any, world: int) -> None:
        super().__init__()
        self.process_group = process_group
        self.world = world
        self.calls = 0

    def __torch_function__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is not F.batch_norm:
            return func(*args, **kwargs)
        self.calls += 1
        bound = _BATCH_NORM_SIGNATURE.bind(*args, **kwargs)
        bound.apply_defaults()
        call = bound.arguments
        if not call["training"]:  # the running statistics: nothing to synchronise
            return func(*args, **kwargs)
        common = (
            call["input"],
            call["running_mean"],
            call["running_var"],
            call["weight"],
            call["bias"],
            call["momentum"],
            call["eps"],
            self.process_group,
        )
        if call["input"].device.type in _fused_sync_devices():
            return _fused_batch_norm(*common, self.world)
        return _collective_batch_norm(*common)


class _SynchronisedForward:
    """The ``forward`` of a custom BatchNorm layer, installed on the instance: in training with
    several processes it runs the layer's own forward under :class:`_GlobalBatchStatistics`.

    The layer keeps its class, parameters, buffers and state-dict keys; copies and pickles of
    the network carry this wrapper along (it refers to the layer, not to a closure).
    """

    def __init__(self, layer: nn.Module, path: str, process_group: Any) -> None:
        self.layer = layer
        self.path = path
        self.process_group = process_group

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        layer = self.layer
        forward = type(layer).forward.__get__(layer)
        if not layer.training:  # as nn.SyncBatchNorm: no synchronisation outside training
            return forward(*args, **kwargs)
        world = _world_size(self.process_group)
        if world == 1:
            return forward(*args, **kwargs)
        mode = _GlobalBatchStatistics(self.process_group, world)
        with mode:
            out = forward(*args, **kwargs)
        if mode.calls == 0:
            raise RuntimeError(
                f"cannot synchronise the BatchNorm layer {self.path or '<root>'} "
                f"({type(layer).__qualname__}): its forward does not call "
                "torch.nn.functional.batch_norm, so its statistics would stay those "
                "of this process's batch. Supported: nn.BatchNorm1d/2d/3d, and subclasses whose "
                "forward normalises with torch.nn.functional.batch_norm"
            )
        return out


def convert_sync_batchnorm(
    module: nn.Module, device: torch.device | str, process_group: Any = None
) -> nn.Module:
    """Make every BatchNorm layer of ``module`` use the statistics of all processes.

    Plain ``nn.BatchNorm1d/2d/3d`` layers are replaced by synchronised ones that take over the
    very parameter and buffer tensors of the old ones, so an optimizer built before still holds
    the right parameters. BatchNorm subclasses are kept, parameters and forward included, and
    synchronised around their ``F.batch_norm`` calls (the rule is in the module documentation).

    Args:
        module: The network (changed in place; returned).
        device: Where it trains: CUDA uses ``nn.SyncBatchNorm``, anything else
            :class:`CollectiveBatchNorm`.
        process_group: Synchronise over this group (default: all processes).

    Returns:
        ``module`` (or the new layer when ``module`` itself is a plain BatchNorm).

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
        ValueError: a BatchNorm subclass instance has its own ``forward`` attribute (which
            this conversion would have to replace).

    Examples:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        >>> net = convert_sync_batchnorm(net, "cpu")
        >>> type(net[1]).__name__
        'CollectiveBatchNorm'
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    cuda = torch.device(device).type == "cuda"
    return _convert(module, process_group, cuda, "")


#: Replaced by the device's synchronised layer: same parameters, buffers and meaning.
_PLAIN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _convert(module: nn.Module, process_group: Any, cuda: bool, path: str) -> nn.Module:
    kind = type(module)  # exact types: a subclass may add parameters or change the forward
    if cuda and kind in (*_PLAIN, nn.SyncBatchNorm, CollectiveBatchNorm):
        # PyTorch's converter sees this one layer only, never a custom subclass (it would
        # rebuild it as a plain SyncBatchNorm, dropping what the subclass adds).
        return nn.SyncBatchNorm.convert_sync_batchnorm(module, process_group)
    if not cuda and kind in _PLAIN:
        return _collective_copy(module, process_group)
    if isinstance(module, (nn.SyncBatchNorm, CollectiveBatchNorm)):
        return module  # synchronises itself
    if isinstance(module, _BatchNorm):
        _synchronise_forward(module, process_group, path)
    for name, child in module.named_children():
        converted = _convert(child, process_group, cuda, f"{path}.{name}" if path else name)
        if converted is not child:
            setattr(module, name, converted)
    return module


def _collective_copy(module: _BatchNorm, process_group: Any) -> CollectiveBatchNorm:
    """A :class:`CollectiveBatchNorm` holding ``module``'s parameter and buffer tensors."""
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


def _synchronise_forward(layer: _BatchNorm, process_group: Any, path: str) -> None:
    """Run ``layer``'s own forward with global statistics (see :class:`_SynchronisedForward`)."""
    installed = layer.__dict__.get("forward")
    if isinstance(installed, _SynchronisedForward):  # converted before: the latest group wins
        installed.process_group, installed.path = process_group, path
        return
    if installed is not None:
        raise ValueError(
            f"cannot synchronise the BatchNorm layer {path or '<root>'} "
            f"({type(layer).__qualname__}): its instance has its own forward attribute "
            f"({installed!r}); supported are layers that use their class's forward"
        )
    layer.forward = _SynchronisedForward(layer, path, process_group)
