"""The speed settings Model.prepare picks by itself, and that explicit choices win."""

from __future__ import annotations

import pytest
import torch
from resume_proof import BatchTrace, assert_ran_only_the_rest, assert_same_end_state
from torch import nn

import resvision
from resvision.engine import autotune
from resvision.engine.autotune import MIN_PARAMETERS, choose_settings

CPU = torch.device("cpu")


def conv_net() -> nn.Module:
    """A convolutional network just over the size threshold (cheap on 8x8 images)."""
    net = nn.Sequential(
        nn.Conv2d(3, 128, 3, padding=1),
        nn.BatchNorm2d(128),
        nn.ReLU(),
        nn.Conv2d(128, 96, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(96, 4),
    )
    assert sum(p.numel() for p in net.parameters()) >= MIN_PARAMETERS
    return net


@pytest.fixture
def native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(autotune, "cpu_native_bf16", lambda: "avx512_bf16")


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(autotune, "cpu_native_bf16", lambda: None)


def test_native_bf16_conv_net_gets_bf16_and_channels_last(native: None) -> None:
    s = choose_settings(conv_net(), CPU, deterministic=False)
    assert (s.amp_configs, s.channels_last, s.compile) == ("bf16", True, False)
    assert set(s.chosen) == {"amp", "channels_last", "compile"}
    assert "avx512_bf16" in s.describe()


def test_without_native_bf16_training_stays_fp32(emulated: None) -> None:
    s = choose_settings(conv_net(), CPU, deterministic=False)
    assert s.amp_configs is None and s.channels_last
    assert "no native bf16" in s.reasons["amp"]


def test_deterministic_mode_keeps_fp32(native: None) -> None:
    assert choose_settings(conv_net(), CPU, deterministic=True).amp_configs is None
    torch.use_deterministic_algorithms(True)
    try:
        assert choose_settings(conv_net(), CPU).amp_configs is None
    finally:
        torch.use_deterministic_algorithms(False)


def test_small_and_non_conv_networks_keep_defaults(native: None) -> None:
    tiny = choose_settings(nn.Sequential(nn.Conv2d(3, 4, 3)), CPU, deterministic=False)
    assert (tiny.amp_configs, tiny.channels_last) == (None, False)
    mlp = choose_settings(nn.Linear(512, 512), CPU, deterministic=False)
    assert mlp.amp_configs == "bf16" and mlp.channels_last is False


def test_explicit_values_always_win(native: None) -> None:
    s = choose_settings(
        conv_net(), CPU, amp_configs=None, channels_last=False, compile=False, deterministic=False
    )
    assert (s.amp_configs, s.channels_last, s.compile, s.chosen) == (None, False, False, ())
    assert choose_settings(conv_net(), CPU, amp_configs="fp32").amp_configs == "fp32"
    with pytest.raises(TypeError, match="channels_last must be True, False or None"):
        choose_settings(conv_net(), CPU, channels_last="yes")


def test_prepare_applies_and_fit_reports_the_choice(
    native: None, capsys: pytest.CaptureFixture
) -> None:
    model = resvision.Model(conv_net(), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.01), nn.CrossEntropyLoss())
    assert model._amp.dtype == torch.bfloat16
    conv = model.network[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    data = [(torch.randn(4, 3, 8, 8), torch.randint(0, 4, (4,)))] * 2
    model.fit(data, epochs=1, verbose=2, log_freq=100)
    assert capsys.readouterr().out.count("speed settings: bf16 autocast (auto: avx512_bf16)") == 1
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.prepare(opt, nn.CrossEntropyLoss(), amp_configs=None, channels_last=False)
    assert model._amp.dtype is None
    assert model.network[0].weight.is_contiguous()  # back to NCHW


def _fit(tmp_path, steps: int, resume: bool = False) -> list[tuple[int, int]]:
    """Train to ``steps`` (resuming from ``tmp_path`` if asked); the batches this run trained."""
    torch.manual_seed(0)
    model = resvision.Model(conv_net(), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                  nn.CrossEntropyLoss())  # fmt: skip
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 4, (4,), generator=g))
            for _ in range(4)]  # fmt: skip
    trace = BatchTrace()
    model.fit(data, epochs=1, verbose=0, num_iters=steps, save_dir=tmp_path, save_steps=1,
              resume="auto" if resume else None, callbacks=[trace])  # fmt: skip
    return trace.batches


@pytest.mark.resume
def test_auto_bf16_run_resumes_bit_identically(native: None, tmp_path) -> None:
    _fit(tmp_path / "a", 4)
    _fit(tmp_path / "b", 2)
    resumed = _fit(tmp_path / "b", 4, resume=True)
    assert_ran_only_the_rest(resumed, {"epoch": 0, "batch": 2}, 4, 4)
    assert_same_end_state(tmp_path / "a" / "final.pt", tmp_path / "b" / "final.pt")


def test_host_allocator_tuning_runs_once_and_respects_opt_outs(monkeypatch) -> None:
    import sys

    monkeypatch.setattr(autotune, "_allocator_tuned", None)
    monkeypatch.setenv("RESVISION_MALLOC_TUNING", "0")
    assert autotune.tune_host_allocator() is False
    assert autotune.tune_host_allocator() is False  # decided once per process
    monkeypatch.setattr(autotune, "_allocator_tuned", None)
    monkeypatch.delenv("RESVISION_MALLOC_TUNING")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")  # the user's own setting wins
    assert autotune.tune_host_allocator() is False
    monkeypatch.setattr(autotune, "_allocator_tuned", None)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    glibc = sys.platform.startswith("linux")
    assert autotune.tune_host_allocator() is glibc or not glibc


def test_prepare_on_cpu_tunes_the_allocator(monkeypatch) -> None:
    import resvision
    from resvision.engine import model as model_module

    calls = []
    monkeypatch.setattr(model_module, "tune_host_allocator", lambda: calls.append(1) or True)
    resvision.Model(nn.Linear(2, 2), device="cpu").prepare()
    assert calls == [1]
