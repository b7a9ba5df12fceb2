"""The speed settings ``Model.prepare`` picks by itself for the hardware it finds.

Each setting the user leaves unset (``amp_configs='auto'``, ``channels_last=None``,
``compile=None``, the defaults of ``prepare``) is chosen here; an explicit value always wins.
The rules, and the measurements behind them (``python -m benchmarks``, see
``benchmarks/README.md``):

- Networks under :data:`MIN_PARAMETERS` parameters keep every default (fp32, NCHW, eager):
  per-operator overheads dominate them, so casts and layout changes cost more than they save,
  and tiny networks are what tests compare bit for bit against hand-written loops.
- **bfloat16 autocast** where the hardware computes bf16 natively: CUDA devices of compute
  capability 8.0 or more (Ampere and later; the model's own device is asked, and emulated bf16
  does not count), and CPUs with ``avx512_bf16`` or AMX (``amx_bf16``); there oneDNN's bf16
  matrix kernels run 2-2.5x the fp32 peak. Older CUDA GPUs (V100, T4) get **float16 autocast
  with a loss scaler** instead: their tensor cores compute fp16, and cuDNN has no bf16
  convolutions for them. Elsewhere (CPUs without bf16, MPS, not measured) training stays in
  fp32. bf16 changes the arithmetic (8-bit mantissa in the matrix products, fp32
  accumulation and fp32 weights): it is never switched on under
  ``torch.use_deterministic_algorithms(True)`` or when the user passed ``amp_configs=None`` /
  ``'fp32'``. Accuracy parity with fp32 on CIFAR-10 is documented in ``benchmarks/README.md``.
- **channels-last** for convolutional networks on CPU (oneDNN's convolutions are NHWC-native)
  and CUDA (tensor-core convolutions are NHWC-native). Same arithmetic, other memory layout.
- **cuDNN's autotuner** (``cudnn.benchmark``) on CUDA, off under deterministic algorithms.
- **torch.compile** stays off: on the CPU it brought nothing measurable for these networks
  while costing minutes of compilation, and on a GPU its gain depends on the run's length;
  ``compile=True`` asks for it.

The fast data path (the whole data set in memory, batched augmentation) is chosen by
:func:`resvision.data.loader.build_loader` when ``fit`` gets a Dataset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = [
    "AUTO",
    "MIN_PARAMETERS",
    "AutoSettings",
    "apply_backend_settings",
    "choose_settings",
    "cpu_native_bf16",
    "native_bf16",
    "tune_host_allocator",
]

#: The value of ``amp_configs`` that lets :func:`choose_settings` decide.
AUTO = "auto"
#: Networks smaller than this keep fp32, NCHW and eager execution (see the module doc).
MIN_PARAMETERS = 100_000

_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The processor's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_native_bf16() -> str | None:
    """The CPU feature that computes bf16 natively (``'avx512_bf16'``, ``'amx_bf16'``) or None.

    Reads ``/proc/cpuinfo`` (Linux). Elsewhere None: bf16 is then assumed to be emulated, the
    safe (fp32) answer.

    Examples:
        >>> cpu_native_bf16() in (None, "avx512_bf16", "amx_bf16")
        True
    """
    flags = cpu_flags()
    for flag in reversed(_NATIVE_BF16_FLAGS):  # name AMX first when both are there
        if flag in flags:
            return flag
    return None


#: CUDA compute capability from which GPUs compute bf16 natively (Ampere, 8.0). Below it
#: ``torch.cuda.is_bf16_supported()`` still says yes (it counts emulation), but cuDNN has no bf16
#: convolutions there: such GPUs train in fp16 with a loss scaler.
MIN_BF16_CAPABILITY = (8, 0)


def cuda_capability(device: torch.device) -> tuple[int, int]:
    """The compute capability of ``device`` (its own, not the current device's)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(index)
    return int(major), int(minor)


def native_bf16(device: torch.device) -> str | None:
    """Why ``device`` computes bf16 natively (a short reason), or None when it does not.

    Examples:
        >>> native_bf16(torch.device("meta")) is None
        True
    """
    if device.type == "cuda":
        major, minor = cuda_capability(device)
        native = (major, minor) >= MIN_BF16_CAPABILITY
        return f"compute capability {major}.{minor}" if native else None
    if device.type == "cpu":
        flag = cpu_native_bf16()
        if flag is not None and torch.backends.mkldnn.is_available():
            return flag
    return None


@dataclass(frozen=True)
class AutoSettings:
    """What :func:`choose_settings` decided, and why.

    Attributes:
        amp_configs: The ``amp_configs`` to use: ``'bf16'`` or None (fp32), or the user's value.
        channels_last: Whether to use the channels-last memory format.
        compile: False, True or the user's ``torch.compile`` options.
        chosen: The settings that were left to the automatic choice (``'amp'``,
            ``'channels_last'``, ``'compile'``).
        reasons: Setting name -> why it was chosen.
        cudnn_benchmark: Whether cuDNN picks its fastest kernels by timing them (CUDA, and
            not under deterministic algorithms).
    """

    amp_configs: Any
    channels_last: bool
    compile: bool | Mapping[str, Any]
    chosen: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)
    cudnn_benchmark: bool = False

    def describe(self) -> str:
        """One line naming each setting, marking the automatic ones with their reason.

        Examples:
            >>> s = AutoSettings("bf16", True, False, ("amp",), {"amp": "avx512_bf16"})
            >>> s.describe()
            'speed settings: bf16 autocast (auto: avx512_bf16), channels-last, no compile'
        """
        amp = self.amp_configs
        parts = [
            ("amp", "fp32" if amp is None else f"{amp} autocast" if isinstance(amp, str) else
             f"amp {dict(amp)}"),
            ("channels_last", "channels-last" if self.channels_last else "NCHW"),
            ("compile", "compile" if self.compile else "no compile"),
        ]  # fmt: skip
        text = ", ".join(
            f"{label} (auto: {self.reasons[key]})" if key in self.chosen else label
            for key, label in parts
        )
        return f"speed settings: {text}"


def _parameter_count(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


def _is_convolutional(network: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in network.modules())


def choose_settings(
    network: nn.Module,
    device: torch.device,
    *,
    amp_configs: Any = AUTO,
    channels_last: bool | None = None,
    compile: bool | Mapping[str, Any] | None = None,
    deterministic: bool | None = None,
) -> AutoSettings:
    """Fill in the speed settings left unset, for ``network`` on ``device``.

    Args:
        network: The network to train (its size and layers are inspected).
        device: Where it trains.
        amp_configs: ``'auto'`` to decide, anything else is kept (None means fp32).
        channels_last: None to decide, a bool is kept.
        compile: None to decide, anything else is kept.
        deterministic: Whether deterministic algorithms are on; None reads
            ``torch.are_deterministic_algorithms_enabled()``.

    Returns:
        The :class:`AutoSettings`.

    Raises:
        TypeError: ``channels_last`` is neither None nor a bool.

    Examples:
        >>> tiny = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
        >>> s = choose_settings(tiny, torch.device("cpu"))
        >>> s.amp_configs, s.channels_last, s.compile
        (None, False, False)
        >>> choose_settings(tiny, torch.device("cpu"), amp_configs="bf16").amp_configs
        'bf16'
    """
    if channels_last is not None and not isinstance(channels_last, bool):
        raise TypeError(
            f"channels_last must be True, False or None (automatic), got {channels_last!r}"
        )
    if deterministic is None:
        deterministic = torch.are_deterministic_algorithms_enabled()
    params = _parameter_count(network)
    small = params < MIN_PARAMETERS
    conv = _is_convolutional(network)
    chosen: list[str] = []
    reasons: dict[str, str] = {}

    amp = amp_configs
    if isinstance(amp_configs, str) and amp_configs.strip().lower() == AUTO:
        chosen.append("amp")
        why = native_bf16(device)
        if deterministic:
            amp, reasons["amp"] = None, "deterministic mode keeps fp32"
        elif small:
            amp, reasons["amp"] = None, f"{params:,} parameters: too small to gain"
        elif why is not None:
            amp, reasons["amp"] = "bf16", why
        elif device.type == "cuda":  # tensor cores compute fp16; the loss scaler guards it
            major, minor = cuda_capability(device)
            amp, reasons["amp"] = "fp16", f"compute capability {major}.{minor}: no native bf16"
        else:
            amp, reasons["amp"] = None, f"no native bf16 on {device.type}"

    cl = channels_last
    if channels_last is None:
        chosen.append("channels_last")
        if not conv:
            cl, reasons["channels_last"] = False, "no convolutions"
        elif small:
            cl, reasons["channels_last"] = False, f"{params:,} parameters: too small to gain"
        elif device.type in ("cpu", "cuda"):
            cl, reasons["channels_last"] = True, f"convolutional network on {device.type}"
        else:
            cl, reasons["channels_last"] = False, f"not measured on {device.type}"

    comp: bool | Mapping[str, Any] = compile if compile is not None else False
    if compile is None:
        chosen.append("compile")
        reasons["compile"] = "no measured gain worth the compile time; compile=True asks"
    benchmark = device.type == "cuda" and not deterministic
    return AutoSettings(amp, bool(cl), comp, tuple(chosen), reasons, benchmark)


def apply_backend_settings(settings: AutoSettings, device: torch.device) -> None:
    """Set the process-wide backend flags the settings ask for: cuDNN's autotuner
    (``torch.backends.cudnn.benchmark``) on CUDA unless deterministic algorithms are on, where
    it would pick kernels that differ between runs. Other devices are left as they are."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = settings.cudnn_benchmark


# --------------------------------------------------------------------------- host allocator
# glibc's malloc serves blocks above its mmap threshold (128 KiB at first, raised dynamically)
# with fresh mmap()s and gives freed heap memory back to the system above its trim threshold.
# A CPU training step allocates and frees the same activation-sized blocks every step, so those
# blocks keep being unmapped and mapped again, and the kernels then pay page faults to touch
# the new pages. Measured on resnet20 (batch 128, fp32, 2 cores, 20-step rounds): a hand-written
# loop ran at 824 images/s and Model.fit at 733 (it holds a few tensors a little longer, which
# defeats glibc's dynamic threshold more often); with the thresholds below, both ran at 973-980.
# This is what the jemalloc/tcmalloc advice for CPU training achieves, with no extra library.
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest accepted value on 64-bit systems
_TRIM_THRESHOLD = 1024 * 1024 * 1024
_allocator_tuned: bool | None = None


def tune_host_allocator() -> bool:
    """Keep activation-sized host blocks in glibc's heap between training steps (once per
    process); returns whether the thresholds are set.

    Does nothing (returns False) off glibc, when ``RESVISION_MALLOC_TUNING=0``, when the user
    set ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` or preloads another allocator
    (``LD_PRELOAD``). The process keeps up to 1 GiB of freed heap memory for reuse instead of
    returning it to the system at once.
    """
    global _allocator_tuned
    if _allocator_tuned is not None:
        return _allocator_tuned
    _allocator_tuned = False
    env = os.environ
    if env.get("RESVISION_MALLOC_TUNING", "1") == "0" or env.get("LD_PRELOAD"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in env or "MALLOC_TRIM_THRESHOLD_" in env:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
            return False
        m_trim_threshold, m_mmap_threshold = -1, -3
        # The mmap threshold first: setting either one turns glibc's dynamic adjustment off.
        ok = libc.mallopt(m_mmap_threshold, _MMAP_THRESHOLD) == 1
        ok = ok and libc.mallopt(m_trim_threshold, _TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):
        return False
    _allocator_tuned = bool(ok)
    return _allocator_tuned
