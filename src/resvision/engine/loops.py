"""The training, evaluation and prediction loops, as plain functions.

:class:`StepRunner` runs one batch (forward, loss, backward, optimizer step, metrics) and never
waits for the device. The loops around it read values back to the host only on logging steps
(every ``log_freq`` steps and at the end of an epoch): per-step losses are kept as device
tensors until then, so a GPU is never stalled by a ``.item()`` per step. The same read checks
that every loss since the last read was finite, and names the first step that was not.

Networks with auxiliary outputs (GoogLeNet's ``(out, aux1, aux2)``, as Paddle returns them in
training and in evaluation) declare one weight per output in a ``loss_weights`` attribute, main
output first (see :func:`output_loss_weights`). :class:`StepRunner` is the one place that reads
it: training minimises the weighted sum of the loss of each output; the metrics, the evaluation
loss and the predictions see the main output alone. Every other network keeps Paddle's rule: all
its outputs go to ``loss(*outputs, *labels)`` and to the metrics.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from resvision import distributed
from resvision.engine import data_parallel, guards
from resvision.engine.amp import AmpSettings
from resvision.engine.device import move_to_device, synchronize
from resvision.engine.memory import (
    OUT_OF_MEMORY_TYPES,
    BatchTooLargeError,
    is_out_of_memory,
    largest_fitting_batch,
    report_to_peers,
    short_reason,
)


class NonFiniteLossError(FloatingPointError):
    """The training loss, or the gradients of a step, became NaN or infinite.

    Attributes:
        value: The loss value.
        epoch: The epoch (0-based) of the first non-finite loss.
        step: Its batch index within the epoch.
        global_step: Optimizer steps taken when it was seen.
        what: ``'loss'``, or ``'weights'`` when the loss was finite but the step left inf/NaN
            weights or buffers (inf/NaN gradients, an overflowing update or statistics).
    """

    def __init__(
        self, value: float, epoch: int, step: int, global_step: int, what: str = "loss"
    ) -> None:
        self.value, self.epoch, self.step, self.global_step = value, epoch, step, global_step
        self.what = what
        subject = (
            f"training loss is {value}"
            if what == "loss"
            else f"weights or BatchNorm statistics became inf/NaN (the loss is {value})"
        )
        super().__init__(
            f"{subject} at epoch {epoch}, step {step} (global step {global_step}); "
            "training stopped, the checkpoints written before are kept. Lower the learning rate, "
            "check the data for NaN/inf, or use amp_configs='fp16' (its loss scaler skips "
            "steps with inf/NaN gradients)"
        )


@dataclass
class TrainProgress:
    """Where training stands: the epoch, batches consumed in it, optimizer steps so far."""

    epoch: int = 0
    batch: int = 0
    global_step: int = 0

    def state_dict(self) -> dict[str, int]:
        """``{'epoch', 'batch', 'global_step'}``."""
        return {"epoch": self.epoch, "batch": self.batch, "global_step": self.global_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.epoch = int(state["epoch"])
        self.batch = int(state["batch"])
        self.global_step = int(state["global_step"])


def to_list(value: Any) -> list:
    """``value`` as a list: lists and tuples are converted, anything else is wrapped."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def output_loss_weights(network: nn.Module) -> tuple[float, ...] | None:
    """The weights of a network's outputs in the training loss: its ``loss_weights`` attribute.

    A network whose forward returns its main output followed by auxiliary ones says so with a
    ``loss_weights`` attribute, one weight per output (``GoogLeNet.loss_weights`` is the paper's
    ``(1.0, 0.3, 0.3)``). Training then minimises ``sum(w_i * loss(output_i, *labels))``, the
    given loss applied to each output as Paddle's GoogLeNet recipe does; metrics, the evaluation
    loss, ``predict`` and ``export`` use the main output alone. Setting the attribute to None on
    an instance (``net.loss_weights = None``) restores Paddle's ``hapi`` rule, where all the
    outputs go to ``loss(*outputs, *labels)`` and to the metrics (for a loss written for them).

    Args:
        network: The module (not a DDP wrapper: the attribute is read from the module itself).

    Returns:
        The weights as floats, or None when the network has no (or a None) ``loss_weights``.

    Raises:
        TypeError: ``loss_weights`` is not a list/tuple of real numbers.
        ValueError: it is empty or holds a NaN/infinite weight.

    Examples:
        >>> class TwoHeads(nn.Linear):
        ...     loss_weights = (1.0, 0.3)
        >>> output_loss_weights(TwoHeads(2, 2)), output_loss_weights(nn.Linear(2, 2))
        ((1.0, 0.3), None)
    """
    weights = getattr(network, "loss_weights", None)
    if weights is None:
        return None
    name = f"{type(network).__name__}.loss_weights"
    if not isinstance(weights, (list, tuple)) or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights
    ):
        raise TypeError(
            f"{name} must be a list/tuple of numbers, one weight per output (main output "
            f"first), or None; got {weights!r}"
        )
    if not weights or not all(math.isfinite(w) for w in weights):
        raise ValueError(
            f"{name} must hold one finite weight per output (main output first), got {weights!r}"
        )
    return tuple(float(w) for w in weights)


def metric_names(metrics: Sequence[Any], with_loss: bool) -> list[str]:
    """Paddle's log names: ``['loss']`` (when a loss is set) and every metric's ``name()``."""
    names = ["loss"] if with_loss else []
    for metric in metrics:
        names.extend(to_list(metric.name()))
    return names


def metric_values(metrics: Sequence[Any]) -> dict[str, float]:
    """``{name: accumulated value}`` over all metrics (reads back from the device)."""
    out: dict[str, float] = {}
    for metric in metrics:
        names, values = to_list(metric.name()), to_list(metric.accumulate())
        if len(names) != len(values):
            raise ValueError(
                f"{type(metric).__name__}.name() gives {len(names)} names but accumulate() "
                f"gives {len(values)} values"
            )
        out.update({n: float(v) for n, v in zip(names, values)})
    return out


class StepRunner:
    """Runs one batch of training, evaluation or prediction on the model's device.

    Args:
        network: The module (its ``train()`` / ``eval()`` mode is set by the loops).
        forward: What computes the outputs: ``network`` or its ``torch.compile`` version.
        loss_fn: A loss module or callable ``loss(*outputs, *labels)``; may return a list.
        optimizer: The optimizer, or None for evaluation only.
        metrics: Metrics with Paddle's ``compute`` / ``update`` protocol.
        amp: Autocast settings.
        scaler: The float16 loss scaler, or None.
        device: Where batches go.
        channels_last: Give 4-d inputs the channels-last memory format.
        num_inputs: How many leading entries of a batch are network inputs (the rest are labels).

    Attributes:
        loss_weights: :func:`output_loss_weights` of ``network``, read once here: None for a
            network without auxiliary outputs (its steps run as they always did), else the
            weights of its main and auxiliary outputs.

    Raises:
        TypeError, ValueError: ``network.loss_weights`` is not a list of finite numbers.
    """

    def __init__(
        self,
        network: nn.Module,
        forward: Callable[..., Any],
        loss_fn: Callable[..., Any] | None,
        optimizer: torch.optim.Optimizer | None,
        metrics: Sequence[Any],
        amp: AmpSettings,
        scaler: torch.amp.GradScaler | None,
        device: torch.device,
        channels_last: bool = False,
        num_inputs: int = 1,
    ) -> None:
        self.network = network
        self.forward = forward
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.metrics = list(metrics)
        self.amp = amp
        self.scaler = scaler
        self.device = device
        self.channels_last = channels_last
        self.num_inputs = num_inputs
        self.loss_weights = output_loss_weights(network)
        self._label_bounds: tuple[int, int] | None = None  # of the last batch, see guards
        # Set by fit under torchrun: a DistributedTraining (forward is then the DDP module).
        self.distributed: Any = None

    def gradient_sync(self, sync: bool) -> contextlib.AbstractContextManager[Any]:
        """The context of one training micro-batch: DDP's ``no_sync`` when ``sync`` is False
        (a micro-batch before the last of an accumulation group), else nothing."""
        if sync or self.distributed is None:
            return contextlib.nullcontext()
        return self.distributed.no_sync()

    def split_batch(self, batch: Any, with_labels: bool = True) -> tuple[list, list]:
        """Split a batch into (inputs, labels) on the device.

        A batch is a tensor / array (inputs only) or a list / tuple whose first ``num_inputs``
        entries are inputs and the rest labels. Integer labels of shape [N, 1] (Paddle's
        datasets) become [N], the shape ``nn.CrossEntropyLoss`` wants.
        """
        if isinstance(batch, dict):
            raise TypeError(
                "batches must be tensors or (inputs..., labels...) tuples, got a dict with keys "
                f"{sorted(batch)}"
            )
        parts = list(batch) if isinstance(batch, (list, tuple)) else [batch]
        inputs = move_to_device(
            parts[: self.num_inputs], self.device, channels_last=self.channels_last
        )
        if not with_labels:
            return inputs, []
        # Checked on the host before the move (free); against the outputs after the forward.
        self._label_bounds = guards.label_bounds(parts[self.num_inputs :], self.loss_fn)
        labels = move_to_device(parts[self.num_inputs :], self.device)
        labels = [
            y[:, 0]
            if isinstance(y, torch.Tensor)
            and y.dim() == 2
            and y.shape[1] == 1
            and not y.is_floating_point()
            else y
            for y in labels
        ]
        return inputs, labels

    def compute_loss(self, outputs: list, labels: list) -> torch.Tensor:
        """The loss (a sum when the loss function returns several)."""
        losses = to_list(self.loss_fn(*outputs, *labels))
        return losses[0] if len(losses) == 1 else torch.stack([x.float() for x in losses]).sum()

    def weighted_loss(self, outputs: list, labels: list) -> torch.Tensor:
        """The training loss of a network with auxiliary outputs: ``loss_fn`` applied to each
        output (with all the labels), weighted by ``loss_weights`` and summed in float32.

        Raises:
            ValueError: the network returned another number of outputs than it has weights.
        """
        weights = self.loss_weights
        if len(outputs) != len(weights):
            raise ValueError(
                f"{type(self.network).__name__} returned {len(outputs)} output(s) but its "
                f"loss_weights {weights} give one weight per output (main output first); make "
                "them agree, or set network.loss_weights = None to give all the outputs to "
                "the loss at once"
            )
        total = None
        for weight, output in zip(weights, outputs):
            term = self.compute_loss([output], labels).float()
            term = term if weight == 1.0 else term * weight
            total = term if total is None else total + term
        return total

    def forward_backward(
        self, inputs: list, labels: list, loss_scale: float = 1.0
    ) -> tuple[list, torch.Tensor]:
        """Forward and backward of one (micro-)batch; gradients add to ``.grad``.

        Args:
            inputs: Network inputs on the device.
            labels: Labels on the device.
            loss_scale: Multiplies the loss before backward (``1/k`` for gradient accumulation).

        Returns:
            (outputs, loss): outputs as a list (the main output alone for a network with
            ``loss_weights``), the unscaled loss detached (still on the device).
        """
        with self.amp.autocast():
            outputs = to_list(self.forward(*inputs))
            guards.check_label_bounds(self._label_bounds, outputs)
            if self.loss_weights is None:
                loss = self.compute_loss(outputs, labels)
            else:  # main and auxiliary outputs: the metrics see the main one
                loss = self.weighted_loss(outputs, labels)
                outputs = outputs[:1]
        scaled = loss * loss_scale if loss_scale != 1.0 else loss
        if self.scaler is not None:
            scaled = self.scaler.scale(scaled)
        scaled.backward()
        return outputs, loss.detach()

    def optimizer_step(self) -> None:
        """Apply the accumulated gradients and clear them (``set_to_none``)."""
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skips the step when gradients hold inf/NaN
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def update_metrics(self, outputs: list, labels: list, return_values: bool = False) -> list:
        """``metric.compute`` then ``metric.update`` for each metric (``update_state`` when the
        batch value is not wanted: it skips the host sync reading that value costs)."""
        values = []
        detached = [o.detach() if isinstance(o, torch.Tensor) else o for o in outputs]
        for metric in self.metrics:
            computed = to_list(metric.compute(*detached, *labels))
            if return_values or not hasattr(metric, "update_state"):
                values.append(metric.update(*computed))
            else:
                metric.update_state(*computed)
        return values

    @torch.no_grad()
    def eval_forward(self, inputs: list, labels: list) -> tuple[list, torch.Tensor | None]:
        """Forward (and the loss when a loss function and labels are given), no gradients.

        A network with ``loss_weights`` gives its main output alone, to the loss (unweighted),
        to the caller and so to the metrics and predictions.
        """
        with self.amp.autocast():
            outputs = to_list(self.forward(*inputs))
            if self.loss_weights is not None:
                outputs = outputs[:1]
            if labels:
                guards.check_label_bounds(self._label_bounds, outputs)
            loss = (
                self.compute_loss(outputs, labels) if self.loss_fn is not None and labels else None
            )
        return outputs, loss

    def batch_too_large(
        self, inputs: list, labels: list, phase: str, detail: str
    ) -> BatchTooLargeError:
        """The error for a batch that ran out of memory, with a batch size tried and found to
        fit (slices of the same batch; the weights, buffers and gradients are left as they
        were before the failed batch).

        Under DDP nothing is tried: the peers wait in the gradient all-reduce of the step this
        process left, so a lone retry would hang. In a distributed job the error names this
        process's rank, and its message is left in the process group's store
        (``memory.report_to_peers``) for the peers, whose collective fails once this process
        exits.
        """
        size = batch_size_of(inputs)
        rank = distributed.rank() if distributed.is_distributed() else None
        if self.distributed is not None:  # a lone retry would wait for the other processes
            error = BatchTooLargeError(
                size, None, self.device, phase, detail, tried=False, rank=rank
            )
            report_to_peers(error)
            return error
        buffers = [b.detach().clone() for b in self.network.buffers()]

        def run(n: int) -> None:
            part_in, part_lab = [x[:n] for x in inputs], [y[:n] for y in labels]
            try:
                if phase == "training":
                    self.forward_backward(part_in, part_lab)
                else:
                    self.eval_forward(part_in, part_lab)
            finally:  # BatchNorm statistics and gradients of the tries are not kept
                for buf, saved in zip(self.network.buffers(), buffers):
                    buf.copy_(saved)
                if phase == "training" and self.optimizer is not None:
                    self.optimizer.zero_grad(set_to_none=True)

        suggested = largest_fitting_batch(run, size, self.device)
        error = BatchTooLargeError(size, suggested, self.device, phase, detail, rank=rank)
        report_to_peers(error)  # evaluation under torchrun: the peers wait in its reduction
        return error

    def reset_metrics(self) -> None:
        """Reset every metric's accumulators."""
        for metric in self.metrics:
            metric.reset()


def batch_size_of(inputs: list) -> int:
    """The number of samples of a batch (the first dimension of its first input)."""
    first = inputs[0]
    return int(first.shape[0]) if hasattr(first, "shape") else len(first)


@dataclass
class LossTracker:
    """Per-step losses kept on the device until a logging step reads them all at once.

    Attributes:
        total: Sample-weighted sum of the losses read so far (this epoch).
        count: Samples behind ``total``.
        last: The most recent loss read.
    """

    total: float = 0.0
    count: int = 0
    last: float = math.nan
    pending: list[tuple[int, int, torch.Tensor, int, torch.Tensor | None]] = field(
        default_factory=list
    )

    def add(
        self,
        step: int,
        global_step: int,
        loss: torch.Tensor,
        batch_size: int,
        state_finite: torch.Tensor | None = None,
    ) -> None:
        """Remember a step's loss, and whether its weights are finite (no host sync)."""
        self.pending.append((step, global_step, loss, batch_size, state_finite))

    def read(self, epoch: int | None = None) -> float:
        """Read the pending losses (one host sync) and return the latest.

        Args:
            epoch: When given, a non-finite loss raises :class:`NonFiniteLossError` naming it.
        """
        if self.pending:
            flagged = [p for p in self.pending if p[4] is not None]
            read = [p[2].float() for p in self.pending] + [p[4] for p in flagged]
            values = torch.stack(read).tolist()  # losses and flags in one host sync
            flags = dict(zip((p[0] for p in flagged), values[len(self.pending) :]))
            for (step, global_step, _, size, _), value in zip(self.pending, values):
                if epoch is not None and not math.isfinite(value):
                    self.pending.clear()
                    raise NonFiniteLossError(value, epoch, step, global_step)
                if epoch is not None and flags.get(step, 1.0) != 1.0:
                    self.pending.clear()
                    raise NonFiniteLossError(value, epoch, step, global_step, what="weights")
                self.total += value * size
                self.count += size
            self.last = values[len(self.pending) - 1]  # the flags come after the losses
            self.pending.clear()
        return self.last

    def mean(self) -> float:
        """The sample-weighted mean of the losses read so far (NaN when none)."""
        return self.total / self.count if self.count else math.nan

    def reset(self) -> None:
        """Start a new epoch."""
        self.total, self.count, self.last = 0.0, 0, math.nan
        self.pending.clear()

    def state_dict(self) -> dict[str, float]:
        """The epoch's running sum (pending losses must have been read)."""
        return {"total": self.total, "count": self.count, "last": self.last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.pending.clear()
        self.total, self.count = float(state["total"]), int(state["count"])
        self.last = float(state.get("last", math.nan))


@dataclass
class TrainEpochOptions:
    """Settings of :func:`train_one_epoch` that stay fixed during a fit.

    Attributes:
        steps: Batches per epoch (``len(loader)``), or None when unknown.
        accumulate: Batches whose gradients add up before one optimizer step.
        log_freq: Loss and metrics go into the batch logs every ``log_freq`` steps.
        num_iters: Stop after this many optimizer steps in total (None: no limit).
        check_finite: Raise :class:`NonFiniteLossError` on a NaN/inf loss (off when a loss
            scaler handles those steps).
        should_stop: Called after each batch; True ends the epoch early.
        after_step: Called after each optimizer step (periodic checkpoints).
        mix: A batch mix (:class:`resvision.data.mixing.Mixup` or a callable with its
            signature) applied to each training batch on the device, or None.
        mix_seed: The mix's random numbers come from ``(mix_seed, epoch, batch, rank)``.
        mix_classes: The number of classes of the mixed targets.
    """

    steps: int | None
    accumulate: int = 1
    log_freq: int = 10
    num_iters: int | None = None
    check_finite: bool = True
    should_stop: Callable[[], bool] = lambda: False
    after_step: Callable[[], None] | None = None
    mix: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None
    mix_seed: int = 0
    mix_classes: int | None = None


_MIX_SALT = 0x6D6978  # "mix": keeps the mix's stream apart from the loaders'


def mix_batch(
    options: TrainEpochOptions, inputs: list, labels: list, epoch: int, step: int
) -> tuple[list, list]:
    """``options.mix`` applied to one batch of one input and one label, with the generator of
    ``(mix_seed, epoch, step, rank)`` (a resumed run mixes its batches as the first run did).

    Raises:
        ValueError: a batch of several inputs or labels.
    """
    import numpy as np

    from resvision.data.sampling import derive_seed

    if len(inputs) != 1 or len(labels) != 1:
        raise ValueError(
            f"a batch mix (MixUp/CutMix) needs batches of one input and one label, got "
            f"{len(inputs)} input(s) and {len(labels)} label(s)"
        )
    seed = derive_seed(options.mix_seed, epoch, step, distributed.rank(), _MIX_SALT)
    images, targets = options.mix(
        inputs[0], labels[0], np.random.default_rng(seed), num_classes=options.mix_classes
    )
    return [images], [targets]


def train_one_epoch(
    runner: StepRunner,
    batches: Iterator[Any],
    callbacks: Any,
    progress: TrainProgress,
    losses: LossTracker,
    options: TrainEpochOptions,
) -> bool:
    """Train on the batches of one epoch, from ``progress.batch`` on.

    Gradients of ``options.accumulate`` consecutive batches add up (each loss scaled by
    ``1/k``, so the step equals one batch ``k`` times larger) before one optimizer step; the
    last group of an epoch may be smaller and is scaled by ``1/its size``.

    Args:
        runner: Runs each batch.
        batches: An iterator over the epoch's remaining batches.
        callbacks: A ``CallbackList``; gets ``on_train_batch_begin/end(step, logs)``.
        progress: Advanced in place (``batch`` per batch, ``global_step`` per optimizer step).
        losses: Collects the epoch's losses.
        options: See :class:`TrainEpochOptions`.

    Returns:
        True when the epoch ran to its end, False when it stopped early (``num_iters``
        reached or ``options.should_stop()``).

    Raises:
        NonFiniteLossError: a loss, or the weights after a step, were NaN/inf (seen at the
            next logging step or checkpoint).
        BatchTooLargeError: a batch did not fit in memory (the message gives one that does).
        LabelRangeError: a label is outside the network's classes.
    """
    runner.network.train()
    k, steps = options.accumulate, options.steps
    full_end = (steps // k) * k if steps is not None else None
    timer = _Throughput(runner.device)
    for batch in batches:
        step = progress.batch
        inputs, labels = runner.split_batch(batch)
        if options.mix is not None:
            inputs, labels = mix_batch(options, inputs, labels, progress.epoch, step)
        size = batch_size_of(inputs)
        callbacks.on_train_batch_begin(step, {"batch_size": size})
        last_of_epoch = steps is not None and step + 1 == steps
        update = (step + 1) % k == 0 or last_of_epoch
        group = k if full_end is None or step < full_end else steps - full_end
        state_ok, oom = None, None
        try:
            with runner.gradient_sync(update):
                outputs, loss = runner.forward_backward(inputs, labels, 1.0 / group)
            if update:
                runner.optimizer_step()
                if options.check_finite:
                    state_ok = guards.state_finite(runner.network)
        except OUT_OF_MEMORY_TYPES as err:  # RuntimeError (OutOfMemoryError...), MemoryError
            if not is_out_of_memory(err):
                raise
            oom = short_reason(err)  # handled outside: the failed step's memory is freed first
        if oom is not None:
            raise runner.batch_too_large(inputs, labels, "training", oom)
        if runner.metrics:
            runner.update_metrics(outputs, labels)
        progress.batch += 1
        progress.global_step += int(update)
        losses.add(step, progress.global_step, loss, size, state_ok)
        timer.add(size)
        logs = {"batch_size": size, "step": step, "global_step": progress.global_step}
        logs["lr"] = _learning_rate(runner.optimizer)
        if (step + 1) % options.log_freq == 0 or last_of_epoch:
            logs["loss"] = losses.read(progress.epoch if options.check_finite else None)
            logs.update(metric_values(runner.metrics))
            logs["ips"] = timer.read()
        callbacks.on_train_batch_end(step, logs)
        if update and options.after_step is not None:
            options.after_step()
        reached = options.num_iters is not None and progress.global_step >= options.num_iters
        if (reached and update) or options.should_stop():
            return last_of_epoch
    if progress.batch % k != 0 and steps is None:
        # An iterable without len() ended inside an accumulation group: apply what was
        # gathered, rescaled from 1/k to 1/(batches in the group).
        if runner.distributed is not None:  # its micro-batches ran under no_sync
            runner.distributed.all_reduce_gradients()
        _rescale_grads(runner.network, k / (progress.batch % k))
        runner.optimizer_step()
        progress.global_step += 1
    return True


def _rescale_grads(network: nn.Module, factor: float) -> None:
    grads = [p.grad for p in network.parameters() if p.grad is not None]
    if grads:
        torch._foreach_mul_(grads, factor)


def _learning_rate(optimizer: torch.optim.Optimizer | None) -> float:
    if optimizer is None or not optimizer.param_groups:
        return math.nan
    return float(optimizer.param_groups[0]["lr"])


class _Throughput:
    """Images per second between logging steps (timed after the host sync of the read)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.samples = 0
        self.start = time.perf_counter()

    def add(self, n: int) -> None:
        self.samples += n

    def read(self) -> float:
        synchronize(self.device)
        now = time.perf_counter()
        ips = self.samples / max(now - self.start, 1e-9)
        self.samples, self.start = 0, now
        return ips


def evaluate(
    runner: StepRunner,
    loader: Iterable[Any],
    callbacks: Any,
    *,
    log_freq: int = 10,
    num_iters: int | None = None,
) -> dict[str, float]:
    """Evaluate on every batch of ``loader`` (or the first ``num_iters``).

    Metrics are reset before and after. The loss is the mean over samples (a last partial
    batch counts with its true size), not Paddle's last-batch loss. When ``loader`` holds one
    process's shard of the data (resvision's loaders under torchrun), the loss totals, sample
    counts and metric counts of all processes are summed, so every process returns the
    values over the whole data set: every sample counted once.

    Args:
        runner: Runs each batch.
        loader: The evaluation batches.
        callbacks: Gets ``on_eval_begin({'steps', 'metrics'})``, the batch hooks and
            ``on_eval_end(logs)``.
        log_freq: Loss and metrics go into the batch logs every ``log_freq`` steps.
        num_iters: Evaluate only this many batches.

    Returns:
        ``{'loss': mean loss (when a loss is set), <metric name>: value, ...,
        'num_samples': samples evaluated}``.
    """
    steps = _length(loader)
    if num_iters is not None:
        steps = num_iters if steps is None else min(steps, num_iters)
    names = metric_names(runner.metrics, runner.loss_fn is not None)
    runner.network.eval()
    runner.reset_metrics()
    callbacks.on_eval_begin({"steps": steps, "metrics": names})
    losses, samples = LossTracker(), 0
    for step, batch in enumerate(loader):
        inputs, labels = runner.split_batch(batch)
        size = batch_size_of(inputs)
        callbacks.on_eval_batch_begin(step, {"batch_size": size})
        outputs, loss = _eval_or_explain(runner, inputs, labels, "evaluation")
        if runner.metrics:
            runner.update_metrics(outputs, labels)
        if loss is not None:
            losses.add(step, 0, loss, size)
        samples += size
        logs: dict[str, Any] = {"batch_size": size, "step": step}
        if (step + 1) % log_freq == 0 or (steps is not None and step + 1 == steps):
            if loss is not None:
                logs["loss"] = losses.read()
            logs.update(metric_values(runner.metrics))
        callbacks.on_eval_batch_end(step, logs)
        if num_iters is not None and step + 1 >= num_iters:
            break
    result: dict[str, float] = {}
    losses.read()
    if distributed.is_distributed() and data_parallel.sharded_world_size(loader) > 1:
        samples = data_parallel.reduce_evaluation(losses, samples, runner.metrics)
    if runner.loss_fn is not None:
        result["loss"] = losses.mean()
    result.update(metric_values(runner.metrics) if samples else {})
    result["num_samples"] = samples
    runner.reset_metrics()
    callbacks.on_eval_end(dict(result))
    return result


def predict(runner: StepRunner, loader: Iterable[Any], callbacks: Any) -> list[list[Any]]:
    """Run the network over ``loader``; return per-batch outputs as NumPy arrays.

    Only the first ``runner.num_inputs`` entries of each batch are used (labels, if the
    batches carry them, are ignored).

    Returns:
        One list per batch, holding one array per network output.
    """
    runner.network.eval()
    callbacks.on_predict_begin({"steps": _length(loader)})
    outputs_per_batch: list[list[Any]] = []
    for step, batch in enumerate(loader):
        inputs, _ = runner.split_batch(batch, with_labels=False)
        size = batch_size_of(inputs)
        callbacks.on_predict_batch_begin(step, {"batch_size": size})
        outputs, _ = _eval_or_explain(runner, inputs, [], "prediction")
        outputs_per_batch.append([_to_numpy(o) for o in outputs])
        callbacks.on_predict_batch_end(step, {"batch_size": size, "step": step})
    callbacks.on_predict_end({})
    return outputs_per_batch


def _eval_or_explain(
    runner: StepRunner, inputs: list, labels: list, phase: str
) -> tuple[list, torch.Tensor | None]:
    """``runner.eval_forward``; out of memory becomes :class:`BatchTooLargeError`."""
    oom = None
    try:
        return runner.eval_forward(inputs, labels)
    except OUT_OF_MEMORY_TYPES as err:
        if not is_out_of_memory(err):
            raise
        oom = short_reason(err)
    raise runner.batch_too_large(inputs, labels, phase, oom)


def _to_numpy(output: torch.Tensor) -> Any:
    """A NumPy copy of an output; float16 / bfloat16 (autocast) become float32."""
    if output.is_floating_point() and output.dtype != torch.float64:
        output = output.float()
    return output.detach().cpu().numpy()


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
