"""The one speed policy (``resvision.engine.autotune``), on GPUs this machine does not have: the
device's capabilities are faked, the decisions are real. The Python API (``prepare``) and the
command line (``train.amp: auto``) take the same decisions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resvision.engine import autotune
from resvision.engine.amp import parse_amp_configs
from resvision.engine.autotune import apply_backend_settings, choose_settings
from resvision.recipe.build import amp_setting

CUDA1 = torch.device("cuda", 1)


def conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 256, 3), nn.Conv2d(256, 256, 3), nn.Flatten())


@pytest.fixture
def gpus(monkeypatch):
    """Fake CUDA devices: ``gpus({0: (7, 0), 1: (8, 0)})`` sets their compute capabilities.
    ``is_bf16_supported`` says True, as torch does for emulated bf16 on a V100."""
    asked: list[int] = []

    def install(capabilities: dict[int, tuple[int, int]], current: int = 0) -> list[int]:
        def capability(index):
            asked.append(index)
            return capabilities[index]

        monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
        return asked

    return install


def test_an_older_gpu_gets_fp16_with_a_loss_scaler_not_emulated_bf16(gpus):
    gpus({0: (7, 0)})
    s = choose_settings(conv_net(), torch.device("cuda"), deterministic=False)
    assert s.amp_configs == "fp16" and "compute capability 7.0" in s.reasons["amp"]
    amp = parse_amp_configs(s.amp_configs, torch.device("cuda"))
    assert amp.dtype == torch.float16 and amp.use_scaler


def test_an_ampere_gpu_gets_bf16(gpus):
    gpus({0: (8, 0)})
    s = choose_settings(conv_net(), torch.device("cuda:0"), deterministic=False)
    assert s.amp_configs == "bf16" and s.reasons["amp"] == "compute capability 8.0"


def test_the_models_own_device_is_asked_not_the_current_one(gpus):
    asked = gpus({0: (7, 5), 1: (9, 0)}, current=0)
    assert choose_settings(conv_net(), CUDA1, deterministic=False).amp_configs == "bf16"
    assert asked == [1]


def test_deterministic_runs_on_a_gpu_stay_fp32_without_the_cudnn_autotuner(gpus):
    gpus({0: (9, 0)})
    s = choose_settings(conv_net(), torch.device("cuda"), deterministic=True)
    assert s.amp_configs is None and s.reasons["amp"] == "deterministic mode keeps fp32"
    assert s.cudnn_benchmark is False
    assert choose_settings(conv_net(), torch.device("cuda"), deterministic=False).cudnn_benchmark


def test_the_cudnn_autotuner_is_set_by_the_policy_for_the_python_api_too(gpus, monkeypatch):
    gpus({0: (9, 0)})
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    apply_backend_settings(choose_settings(conv_net(), torch.device("cuda")), torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is True
    apply_backend_settings(
        choose_settings(conv_net(), torch.device("cuda"), deterministic=True), torch.device("cuda")
    )
    assert torch.backends.cudnn.benchmark is False
    # Model.prepare applies it (on the CPU it leaves the flag alone)
    from resvision.engine import model as model_module

    calls = []
    monkeypatch.setattr(model_module, "apply_backend_settings", lambda s, d: calls.append(d.type))
    model_module.Model(nn.Linear(2, 2), device="cpu").prepare()
    assert calls == ["cpu"]


def test_mps_stays_fp32(monkeypatch):
    s = choose_settings(conv_net(), torch.device("mps"), deterministic=False)
    assert s.amp_configs is None and "mps" in s.reasons["amp"]


def test_explicit_bf16_on_an_older_gpu_is_refused_naming_its_capability(gpus):
    gpus({0: (7, 5)})
    with pytest.raises(ValueError, match=r"compute capability 7\.5\) computes it only by emul"):
        parse_amp_configs("bf16", torch.device("cuda"))


def test_the_command_line_leaves_auto_to_the_policy_on_every_device():
    for device in ("cpu", "cuda", "mps"):
        assert amp_setting("auto", torch.device(device)) == autotune.AUTO
    assert amp_setting("off", torch.device("cuda")) is None
    assert amp_setting("bf16", torch.device("cuda")) == "bf16"  # an explicit level is kept


def test_deterministic_mode_warns_about_operations_without_a_deterministic_kernel():
    """--deterministic: VGG's adaptive pooling has no deterministic CUDA backward; it must warn
    naming the operation, not stop the run at its first backward."""
    from resvision.recipe.config import resolve
    from resvision.recipe.training import configure_determinism as _configure_determinism

    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        _configure_determinism(resolve(flags={"train.deterministic": True}))
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
