"""EMA callback: an exponential moving average of the weights, used for evaluation."""

from __future__ import annotations

from typing import Any

from .base import Callback, find_network, find_optimizer
from .model_ema import ModelEMA

__all__ = ["EMA"]


class EMA(Callback):
    """Keep an EMA of the weights during ``fit`` and evaluate / predict with it.

    The average is updated after every optimizer step (a step hook, so gradient
    accumulation and steps skipped by the fp16 loss scaler are handled); at
    ``on_eval_begin`` / ``on_predict_begin`` the averaged weights are swapped into the
    network and the raw ones are put back at the end, so training continues on the raw
    weights. The average is part of the callback state, hence of every checkpoint.
    ``config_callbacks`` moves EMA callbacks last, so the other callbacks see the averaged
    weights during an evaluation (``EarlyStopping``'s ``best_model`` holds them).

    Args:
        decay: the EMA decay in [0, 1).
        warmup: use ``min(decay, (1 + t) / (10 + t))`` at update t (see
            :class:`resvision.callbacks.model_ema.ModelEMA`).
        evaluate_with_ema: swap the average in for evaluation and prediction.

    Examples:
        >>> import torch
        >>> net = torch.nn.Linear(2, 1)
        >>> class FakeModel:
        ...     network = net
        ...     _optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> cb = EMA(decay=0.9)
        >>> cb.set_model(FakeModel()); cb.on_train_begin()
        >>> net(torch.ones(1, 2)).sum().backward(); FakeModel._optimizer.step()
        >>> cb.ema.num_updates
        1
    """

    def __init__(
        self, decay: float = 0.9999, warmup: bool = True, evaluate_with_ema: bool = True
    ) -> None:
        super().__init__()
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1:
            raise ValueError(f"EMA decay must be a float in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.evaluate_with_ema = evaluate_with_ema
        self.ema: ModelEMA | None = None
        self._pending: dict[str, Any] | None = None
        self._hook: Any = None
        self._update_per_batch = False

    def _network(self) -> Any:
        net = find_network(self.model)
        if net is None:
            raise RuntimeError("the EMA callback needs a model with a `network` nn.Module")
        return net

    def _ensure(self) -> ModelEMA | None:
        if self.ema is None and find_network(self.model) is not None:
            self.ema = ModelEMA(self._network(), decay=self.decay, warmup=self.warmup)
        if self.ema is not None and self._pending is not None:
            self.ema.load_state_dict(self._pending)
            self._pending = None
        return self.ema

    def _after_step(self, *args: Any) -> None:
        if self.ema is not None:
            self.ema.update(self._network())

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._ensure()
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        opt = find_optimizer(self.model)
        if opt is not None and hasattr(opt, "register_step_post_hook"):
            self._hook = opt.register_step_post_hook(self._after_step)
            self._update_per_batch = False
        else:
            self._update_per_batch = True  # no optimizer to watch: update after each batch

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        if self._update_per_batch:
            self._after_step()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def _swap_in(self) -> None:
        if self.evaluate_with_ema and self._ensure() is not None:
            self.ema.swap_in(self._network())  # type: ignore[union-attr]

    def _swap_out(self) -> None:
        if self.ema is not None:
            self.ema.swap_out(self._network())

    def on_eval_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_in()

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_out()

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_in()

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_out()

    def state_dict(self) -> dict[str, Any]:
        if self.ema is not None:
            return self.ema.state_dict()
        return dict(self._pending or {})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._pending = state
        self._ensure()  # applied now if the network is known, else at on_train_begin
