"""``resvision.Model``: Paddle's high-level API (``paddle.Model``) on PyTorch.

>>> import torch
>>> from torch import nn
>>> import resvision
>>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
>>> model = resvision.Model(net, device="cpu")
>>> model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
>>> data = [(torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 2, 0]))] * 3
>>> model.fit(data, epochs=2, verbose=0)
>>> sorted(model.evaluate(data, verbose=0))
['loss']

The class is a thin facade: the loops live in :mod:`resvision.engine.loops`, checkpoints in
:mod:`resvision.engine.checkpoint` and :mod:`resvision.engine.resume`, the training driver in
:mod:`resvision.engine.fit`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from resvision import distributed
from resvision.engine import loops
from resvision.engine.amp import AmpSettings, parse_amp_configs
from resvision.engine.autotune import (
    AutoSettings,
    apply_backend_settings,
    choose_settings,
    tune_host_allocator,
)
from resvision.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    atomic_save,
    checkpoint_path,
    is_training_checkpoint,
    load_checkpoint,
    now_ns,
    to_safe,
)
from resvision.engine.device import DeviceLike, move_to_device, resolve_device
from resvision.engine.resume import FitSession, capture_training_state, carried_scheduler

_METRIC_METHODS = ("name", "compute", "update", "accumulate", "reset")
# save(training=False)'s deployable model: format -> suffix of the file beside the weights
_DEPLOY_SUFFIXES = {"torchscript": ".torchscript", "onnx": ".onnx"}


class Model:
    """A network with training, evaluation, prediction, checkpoints: Paddle's ``paddle.Model``.

    Args:
        network: The ``nn.Module`` to train.
        inputs: Optional description of the inputs (Paddle's ``InputSpec``): a shape such as
            ``[None, 3, 32, 32]``, or a list of them for networks with several inputs. Used
            for the number of inputs in a batch and as ``summary()``'s default size.
        labels: Accepted for Paddle compatibility; unused.
        device: Where to train: None/'auto' (CUDA, then MPS, then CPU), 'cpu', 'cuda:1',
            Paddle's 'gpu', a ``torch.device``. The network is moved there now, so build the
            optimizer after (``model.parameters()``) or before: parameters keep their identity.

    Attributes:
        network: The wrapped module.
        device: The device.
        stop_training: Set it to True (from a callback) to stop ``fit`` after the current step.
        mode: 'train', 'eval' or 'test': what the model did last.
        identity: What the caller knows of the run beyond the network and the data (fields of
            :class:`resvision.engine.identity.RunIdentity`: ``model``, ``classes``,
            ``preprocess``, ``data_source``, ``recipe``); ``fit`` completes it and stores it in
            every checkpoint, and a resume refuses another one.

    Raises:
        TypeError: ``network`` is not an ``nn.Module``.

    Examples:
        >>> from torch import nn
        >>> model = Model(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), device="cpu")
        >>> model.device, model.stop_training
        (device(type='cpu'), False)
    """

    def __init__(
        self,
        network: nn.Module,
        inputs: Any = None,
        labels: Any = None,
        *,
        device: DeviceLike = None,
    ) -> None:
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be a torch.nn.Module, got {type(network).__name__}")
        distributed.select_local_device()  # under torchrun, 'cuda' means this process's GPU
        self.device = resolve_device(device)
        self.network = network.to(self.device)
        self.mode = "train"
        self.stop_training = False
        self.identity: dict[str, Any] = {}
        self._inputs = inputs
        self._labels = labels
        self._num_inputs = len(inputs) if _is_list_of_specs(inputs) else 1
        self._input_shape: tuple[int, ...] | None = _spec_shape(inputs)
        self._optimizer: torch.optim.Optimizer | None = None
        self._loss: Any = None
        self._metrics: list[Any] = []
        self._amp = AmpSettings(device_type=self.device.type)
        self._scaler: torch.amp.GradScaler | None = None
        self._channels_last = False
        #: The speed settings ``prepare`` used (with why, for those it chose by itself).
        self.auto_settings: AutoSettings | None = None
        self._settings_reported = True
        self._forward: Any = self.network
        self._compile_options: dict[str, Any] | None = None
        self._prepared = False
        self._session: FitSession | None = None

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        """The optimizer given to ``prepare`` (None before): what callbacks adjust."""
        return self._optimizer

    @property
    def progress(self) -> loops.TrainProgress | None:
        """Where the current (or last) ``fit`` is: ``epoch``, ``batch`` in the epoch and
        ``global_step`` (optimizer steps); None before the first ``fit``."""
        return self._session.progress if self._session is not None else None

    # ------------------------------------------------------------------ configuration
    def prepare(
        self,
        optimizer: torch.optim.Optimizer | None = None,
        loss: Any = None,
        metrics: Any = None,
        amp_configs: str | Mapping[str, Any] | None = "auto",
        *,
        channels_last: bool | None = None,
        compile: bool | Mapping[str, Any] | None = None,
    ) -> None:
        """Set the optimizer, loss, metrics and speed options before training.

        Args:
            optimizer: Any ``torch.optim.Optimizer`` over this network's parameters
                (``resvision.optim.Momentum`` too). Needed by ``fit`` only.
            loss: A loss module or any callable ``loss(*outputs, *labels)`` (may return a
                list of losses, which are summed). A network with auxiliary outputs, which
                says so by a ``loss_weights`` attribute (GoogLeNet: ``(1.0, 0.3, 0.3)``), is
                trained on ``sum(w_i * loss(output_i, *labels))``, and evaluated, measured
                and used for predictions by its main output alone (see
                :func:`resvision.engine.loops.output_loss_weights`).
            metrics: A metric or list of metrics with Paddle's protocol
                (``resvision.metrics.Accuracy`` etc.).
            amp_configs: Mixed precision: 'auto' (default: bf16 autocast where the hardware
                computes bf16 natively, fp16 with a loss scaler on older CUDA GPUs, for
                networks large enough to gain, and never under deterministic algorithms; see
                :mod:`resvision.engine.autotune`), None /
                'fp32' (float32), 'fp16' / 'O1', 'bf16', 'O2' or Paddle's dict (see
                :mod:`resvision.engine.amp`).
            channels_last: Use the channels-last memory format for the network and the
                4-d inputs; None (default) chooses it for convolutional networks on CPU and
                CUDA.
            compile: ``torch.compile`` the forward pass; True or a dict of its keyword
                arguments (e.g. ``{'mode': 'max-autotune'}``); None (default) leaves it off.
                What was chosen is in ``model.auto_settings`` and printed by ``fit``.

        Raises:
            TypeError: an argument of the wrong type (the message names it).
            ValueError: the optimizer holds none of this network's parameters, or bad
                ``amp_configs``.

        Examples:
            >>> import torch
            >>> from torch import nn
            >>> from resvision.metrics import Accuracy
            >>> model = Model(nn.Linear(4, 3), device="cpu")
            >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            >>> model.prepare(opt, nn.CrossEntropyLoss(), Accuracy(topk=(1, 2)))
            >>> model.metrics_names()
            ['loss', 'acc_top1', 'acc_top2']
        """
        if optimizer is not None:
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise TypeError(
                    f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
                )
            own = {id(p) for p in self.network.parameters()}
            held = {id(p) for g in optimizer.param_groups for p in g["params"]}
            if own and not own & held:
                raise ValueError(
                    "the optimizer holds none of the network's parameters; build it with "
                    "parameters=model.parameters()"
                )
        if loss is not None and not callable(loss):
            raise TypeError(f"loss must be an nn.Module or a callable, got {type(loss).__name__}")
        metric_list = loops.to_list(metrics)
        for m in metric_list:
            missing = [name for name in _METRIC_METHODS if not callable(getattr(m, name, None))]
            if missing:
                raise TypeError(
                    f"metric {type(m).__name__} lacks {missing}; metrics need Paddle's protocol "
                    "(resvision.metrics.Metric)"
                )
        if self.device.type == "cpu":
            tune_host_allocator()  # training steps reuse heap blocks (see engine.autotune)
        settings = choose_settings(
            self.network,
            self.device,
            amp_configs=amp_configs,
            channels_last=channels_last,
            compile=compile,
        )
        apply_backend_settings(settings, self.device)
        self._amp = parse_amp_configs(settings.amp_configs, self.device)
        self._optimizer, self._loss, self._metrics = optimizer, loss, metric_list
        self._scaler = self._amp.make_scaler()
        if settings.channels_last or self._channels_last:  # also back to NCHW when turned off
            fmt = torch.channels_last if settings.channels_last else torch.contiguous_format
            self.network.to(memory_format=fmt)
        self._channels_last = settings.channels_last
        self.auto_settings = settings
        self._settings_reported = False
        compile = settings.compile
        if compile:
            options = dict(compile) if isinstance(compile, Mapping) else {}
            self._forward = torch.compile(self.network, **options)
            self._compile_options = options  # the DDP module is compiled alike under torchrun
        else:
            self._forward = self.network
            self._compile_options = None
        self._prepared = True

    def _runner(self, *, train: bool = False) -> loops.StepRunner:
        if train and (self._optimizer is None or self._loss is None):
            raise RuntimeError(
                "training needs an optimizer and a loss: call "
                "model.prepare(optimizer, loss, metrics) first"
            )
        return loops.StepRunner(
            self.network,
            self._forward,
            self._loss,
            self._optimizer,
            self._metrics,
            self._amp,
            self._scaler,
            self.device,
            channels_last=self._channels_last,
            num_inputs=self._num_inputs,
        )

    def parameters(self, *args: Any, **kwargs: Any) -> list[nn.Parameter]:
        """The network's parameters, as a list (what optimizers take)."""
        return list(self.network.parameters(*args, **kwargs))

    def metrics_names(self) -> list[str]:
        """``['loss', <metric names>...]``: the keys of the logs and of ``evaluate``'s result."""
        return loops.metric_names(self._metrics, self._loss is not None)

    # ------------------------------------------------------------------ whole data sets
    def fit(
        self,
        train_data: Any = None,
        eval_data: Any = None,
        batch_size: int | Sequence[int] = 1,
        epochs: int = 1,
        eval_freq: int = 1,
        log_freq: int = 10,
        save_dir: str | os.PathLike[str] | None = None,
        save_freq: int = 1,
        verbose: int = 2,
        drop_last: bool = False,
        shuffle: bool = True,
        num_workers: int = 0,
        callbacks: Any = None,
        accumulate_grad_batches: int = 1,
        num_iters: int | None = None,
        *,
        resume: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        save_steps: int | None = None,
        sync_bn: bool = False,
        aug_repeats: int = 1,
        batch_mix: Any = None,
    ) -> None:
        """Train for ``epochs`` epochs, evaluating every ``eval_freq`` epochs.

        Started by ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` set), every process
        runs ``fit`` with the same arguments: the process group starts by itself (NCCL on
        GPUs, gloo on CPU), the network trains wrapped in ``DistributedDataParallel``, each
        process loads its shard of a Dataset (``batch_size`` is per process: the global batch
        is ``batch_size * world size``), evaluation counts every sample once over all
        processes, and rank 0 alone prints and writes checkpoints (see
        :mod:`resvision.distributed`).

        Args:
            train_data: A Dataset (a loader is built for it: the in-memory fast path when the
                data set and its transform allow, else a DataLoader) or any DataLoader /
                iterable of ``(inputs, labels)`` batches, used as it is.
            eval_data: The same for evaluation, or None.
            batch_size: Batch size for Datasets; ``[train, eval]`` for different sizes.
            epochs: Total epochs. With ``resume`` this is the total of the whole run, not
                the number of epochs still to train.
            eval_freq: Evaluate after epochs 0, eval_freq, 2*eval_freq, ... (Paddle's rule).
            log_freq: Steps between logs (loss, metrics, images/s). Reading those values waits
                for the device, so other steps run without reading anything back.
            save_dir: Folder for checkpoints: ``{epoch}.pt`` every ``save_freq`` epochs,
                ``final.pt``, ``best_model.pt`` (``EarlyStopping``), ``last.pt`` (``save_steps``,
                interruptions). None saves nothing.
            save_freq: Epochs between epoch checkpoints.
            verbose: 0 silent, 1 progress bar, 2 one line per log, 3 with timings.
            drop_last: Drop the last incomplete training batch (Datasets only).
            shuffle: Shuffle the training data each epoch (Datasets only).
            num_workers: Loader worker processes (Datasets only; capped at the CPU cores).
            callbacks: A callback or list; ProgBarLogger (when ``verbose``), LRScheduler (when
                the optimizer carries a schedule) and ModelCheckpoint (when ``save_dir``) are
                added unless given. ModelCheckpoint runs last so that checkpoints hold the
                state after every other callback's end-of-epoch work.
            accumulate_grad_batches: Add the gradients of this many batches before each
                optimizer step; each loss is scaled by ``1/k``, so this equals one ``k`` times
                larger batch (batch-norm statistics excepted).
            num_iters: Stop after this many optimizer steps in total (``epochs`` is then
                ignored, as in Paddle).
            resume: A checkpoint path, or 'auto' for the newest one in ``save_dir`` (starts
                from scratch when there is none). Training continues exactly where it
                stopped, inside an epoch included.
            seed: Seeds Python, NumPy and torch at the start (not on resume) and the loaders'
                order and augmentation. None draws the loader seed from torch's generator.
            save_steps: Also write ``save_dir/last.pt`` every this many optimizer steps, so a
                crash loses at most that many steps.
            sync_bn: Under torchrun, compute BatchNorm statistics over the batches of all
                processes (``nn.SyncBatchNorm`` on CUDA, ``CollectiveBatchNorm`` elsewhere):
                for small per-process batches. Ignored in a single process.
            aug_repeats: Repeated augmentation (torchvision's ``--ra-sampler``): each training
                sample of an epoch is taken this many times side by side, each copy augmented
                on its own (on other processes under torchrun), and the epoch keeps its number
                of steps; 1 (default): off. Only for a Dataset ``train_data``.
            batch_mix: MixUp / CutMix of each training batch on the device
                (:class:`resvision.data.mixing.Mixup`): the loss then gets class probabilities
                (``nn.CrossEntropyLoss`` takes them) and the accuracy metrics the class of the
                largest; its random numbers follow the run's seed, so resume stays exact.

        Raises:
            ValueError: a bad argument (the message names it and what is accepted).
            RuntimeError: ``prepare(optimizer, loss)`` was not called.
            NonFiniteLossError: the loss became NaN/inf (without a loss scaler); checkpoints
                written before are kept, none is written after.
            KeyboardInterrupt: on Ctrl-C, after ``save_dir/last.pt`` is written.
            SystemExit: on SIGTERM (status 143), after ``save_dir/last.pt`` is written.

        Examples:
            >>> import os, tempfile, torch
            >>> from torch import nn
            >>> from torch.utils.data import TensorDataset
            >>> model = Model(nn.Linear(4, 2), device="cpu")
            >>> model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
            >>> data = TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,)))
            >>> with tempfile.TemporaryDirectory() as d:
            ...     model.fit(data, batch_size=8, epochs=2, save_dir=d, verbose=0)
            ...     print(sorted(f for f in os.listdir(d) if f.endswith(".pt")))
            ...     model.fit(data, batch_size=8, epochs=3, save_dir=d, verbose=0, resume="auto")
            ['0.pt', '1.pt', 'final.pt']
        """
        from resvision.engine.trainer import FitOptions, Trainer

        main = distributed.is_main_process()  # also before fit starts the process group
        if verbose and main and not self._settings_reported and self.auto_settings is not None:
            if self.auto_settings.chosen:
                print(self.auto_settings.describe(), flush=True)
            self._settings_reported = True
        options = FitOptions.from_fit(
            batch_size=batch_size,
            epochs=epochs,
            eval_freq=eval_freq,
            log_freq=log_freq,
            save_dir=save_dir,
            save_freq=save_freq,
            verbose=verbose,
            drop_last=drop_last,
            shuffle=shuffle,
            num_workers=num_workers,
            accumulate_grad_batches=accumulate_grad_batches,
            num_iters=num_iters,
            resume=resume,
            seed=seed,
            save_steps=save_steps,
            sync_bn=sync_bn,
            aug_repeats=aug_repeats,
            batch_mix=batch_mix,
        )
        Trainer(self, train_data, eval_data, callbacks, options).fit()

    def evaluate(
        self,
        eval_data: Any,
        batch_size: int = 1,
        log_freq: int = 10,
        verbose: int = 2,
        num_workers: int = 0,
        callbacks: Any = None,
        num_iters: int | None = None,
    ) -> dict[str, float]:
        """Loss and metrics over a whole data set (every sample counted once).

        Under torchrun, call it on every process: each evaluates its shard of a Dataset and
        the counts are summed, so every process returns the values over the whole data set.

        Args:
            eval_data: A Dataset or an iterable of ``(inputs, labels)`` batches.
            batch_size: Batch size for a Dataset.
            log_freq: Steps between logs.
            verbose: 0 silent, 1 progress bar, 2 one line per log.
            num_workers: Loader workers for a Dataset.
            callbacks: Extra callbacks.
            num_iters: Evaluate only the first ``num_iters`` batches.

        Returns:
            ``{'loss': mean over samples (when a loss is set), <metric name>: value, ...}``.
            For a network with auxiliary outputs (``loss_weights``), loss and metrics are
            those of the main output.

        Raises:
            ValueError: bad ``batch_size``, ``log_freq`` or ``num_iters``.

        Examples:
            >>> import torch
            >>> from torch import nn
            >>> from torch.utils.data import TensorDataset
            >>> from resvision.metrics import Accuracy
            >>> model = Model(nn.Linear(4, 2), device="cpu")
            >>> model.prepare(loss=nn.CrossEntropyLoss(), metrics=Accuracy())
            >>> data = TensorDataset(torch.randn(10, 4), torch.randint(0, 2, (10,)))
            >>> sorted(model.evaluate(data, batch_size=4, verbose=0))
            ['acc', 'loss']
        """
        from resvision.engine.fit import check_int, configure_callbacks, make_loader

        check_int(log_freq, "log_freq", minimum=1)
        if num_iters is not None:
            check_int(num_iters, "num_iters", minimum=1)
        distributed.init_distributed(self.device)  # under torchrun; a no-op otherwise
        if distributed.rank() != 0:
            verbose = 0
        loader = make_loader(
            self, eval_data, batch_size, False, False, num_workers, seed=0, shard=True
        )
        cbks = configure_callbacks(self, callbacks, verbose=verbose, log_freq=log_freq, mode="eval")
        self.mode = "eval"
        logs = loops.evaluate(self._runner(), loader, cbks, log_freq=log_freq, num_iters=num_iters)
        return {k: logs[k] for k in self.metrics_names() if k in logs}

    def predict(
        self,
        test_data: Any,
        batch_size: int = 1,
        num_workers: int = 0,
        stack_outputs: bool = False,
        verbose: int = 1,
        callbacks: Any = None,
    ) -> list:
        """Run the network over a data set.

        Args:
            test_data: A Dataset (items are images or ``(image, label)``; labels ignored) or
                an iterable of batches.
            batch_size: Batch size for a Dataset.
            num_workers: Loader workers for a Dataset.
            stack_outputs: Concatenate each output over batches into one array.
            verbose: 0 silent, 1 progress bar.
            callbacks: Extra callbacks.

        Returns:
            One entry per network output: a list of per-batch NumPy arrays, or one array
            ``[N, ...]`` when ``stack_outputs`` (Paddle's layout). A network with auxiliary
            outputs (a ``loss_weights`` attribute, as GoogLeNet) gives its main output alone:
            the auxiliary classifiers serve training only.

        Under ``torchrun`` a map-style Dataset is split between the processes (sample ``i`` to
        process ``i % world_size``, as ``evaluate``); the outputs are gathered, and every
        process returns all of them in the data set's order, in batches of ``batch_size``.
        An iterable of batches (a DataLoader) is not split: each process predicts what it
        is given.

        Examples:
            >>> import torch
            >>> from torch import nn
            >>> from torch.utils.data import TensorDataset
            >>> model = Model(nn.Linear(4, 2), device="cpu")
            >>> data = TensorDataset(torch.randn(10, 4))
            >>> out = model.predict(data, batch_size=4, verbose=0)
            >>> len(out), [a.shape for a in out[0]]
            (1, [(4, 2), (4, 2), (2, 2)])
            >>> model.predict(data, batch_size=4, stack_outputs=True, verbose=0)[0].shape
            (10, 2)
        """
        from torch.utils.data import Dataset, IterableDataset, Subset

        from resvision.engine.fit import check_int, configure_callbacks, make_loader

        world = distributed.world_size() if distributed.is_distributed() else 1
        split = (
            world > 1
            and isinstance(test_data, Dataset)
            and not isinstance(test_data, IterableDataset)
            and hasattr(test_data, "__len__")
        )
        data = test_data
        if split:
            check_int(batch_size, "batch_size", 1)
            total = len(test_data)
            data = Subset(test_data, list(range(distributed.rank(), total, world)))
        loader = make_loader(
            self, data, batch_size, False, False, num_workers, seed=0, labels_required=False
        )
        cbks = configure_callbacks(self, callbacks, verbose=verbose, log_freq=10, mode="predict")
        self.mode = "test"
        per_batch = loops.predict(self._runner(), loader, cbks)
        if split:
            local = [np.concatenate(b, axis=0) for b in zip(*per_batch)] if per_batch else None
            stacked = _interleave(distributed.all_gather_object(local), total)
            if stack_outputs:
                return stacked
            cuts = list(range(batch_size, total, batch_size))
            return [np.split(array, cuts) for array in stacked]
        outputs = [list(batches) for batches in zip(*per_batch)]
        if stack_outputs:
            return [np.concatenate(batches, axis=0) for batches in outputs]
        return outputs

    # ------------------------------------------------------------------ single batches
    def train_batch(self, inputs: Any, labels: Any = None, update: bool = True) -> Any:
        """One training step on one batch (Paddle's ``train_batch``).

        Args:
            inputs: A tensor / array, or a list of them (several network inputs).
            labels: A tensor / array, a list of them, or None.
            update: Apply the optimizer step; False only adds to the gradients (the next
                call with ``update=True`` steps with the sum).

        Returns:
            ``[loss]`` (NumPy), or ``([loss], [metric batch values])`` when metrics are set.

        Examples:
            >>> import numpy as np, torch
            >>> from torch import nn
            >>> model = Model(nn.Linear(4, 3), device="cpu")
            >>> model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
            >>> (loss,) = model.train_batch(np.ones((2, 4), "float32"), np.array([[0], [2]]))
            >>> loss.shape, loss.dtype
            ((), dtype('float32'))
        """
        runner = self._runner(train=True)
        self._forget_resume_point()
        ins, labs = runner.split_batch([*loops.to_list(inputs), *loops.to_list(labels)])
        self.mode = "train"
        self.network.train()
        outputs, loss = runner.forward_backward(ins, labs)
        if update:
            runner.optimizer_step()
        self._note_input_shape(ins)
        values = runner.update_metrics(outputs, labs, return_values=True)
        losses = [loss.float().cpu().numpy()]
        return (losses, values) if values else losses

    def eval_batch(self, inputs: Any, labels: Any = None) -> Any:
        """Loss and metrics on one batch, without gradients (Paddle's ``eval_batch``).

        Returns:
            ``([loss], [metric values])``, ``[loss]`` without metrics, or ``[metric values]``
            without a loss.

        Examples:
            >>> import torch
            >>> from torch import nn
            >>> from resvision.metrics import Accuracy
            >>> model = Model(nn.Linear(4, 3), device="cpu")
            >>> model.prepare(loss=nn.CrossEntropyLoss(), metrics=Accuracy())
            >>> losses, (acc,) = model.eval_batch(torch.ones(2, 4), torch.tensor([0, 1]))
            >>> 0.0 <= acc <= 1.0
            True
        """
        runner = self._runner()
        ins, labs = runner.split_batch([*loops.to_list(inputs), *loops.to_list(labels)])
        self.mode = "eval"
        self.network.eval()
        outputs, loss = runner.eval_forward(ins, labs)
        self._note_input_shape(ins)
        values = runner.update_metrics(outputs, labs, return_values=True)
        losses = [loss.float().cpu().numpy()] if loss is not None else None
        if losses is not None and values:
            return losses, values
        return losses if losses is not None else values

    def predict_batch(self, inputs: Any) -> list[np.ndarray]:
        """The network's outputs on one batch, as NumPy arrays (Paddle's ``predict_batch``).

        A network with auxiliary outputs (a ``loss_weights`` attribute, as GoogLeNet) gives its
        main output alone, as :meth:`predict` does.

        Examples:
            >>> import torch
            >>> from torch import nn
            >>> model = Model(nn.Linear(4, 3), device="cpu")
            >>> [o.shape for o in model.predict_batch(torch.ones(2, 4))]
            [(2, 3)]
        """
        runner = self._runner()
        ins = move_to_device(loops.to_list(inputs), self.device, channels_last=self._channels_last)
        self.mode = "test"
        self.network.eval()
        outputs, _ = runner.eval_forward(ins, [])
        self._note_input_shape(ins)
        return [
            o.float().cpu().numpy() if o.is_floating_point() else o.cpu().numpy() for o in outputs
        ]

    def _note_input_shape(self, inputs: list) -> None:
        first = inputs[0] if inputs else None
        if self._input_shape is None and isinstance(first, torch.Tensor) and first.dim() >= 2:
            self._input_shape = tuple(first.shape[1:])

    # ------------------------------------------------------------------ checkpoints
    def save(
        self,
        path: str | os.PathLike[str],
        training: bool = True,
        *,
        format: str | None = "torchscript",
    ) -> Path | None:
        """Save a checkpoint to one file (``path`` + ``.pt``, see below).

        Paddle writes ``path.pdparams`` and ``path.pdopt``; resvision writes one file,
        ``path.pt``. A ``.pt`` / ``.pth`` / ``.ckpt`` path is used as it is, and a Paddle
        suffix (``.pdparams``, ``.pdopt``) is replaced by ``.pt``. The write is atomic.

        ``training=False`` saves for inference, as Paddle's (which writes ``path.pdmodel`` /
        ``path.pdiparams`` with ``paddle.jit.save``): the network's ``state_dict()`` in
        ``path.pt`` (loads with ``net.load_state_dict(torch.load(p))``) and, beside it, a
        deployable model that needs no Python code of the network: ``path.torchscript``
        (TorchScript, default) or ``path.onnx`` (``format='onnx'``, needs the ``onnx`` extra).
        It is written by :func:`resvision.export.export`, so it is checked against the network
        on sample batches before it is kept, and takes a batch of any size. Its input shape is
        the ``inputs`` given to ``Model`` (``[None, C, H, W]``), else that of the batches seen
        (with a warning, as Paddle's). A network with several inputs, or whose input shape is
        unknown or not ``(C, H, W)``, gets the weights alone, with a warning that says why.

        Args:
            path: File prefix (``'output/final'``) or file name.
            training: True saves everything needed to continue training exactly (weights,
                optimizer, scheduler, loss scaler, callback states, progress, random states,
                loader position; see :mod:`resvision.engine.checkpoint`). False saves for
                inference (see above).
            format: With ``training=False``: the deployable model's format, ``'torchscript'``
                or ``'onnx'``; None writes the weights alone.

        Returns:
            The file written (the weights), or None on a distributed rank other than 0 (only
            rank 0 saves).

        Raises:
            NonFiniteLossError: a loss since the last log was NaN/inf: the weights are not
                worth saving.
            ValueError: an unknown ``format``.
            ImportError: ``format='onnx'`` without the ``onnx`` extra.
            ExportVerificationError: the deployable model does not compute what the network
                does (it is not kept; the weights are).

        Examples:
            >>> import os, tempfile, torch
            >>> from torch import nn
            >>> model = Model(nn.Linear(4, 2), device="cpu")
            >>> model.prepare(torch.optim.Adam(model.parameters()), nn.CrossEntropyLoss())
            >>> with tempfile.TemporaryDirectory() as d:
            ...     path = model.save(os.path.join(d, "checkpoint/test"))  # Paddle's prefix form
            ...     print(path.name)
            ...     model.load(os.path.join(d, "checkpoint/test"))
            test.pt
            >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            >>> model = Model(net, inputs=[None, 3, 8, 8], device="cpu")  # Paddle's InputSpec shape
            >>> with tempfile.TemporaryDirectory() as d:
            ...     _ = model.save(os.path.join(d, "infer"), training=False)
            ...     deployed = torch.jit.load(os.path.join(d, "infer.torchscript"))
            ...     print(sorted(os.listdir(d)), deployed(torch.ones(5, 3, 8, 8)).shape)
            ['infer.pt', 'infer.torchscript'] torch.Size([5, 4])
        """
        if format is not None and format not in _DEPLOY_SUFFIXES:
            raise ValueError(
                f"format must be one of {sorted(_DEPLOY_SUFFIXES)} or None (the weights alone), "
                f"got {format!r}"
            )
        if not distributed.is_main_process():
            return None
        file = checkpoint_path(path)
        if not training:
            written = atomic_save(self.network.state_dict(), file)
            if format is not None:
                self._save_deployable(file, format)
            return written
        return atomic_save(self._checkpoint_dict(), file)

    def _save_deployable(self, weights: Path, format: str) -> Path | None:
        """Write the deployable model beside ``weights`` (see :meth:`save`); its path, or None
        (warned) when the network's input is not one image of a known shape."""
        shape = self._input_shape
        why = None
        if self._num_inputs != 1:
            why = f"the network takes {self._num_inputs} inputs; the file is for one image input"
        elif shape is None:
            why = (
                "its input shape is unknown: give Model(network, inputs=[None, C, H, W]) or "
                "run a batch first"
            )
        elif len(shape) != 3:
            why = f"its input shape {[None, *shape]} is not [N, C, H, W]"
        if why is not None:
            warnings.warn(
                f"save(training=False) wrote the weights alone ({weights}) and no deployable "
                f"model: {why}. format=None asks for the weights alone",
                stacklevel=3,
            )
            return None
        if _spec_shape(self._inputs) is None:
            warnings.warn(  # Paddle's warning, for the same reason
                "'inputs' was not given to Model, so the deployable model takes the shape of "
                f"the batches seen: {[None, *shape]}; give Model(network, inputs=...) to "
                "choose it",
                stacklevel=3,
            )
        # engine and export are side by side in the layers (pyproject [tool.importlinter]);
        # the deployable form is export's, checked as export checks it
        from resvision.export import export

        target = weights.with_suffix(_DEPLOY_SUFFIXES[format])
        return export(self.network, target, format=format, input_size=shape).path

    def _checkpoint_dict(self) -> dict[str, Any]:
        session = self._session
        if session is not None and session.snapshot is None:
            check = session.config.get("check_finite", True)
            session.losses.read(session.progress.epoch if check else None)
        if session is not None and session.snapshot is not None:
            state = session.snapshot
        else:
            state = capture_training_state(self._runner(), session)
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model": self.network.state_dict(),
            **state,
            "config": to_safe(self._config(session)),
            "identity": session.identity if session is not None else None,
            "meta": {
                "saved_at": now_ns(),
                "torch": str(torch.__version__),
                "resvision": _version(),
            },
        }

    def _config(self, session: FitSession | None) -> dict[str, Any]:
        return {
            "network": type(self.network).__name__,
            "optimizer": type(self._optimizer).__name__ if self._optimizer is not None else None,
            "amp_level": self._amp.level,
            "amp_dtype": str(self._amp.dtype) if self._amp.dtype is not None else None,
            "device": str(self.device),
            "fit": dict(session.config) if session is not None else {},
        }

    def _forget_resume_point(self) -> None:
        # The weights are about to change outside fit: a mid-epoch resume point no longer
        # describes them.
        if self._session is not None:
            self._session.snapshot = None

    def load(
        self,
        path: str | os.PathLike[str],
        skip_mismatch: bool = False,
        reset_optimizer: bool = False,
    ) -> None:
        """Load weights (and optimizer, scheduler, loss-scaler states) from a file.

        Accepts a resvision checkpoint (``save(training=True)``), a plain ``state_dict``
        file (``save(training=False)``, ``torch.save(net.state_dict())``), and Paddle-style
        prefixes (``'output/final'`` finds ``output/final.pt``). Keys prefixed by DDP's
        ``module.`` or ``torch.compile``'s ``_orig_mod.`` are matched too. To continue a
        training run exactly, use ``fit(resume=path)`` instead.

        Paddle's own files are read too (``paddle.Model.save``): ``'output/final'`` or
        ``'output/final.pdparams'`` loads ``output/final.pdparams`` when there is no
        ``output/final.pt``, its names and layouts converted (BatchNorm ``_mean`` /
        ``_variance``, Linear weights transposed; :func:`resvision.models.weights.convert_state_dict`),
        and ``output/final.pdopt`` where it maps onto the optimizer without guessing: Momentum's
        velocities (tied to their parameters by the name table of the ``.pdparams``) and the
        schedule's progress. Other optimizer states are not loaded, with a warning that says why
        (see :mod:`resvision.engine.paddle_checkpoint`).

        Args:
            path: The file or prefix.
            skip_mismatch: Skip (with a warning) parameters missing from the file or of
                another shape, instead of raising; the optimizer state is then not loaded.
            reset_optimizer: Do not load the optimizer, scheduler and scaler states.

        Raises:
            FileNotFoundError: no such file.
            ValueError: a parameter is missing or has another shape (without
                ``skip_mismatch``), or the file holds no state dict.

        Examples:
            >>> import os, tempfile, torch
            >>> from torch import nn
            >>> src = Model(nn.Linear(4, 2), device="cpu")
            >>> dst = Model(nn.Linear(4, 2), device="cpu")
            >>> with tempfile.TemporaryDirectory() as d:
            ...     _ = src.save(os.path.join(d, "w"), training=False, format=None)  # weights only
            ...     dst.load(os.path.join(d, "w"))
            >>> torch.equal(src.network.weight, dst.network.weight)
            True
        """
        from resvision.engine import paddle_checkpoint  # reads through resvision.models.weights

        prefix = paddle_checkpoint.paddle_prefix(path)
        if prefix is not None:
            own = self.network.state_dict()
            weights, obj = paddle_checkpoint.read_paddle_weights(prefix, own), {}
        else:
            obj = load_checkpoint(path, map_location=self.device)
            if is_training_checkpoint(obj):
                weights = obj["model"]
            elif (
                isinstance(obj, Mapping)
                and obj
                and all(isinstance(v, torch.Tensor) for v in obj.values())
            ):
                weights, obj = obj, {}
            else:
                raise ValueError(
                    f"{os.fspath(path)!r} holds neither a resvision checkpoint nor a state dict "
                    f"(got {type(obj).__name__})"
                )
        matched, problems = _match_state(self.network.state_dict(), dict(weights))
        if problems:
            if not skip_mismatch:
                raise ValueError(
                    f"cannot load {os.fspath(path)!r}: "
                    + "; ".join(problems[:5])
                    + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
                    + ". Pass skip_mismatch=True to load the rest"
                )
            for problem in problems:
                warnings.warn(f"skip loading: {problem}", stacklevel=2)
            reset_optimizer = True
        self.network.load_state_dict(matched, strict=False)
        self._forget_resume_point()
        if reset_optimizer:
            return
        if prefix is not None:
            if self._optimizer is not None:
                paddle_checkpoint.load_paddle_optimizer_state(
                    self._optimizer, self.network, prefix, carried_scheduler(self._optimizer)
                )
            return
        if self._optimizer is not None and obj.get("optimizer"):
            self._optimizer.load_state_dict(obj["optimizer"])
        scheduler = carried_scheduler(self._optimizer)
        if scheduler is not None and obj.get("scheduler"):
            scheduler.load_state_dict(obj["scheduler"])
        if self._scaler is not None and obj.get("scaler"):
            self._scaler.load_state_dict(obj["scaler"])

    # ------------------------------------------------------------------ inspection
    def summary(
        self,
        input_size: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
        *,
        print_fn: Any = print,
    ) -> dict[str, int]:
        """Print the network's layer table and return its totals.

        Args:
            input_size: ``(C, H, W)`` or ``(N, C, H, W)``; default the ``inputs`` given to
                ``Model`` or the shape of the last batch seen.
            dtype: Input dtype (default the parameters' dtype).
            print_fn: Called with the table text; None prints nothing.

        Returns:
            ``{'total_params', 'trainable_params', 'macs'}``.

        Raises:
            ValueError: no ``input_size`` and none known yet.

        Examples:
            >>> from torch import nn
            >>> model = Model(nn.Conv2d(3, 8, 3), device="cpu")
            >>> model.summary((3, 32, 32), print_fn=None)["total_params"]
            224
        """
        from resvision.models import summary

        size = tuple(input_size) if input_size is not None else self._input_shape
        if size is None:
            raise ValueError(
                "summary() needs input_size, e.g. (3, 32, 32): none was given to Model(inputs=...) "
                "and no batch has been seen yet"
            )
        return summary(self.network, size, dtype=dtype, print_fn=print_fn)

    def __repr__(self) -> str:
        return (
            f"Model({type(self.network).__name__}, device={self.device}, "
            f"optimizer={type(self._optimizer).__name__ if self._optimizer else None}, "
            f"amp={self._amp.level})"
        )


def _interleave(parts: list[list[np.ndarray] | None], total: int) -> list[np.ndarray]:
    """Put back in order the outputs of processes that predicted samples ``rank::world``.

    ``parts[r]`` holds, per network output, process ``r``'s stacked outputs (None when it had
    no sample).

    Examples:
        >>> a, b = [np.array([0, 2, 4])], [np.array([1, 3])]
        >>> _interleave([a, b], 5)[0].tolist()
        [0, 1, 2, 3, 4]
    """
    world = len(parts)
    first = next((p for p in parts if p is not None), None)
    if first is None:  # an empty data set: no output, as in one process
        return []
    merged = []
    for k, sample in enumerate(first):
        out = np.empty((total, *sample.shape[1:]), dtype=sample.dtype)
        for r, part in enumerate(parts):
            if part is not None:
                out[r::world] = part[k]
        merged.append(out)
    return merged


def _match_state(
    own: Mapping[str, torch.Tensor], theirs: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The entries of ``theirs`` that fit ``own`` (by name and shape), and what did not fit."""
    for prefix in ("module.", "_orig_mod."):
        if (
            theirs
            and all(k.startswith(prefix) for k in theirs)
            and not any(k.startswith(prefix) for k in own)
        ):
            theirs = {k[len(prefix) :]: v for k, v in theirs.items()}
    matched, problems = {}, []
    for key, tensor in own.items():
        if key not in theirs:
            problems.append(f"{key} is not in the file")
        elif tuple(theirs[key].shape) != tuple(tensor.shape):
            problems.append(
                f"{key} has shape {list(theirs[key].shape)} in the file, the network expects "
                f"{list(tensor.shape)}"
            )
        else:
            matched[key] = theirs[key]
    if own and not matched:
        problems.insert(0, "no parameter name matches (is this a checkpoint of another network?)")
    return matched, problems


def _is_list_of_specs(inputs: Any) -> bool:
    return (
        isinstance(inputs, (list, tuple))
        and bool(inputs)
        and all(isinstance(s, (list, tuple)) or hasattr(s, "shape") for s in inputs)
    )


def _spec_shape(inputs: Any) -> tuple[int, ...] | None:
    """The per-sample shape of the first input spec, when it is fully known."""
    spec = inputs[0] if _is_list_of_specs(inputs) else inputs
    shape = getattr(spec, "shape", spec)
    if isinstance(shape, (list, tuple)) and len(shape) >= 2:
        rest = tuple(shape[1:])
        if all(isinstance(v, int) and v > 0 for v in rest):
            return rest
    return None


def _version() -> str:
    from resvision import __version__

    return __version__
