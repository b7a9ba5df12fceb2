"""Fine-tuning: train the classifier alone (linear probing), then optionally everything."""

from __future__ import annotations

from typing import Any

from torch import nn

from .base import Callback, find_network

__all__ = ["FreezeBackbone"]


class FreezeBackbone(Callback):
    """Freeze every parameter outside the classifier during ``fit``; unfreeze at an epoch.

    At the start of training the backbone's parameters get ``requires_grad=False`` (so the
    optimizer leaves them alone: they have no gradient) and, with ``freeze_bn_stats``, its
    BatchNorm layers run in eval mode so their running statistics stay those of the
    pretrained weights. From epoch ``unfreeze_at_epoch`` on (0-based, checked at each epoch
    start, so a resumed run decides the same way) everything trains. At the end of ``fit`` the
    parameters get back the ``requires_grad`` they had.

    Build the optimizer over all parameters (``model.parameters()``), as usual: frozen ones
    simply receive no gradient, and after unfreezing they are trained with the same optimizer.
    Parameters that were already frozen before ``fit`` stay frozen.

    Args:
        unfreeze_at_epoch: the epoch from which the whole network trains; None: never.
        head: what stays trainable: None for the network's ``get_classifier()`` (every resvision
            model has it), a sub-module name such as ``'fc'``, or an ``nn.Module``.
        freeze_bn_stats: keep the backbone's BatchNorm running statistics fixed while frozen.

    Raises:
        ValueError: ``unfreeze_at_epoch`` is negative or not an int.

    Examples:
        >>> from resvision.models import resnet20
        >>> net = resnet20(num_classes=2)
        >>> class FakeModel:
        ...     network = net
        >>> cb = FreezeBackbone(unfreeze_at_epoch=1)
        >>> cb.set_model(FakeModel()); cb.on_train_begin(); cb.on_epoch_begin(0)
        >>> [n for n, p in net.named_parameters() if p.requires_grad]
        ['fc.weight', 'fc.bias']
        >>> cb.on_epoch_begin(1); all(p.requires_grad for p in net.parameters())
        True
    """

    def __init__(
        self,
        unfreeze_at_epoch: int | None = None,
        *,
        head: str | nn.Module | None = None,
        freeze_bn_stats: bool = True,
    ) -> None:
        super().__init__()
        if unfreeze_at_epoch is not None and (
            isinstance(unfreeze_at_epoch, bool)
            or not isinstance(unfreeze_at_epoch, int)
            or unfreeze_at_epoch < 0
        ):
            raise ValueError(
                f"unfreeze_at_epoch must be None or an int >= 0, got {unfreeze_at_epoch!r}"
            )
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self.head = head
        self.freeze_bn_stats = bool(freeze_bn_stats)
        self.frozen = False
        self._params: list[nn.Parameter] = []
        self._norms: list[nn.Module] = []

    def _head_module(self, network: nn.Module) -> nn.Module:
        if isinstance(self.head, nn.Module):
            return self.head
        if isinstance(self.head, str):
            try:
                return network.get_submodule(self.head)
            except AttributeError:
                names = [n for n, _ in network.named_children()]
                raise ValueError(
                    f"FreezeBackbone(head={self.head!r}): the network has no such sub-module; "
                    f"its children are {names}"
                ) from None
        get = getattr(network, "get_classifier", None)
        if not callable(get):
            raise ValueError(
                f"FreezeBackbone cannot tell the classifier of a {type(network).__name__}: give "
                "head='name of its last layer' (resvision models have get_classifier())"
            )
        return get()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        network = find_network(self.model)
        if network is None:
            raise RuntimeError("FreezeBackbone needs a model with a `network` nn.Module")
        head = self._head_module(network)
        keep = {id(p) for p in head.parameters()}
        in_head = {id(m) for m in head.modules()}
        self._params = [p for p in network.parameters() if id(p) not in keep and p.requires_grad]
        self._norms = [
            m
            for m in network.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in in_head
        ]
        self._set_frozen(True)

    def _set_frozen(self, frozen: bool) -> None:
        for p in self._params:
            p.requires_grad_(not frozen)
        self.frozen = frozen

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.frozen and self.unfreeze_at_epoch is not None and epoch >= self.unfreeze_at_epoch:
            self._set_frozen(False)
            if self.params.get("verbose"):
                print(f"FreezeBackbone: epoch {epoch}: the whole network trains from now on")

    def on_train_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        # fit puts the network in train mode at each epoch start; frozen statistics stay fixed.
        if self.frozen and self.freeze_bn_stats:
            for m in self._norms:
                m.eval()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._set_frozen(False)
