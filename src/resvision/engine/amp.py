"""Mixed precision: reading ``amp_configs`` (Paddle's names and ours) into autocast settings.

``Model.prepare(..., amp_configs=...)`` accepts:

- ``None`` / ``'O0'`` / ``'fp32'``: float32 training.
- ``'fp16'`` / ``'float16'`` / Paddle's ``'O1'``: float16 autocast with a dynamic loss scaler
  (``torch.amp.GradScaler``) on CUDA; a step whose gradients hold inf/NaN is skipped by the
  scaler. On MPS float16 autocast runs without a scaler. On CPU float16 autocast is not worth it:
  a warning is given and training stays in float32.
- ``'bf16'`` / ``'bfloat16'``: bfloat16 autocast (CUDA with bf16 support, CPU, MPS); no scaler
  is needed since bfloat16 has float32's exponent range.
- Paddle's ``'O2'`` ("pure float16"): PyTorch has no pure-fp16 mode that keeps float32 master
  weights, so ``'O2'`` runs as ``'O1'`` and says so with a warning.
- A dict in Paddle's form: ``{'level': 'O1', 'init_loss_scaling': 1024, 'incr_ratio': 2.0,
  'decr_ratio': 0.5, 'incr_every_n_steps': 1000, 'decr_every_n_nan_or_inf': 1,
  'use_dynamic_loss_scaling': True}``, plus resvision's ``'dtype': 'float16' | 'bfloat16'``.
  The loss-scaling keys map onto ``GradScaler(init_scale, growth_factor, backoff_factor,
  growth_interval)``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

_FP32_NAMES = ("o0", "fp32", "float32")
_FP16_NAMES = ("o1", "o2", "fp16", "float16", "half")
_BF16_NAMES = ("bf16", "bfloat16")
# Paddle's GradScaler keys -> torch.amp.GradScaler keys.
_SCALER_KEYS = {
    "init_loss_scaling": "init_scale",
    "incr_ratio": "growth_factor",
    "decr_ratio": "backoff_factor",
    "incr_every_n_steps": "growth_interval",
}
_ACCEPTED_DICT_KEYS = (
    "level",
    "dtype",
    *_SCALER_KEYS,
    "decr_every_n_nan_or_inf",
    "use_dynamic_loss_scaling",
)


@dataclass(frozen=True)
class AmpSettings:
    """What ``amp_configs`` resolved to on a given device.

    Attributes:
        level: Paddle's level, ``'O0'`` (off), ``'O1'`` or ``'O2'`` (as given; O2 runs as O1).
        dtype: The autocast dtype, or None when autocast is off.
        device_type: ``'cuda'``, ``'cpu'`` or ``'mps'``.
        use_scaler: Whether a ``GradScaler`` scales the loss (float16 on CUDA).
        scaler_kwargs: Keyword arguments for ``torch.amp.GradScaler``.
    """

    level: str = "O0"
    dtype: torch.dtype | None = None
    device_type: str = "cpu"
    use_scaler: bool = False
    scaler_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """True when autocast runs."""
        return self.dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for a forward pass (a null context when AMP is off)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """A new ``GradScaler`` when the loss must be scaled, else None."""
        if not self.use_scaler:
            return None
        return torch.amp.GradScaler(self.device_type, **self.scaler_kwargs)


def parse_amp_configs(
    amp_configs: str | Mapping[str, Any] | None, device: torch.device
) -> AmpSettings:
    """Resolve ``amp_configs`` (see the module documentation) for ``device``.

    Args:
        amp_configs: None, a level or dtype name, or a dict in Paddle's form.
        device: The device training runs on.

    Returns:
        The resolved :class:`AmpSettings`.

    Raises:
        ValueError: an unknown name or dict key, a value out of range, a key PyTorch's autocast
            cannot honour (Paddle's custom white/black lists, static loss scaling), or bfloat16
            on a CUDA device without bfloat16 support.
        TypeError: ``amp_configs`` is neither None, a string nor a dict.

    Examples:
        >>> parse_amp_configs("bf16", torch.device("cpu")).dtype
        torch.bfloat16
        >>> parse_amp_configs(None, torch.device("cpu")).enabled
        False
    """
    device_type = device.type
    if amp_configs is None or amp_configs is False:
        return AmpSettings(device_type=device_type)
    if isinstance(amp_configs, str):
        level, dtype_name, options = _level_and_dtype(amp_configs), None, {}
    elif isinstance(amp_configs, Mapping):
        options = dict(amp_configs)
        unknown = sorted(set(options) - set(_ACCEPTED_DICT_KEYS))
        if unknown:
            raise ValueError(
                f"amp_configs keys {unknown} are not supported; accepted keys are "
                f"{list(_ACCEPTED_DICT_KEYS)} (Paddle's custom_white_list / custom_black_list "
                "have no equivalent in torch.autocast)"
            )
        level = _level_and_dtype(str(options.pop("level", "O1")))
        dtype_name = options.pop("dtype", None)
    else:
        raise TypeError(
            f"amp_configs must be None, a string such as 'fp16', 'bf16', 'O1', or a dict, "
            f"got {type(amp_configs).__name__}"
        )

    level_name, dtype = level
    if dtype_name is not None:
        dtype = _dtype_from_name(str(dtype_name))
    if level_name == "O0" or dtype is None:
        return AmpSettings(device_type=device_type)
    if level_name == "O2":
        warnings.warn(
            "amp level 'O2' (pure float16) has no PyTorch equivalent that keeps float32 master "
            "weights; running as 'O1' (autocast)",
            stacklevel=3,
        )
    if dtype == torch.float16 and device_type == "cpu":
        warnings.warn(
            "float16 autocast is not supported well on CPU; training in float32. Use "
            "amp_configs='auto' for mixed precision on CPU (bf16 where the CPU computes it "
            "natively)",
            stacklevel=3,
        )
        return AmpSettings(level=level_name, device_type=device_type)
    if dtype == torch.bfloat16 and device_type == "cuda":
        from resvision.engine.autotune import MIN_BF16_CAPABILITY, cuda_capability

        capability = cuda_capability(device)
        if capability < MIN_BF16_CAPABILITY:  # emulated: slow, and no bf16 convolutions
            raise ValueError(
                f"amp_configs asks for bfloat16, but {device} (compute capability "
                f"{capability[0]}.{capability[1]}) computes it only by emulation, without "
                "cuDNN convolutions; use 'fp16' (with its loss scaler) or 'auto'"
            )
    if dtype == torch.bfloat16 and device_type == "cpu":
        from resvision.engine.autotune import cpu_native_bf16

        if cpu_native_bf16() is None:
            # Correct but slow: airnet trained 10.6x slower than in float32 on a 2-core AVX2
            # CPU (benchmarks/README.md, results/amp-emulated-bf16-2026-12-03/).
            warnings.warn(
                "amp_configs asks for bfloat16, but this CPU computes it only by emulation (no "
                "avx512_bf16 or amx_bf16 among its flags): training will be many times slower "
                "than in float32. Use 'auto' (float32 on this CPU, bf16 where it is native) "
                "or 'fp32'",
                stacklevel=3,
            )
    use_scaler = dtype == torch.float16 and device_type == "cuda"
    scaler_kwargs = _scaler_kwargs(options) if use_scaler else {}
    return AmpSettings(level_name, dtype, device_type, use_scaler, scaler_kwargs)


def _level_and_dtype(name: str) -> tuple[str, torch.dtype | None]:
    key = name.strip().lower()
    if key in _FP32_NAMES:
        return "O0", None
    if key in _FP16_NAMES:
        return ("O2" if key == "o2" else "O1"), torch.float16
    if key in _BF16_NAMES:
        return "O1", torch.bfloat16
    raise ValueError(
        f"unknown amp level or dtype {name!r}; expected one of 'O0', 'O1', 'O2', 'fp16', "
        "'bf16', 'fp32'"
    )


def _dtype_from_name(name: str) -> torch.dtype:
    key = name.strip().lower()
    if key in ("float16", "fp16", "half"):
        return torch.float16
    if key in _BF16_NAMES:
        return torch.bfloat16
    raise ValueError(f"amp_configs['dtype'] must be 'float16' or 'bfloat16', got {name!r}")


def _scaler_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    if options.pop("use_dynamic_loss_scaling", True) is False:
        raise ValueError(
            "amp_configs['use_dynamic_loss_scaling']=False is not supported: torch's GradScaler "
            "always adjusts the scale; remove the key to use dynamic loss scaling"
        )
    every_n = options.pop("decr_every_n_nan_or_inf", 1)
    if every_n != 1:
        warnings.warn(
            f"amp_configs['decr_every_n_nan_or_inf']={every_n} is not supported: torch's "
            "GradScaler lowers the scale at every step with inf/NaN gradients",
            stacklevel=4,
        )
    kwargs = {_SCALER_KEYS[k]: v for k, v in options.items() if k in _SCALER_KEYS}
    if "init_scale" in kwargs and not kwargs["init_scale"] > 0:
        raise ValueError(f"init_loss_scaling must be > 0, got {kwargs['init_scale']}")
    if "growth_factor" in kwargs and not kwargs["growth_factor"] > 1:
        raise ValueError(f"incr_ratio must be > 1, got {kwargs['growth_factor']}")
    if "backoff_factor" in kwargs and not 0 < kwargs["backoff_factor"] < 1:
        raise ValueError(f"decr_ratio must be in (0, 1), got {kwargs['backoff_factor']}")
    if "growth_interval" in kwargs and not (
        isinstance(kwargs["growth_interval"], int) and kwargs["growth_interval"] > 0
    ):
        raise ValueError(
            f"incr_every_n_steps must be a positive int, got {kwargs['growth_interval']!r}"
        )
    return kwargs
