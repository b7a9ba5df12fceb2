"""Speed options: amp_configs parsing (Paddle's names and dict form), devices, batch transfer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resvision.engine.amp import parse_amp_configs
from resvision.engine.device import move_to_device, resolve_device

CPU = torch.device("cpu")
CUDA = torch.device("cuda", 0)  # parsing only: nothing is allocated on it


@pytest.mark.parametrize("off", [None, "O0", "fp32", "float32", {"level": "O0"}])
def test_amp_off(off):
    settings = parse_amp_configs(off, CPU)
    assert not settings.enabled and settings.make_scaler() is None


def test_fp16_on_cuda_uses_a_loss_scaler_with_paddle_keys():
    settings = parse_amp_configs(
        {
            "level": "O1",
            "init_loss_scaling": 1024,
            "incr_ratio": 3.0,
            "decr_ratio": 0.25,
            "incr_every_n_steps": 100,
        },
        CUDA,
    )
    assert settings.dtype == torch.float16 and settings.use_scaler
    assert settings.scaler_kwargs == {
        "init_scale": 1024,
        "growth_factor": 3.0,
        "backoff_factor": 0.25,
        "growth_interval": 100,
    }
    assert parse_amp_configs("fp16", CUDA).use_scaler


def test_o2_runs_as_o1_with_a_warning():
    with pytest.warns(UserWarning, match="'O2'.*running as 'O1'"):
        settings = parse_amp_configs("O2", CUDA)
    assert settings.level == "O2" and settings.dtype == torch.float16 and settings.use_scaler


def test_fp16_on_cpu_falls_back_to_float32_with_a_warning():
    with pytest.warns(UserWarning, match="Use amp_configs='auto'"):
        settings = parse_amp_configs("O1", CPU)
    assert not settings.enabled


def test_bf16_on_a_cpu_without_native_bf16_warns_that_it_is_emulated(monkeypatch, recwarn):
    from resvision.engine import autotune

    monkeypatch.setattr(autotune, "cpu_flags", lambda: {"avx2", "fma"})  # an AVX2-only CPU
    with pytest.warns(UserWarning, match=r"only by emulation.*Use 'auto'"):
        settings = parse_amp_configs("bf16", CPU)
    assert settings.dtype == torch.bfloat16  # still what was asked for: correct, only slow
    monkeypatch.setattr(autotune, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    recwarn.clear()
    assert parse_amp_configs("bf16", CPU).dtype == torch.bfloat16
    assert not [w for w in recwarn if "emulation" in str(w.message)]


@pytest.mark.filterwarnings("ignore:amp_configs asks for bfloat16")
def test_bf16_needs_no_scaler():
    settings = parse_amp_configs("bf16", CPU)
    assert settings.dtype == torch.bfloat16 and not settings.use_scaler
    with settings.autocast():
        out = torch.nn.functional.linear(torch.randn(2, 3), torch.randn(4, 3))
    assert out.dtype == torch.bfloat16
    assert parse_amp_configs({"level": "O1", "dtype": "bfloat16"}, CPU).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("O3", "unknown amp level or dtype 'O3'"),
        ({"level": "O1", "custom_white_list": {"conv2d"}}, r"keys \['custom_white_list'\]"),
        ({"level": "O1", "use_pure_fp16": True}, r"keys \['use_pure_fp16'\]"),
        ({"level": "O1", "use_dynamic_loss_scaling": False}, "use_dynamic_loss_scaling"),
        ({"level": "O1", "decr_ratio": 2.0}, r"decr_ratio must be in \(0, 1\)"),
        ({"level": "O1", "incr_every_n_steps": 0}, "incr_every_n_steps must be a positive int"),
        ({"dtype": "int8"}, "'float16' or 'bfloat16'"),
    ],
)
def test_bad_amp_configs_are_named(config, message):
    with pytest.raises(ValueError, match=message):
        parse_amp_configs(config, CUDA)


def test_amp_configs_type_is_checked():
    with pytest.raises(TypeError, match="got int"):
        parse_amp_configs(1, CPU)


def test_decr_every_n_nan_or_inf_other_than_one_warns():
    with pytest.warns(UserWarning, match="decr_every_n_nan_or_inf"):
        parse_amp_configs({"level": "O1", "decr_every_n_nan_or_inf": 2}, CUDA)


def test_resolve_device_spellings():
    assert resolve_device("cpu") == CPU
    assert resolve_device(torch.device("cpu")) == CPU
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'gpu:1' was asked for, but CUDA is not available"):
            resolve_device("gpu:1")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device(0)
    with pytest.raises(ValueError, match="unknown device 'npu7'"):
        resolve_device("npu7")
    with pytest.raises(TypeError, match="got float"):
        resolve_device(1.5)


def test_move_to_device_handles_nested_batches_and_channels_last():
    batch = {"x": np.zeros((2, 3, 4, 4), "float32"), "y": [torch.tensor([1, 2]), "name"]}
    moved = move_to_device(batch, CPU, channels_last=True)
    assert isinstance(moved["x"], torch.Tensor)
    assert moved["x"].is_contiguous(memory_format=torch.channels_last)
    assert moved["y"][1] == "name" and moved["y"][0].tolist() == [1, 2]
    t = torch.ones(3)
    assert move_to_device(t, CPU) is t  # no copy when already there
