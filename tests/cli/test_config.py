"""The run config: defaults, YAML presets, overrides, and the errors for bad keys and values."""

from pathlib import Path

import pytest
import torch

from resvision.recipe.config import Config, dump_yaml, load_yaml, parse_override, resolve
from resvision.recipe.errors import UsageError, close_names

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_sample_quick_preset_is_the_default_run():
    assert resolve(CONFIGS / "sample_quick.yaml") == Config()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_preset_loads_and_round_trips(path, tmp_path):
    cfg = resolve(path)
    out = tmp_path / "config.yaml"
    out.write_text(dump_yaml(cfg))
    assert resolve(out) == cfg


def test_tutorial_preset_is_the_tutorials_recipe():
    cfg = resolve(CONFIGS / "tutorial_resnet50_cifar10.yaml")
    assert (cfg.model.name, cfg.model.num_classes, cfg.data.name) == ("resnet50", 10, "cifar10")
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.momentum) == ("momentum", 0.01, 0.9)
    assert cfg.optim.weight_decay == 1e-4 and cfg.schedule.name == "constant"
    assert (cfg.train.batch_size, cfg.train.epochs) == (64, 50)
    assert cfg.data.augment == "none" and cfg.data.normalize is False


def test_resnet20_preset_follows_he_et_al():
    cfg = resolve(CONFIGS / "resnet20_cifar10.yaml")
    steps_per_epoch = 50_000 / cfg.train.batch_size
    assert cfg.optim.lr == 0.1 and cfg.optim.weight_decay == 1e-4
    assert round(cfg.train.epochs * steps_per_epoch, -3) == 64_000
    assert [round(m * steps_per_epoch, -3) for m in cfg.schedule.milestones] == [32_000, 48_000]


def test_precedence_file_then_flags_then_set(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train: {epochs: 7, batch_size: 32}\noptim: {lr: 0.3}\n")
    cfg = resolve(f, flags={"train.epochs": 9, "optim.lr": None}, overrides=["train.epochs=11"])
    assert cfg.train.epochs == 11  # --set wins over the flag
    assert cfg.train.batch_size == 32  # file wins over the default
    assert cfg.optim.lr == 0.3  # a flag not given (None) does not override


def test_override_values_are_typed():
    cfg = resolve(
        overrides=[
            "optim.lr=1e-3",  # YAML 1.1 reads this as a string; the float field converts it
            "schedule.milestones=[30, 60]",
            "train.channels_last=yes",
            "train.max_steps=null",
            "model.num_classes=100",
        ]
    )
    assert cfg.optim.lr == 0.001
    assert cfg.schedule.milestones == [30.0, 60.0]
    assert cfg.train.channels_last is True and cfg.train.max_steps is None
    assert cfg.model.num_classes == 100
    assert resolve(overrides=["schedule.milestones=10,20"]).schedule.milestones == [10.0, 20.0]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trian.epochs=3", "'trian'; did you mean 'train'?"),
        ("train.epoch=3", "'train.epoch'; did you mean 'train.epochs'?"),
        ("optim.learning_rate=0.1", "unknown config key 'optim.learning_rate'"),
        ("train.amp=fp32", "unknown train.amp value 'fp32'"),
        ("schedule.name=cosin", "did you mean 'cosine'?"),
        ("train.epochs=abc", "train.epochs must be an integer, got 'abc'"),
        ("train.epochs=2.5", "train.epochs must be an integer, got 2.5"),
        ("train.deterministic=maybe", "train.deterministic must be true or false"),
        ("model=resnet50", "model must be a mapping"),
        ("epochs", "--set expects section.key=value"),
        ("train..epochs=1", "--set expects section.key=value"),
    ],
)
def test_bad_keys_and_values_name_the_problem(override, expected):
    with pytest.raises(UsageError) as info:
        resolve(overrides=[override])
    assert expected in str(info.value)


def test_bad_config_files(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_yaml(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="must hold a mapping"):
        load_yaml(bad)
    bad.write_text("")
    assert load_yaml(bad) == {}


def test_parse_override_and_close_names():
    assert parse_override("a.b=") == (["a", "b"], "")
    assert parse_override("train.amp=bf16") == (["train", "amp"], "bf16")
    assert close_names("ResNet50", ["resnet50", "resnet18"])[0] == "resnet50"
    assert close_names("zzz", ["resnet50"]) == []


def test_fast_preset_builds_muon_reflect_translations_and_a_linear_decay():
    from resvision.optim import Muon
    from resvision.recipe.build import build_network, build_optimizer, build_schedule

    cfg = resolve(CONFIGS / "fast_cifar10.yaml")
    network = build_network(cfg.model, 10, 3)
    schedule = build_schedule(cfg, steps_per_epoch=25)
    optimizer = build_optimizer(cfg.optim, network, schedule, steps_per_epoch=25)
    assert isinstance(optimizer, Muon)
    muon, aux = optimizer.param_groups
    assert muon["muon"] and muon["lr"] == cfg.optim.lr and muon["normalize_weights"]
    assert muon["ns_steps"] == 3  # airbench94_muon's, chosen on the validation split
    # the whitening bias trains all along, with the other biases
    assert any(p is network.whiten.bias for p in aux["params"])
    assert all("linear_decay_steps" not in g for g in optimizer.param_groups)
    assert all(p.ndim == 4 for p in muon["params"])  # the filters; the classifier is SGD's
    assert any(p is network.get_classifier().weight for p in aux["params"])
    assert aux["lr"] == pytest.approx(cfg.optim.aux_lr) and aux["momentum"] == 0.85
    assert aux["weight_decay"] == cfg.optim.weight_decay and muon["weight_decay"] == 0.0
    # a straight decay to zero over the 8 x 25 steps
    assert [schedule.step(s) or round(schedule(), 4) for s in (0, 100, 200)] == [0.24, 0.12, 0.0]
    assert type(schedule).__name__ == "PolynomialDecay"
    assert cfg.train.batch_size * cfg.train.accumulate_grad_batches == 2000  # airbench's batch


def test_crop_padding_and_mode_reach_the_batched_crop():
    from resvision.data.batch_transforms import plan_batched
    from resvision.recipe.data import Preprocess, build_transforms

    cfg = resolve(CONFIGS / "fast_cifar10.yaml")
    pre = Preprocess(size=32, resize=None, mean=[0.5] * 3, std=[0.2] * 3, channels=3)
    train, _ = build_transforms(cfg.data, pre, natural=32)
    crop, flip = plan_batched(train, (3, 32, 32), "pil").transforms[:2]
    assert crop.padding == (2, 2, 2, 2) and crop.padding_mode == "reflect"
    assert crop.flip_prob == 0 and type(flip).__name__ == "BatchAlternatingFlip"
    default = resolve(CONFIGS / "resnet20_cifar10.yaml")
    train, _ = build_transforms(default.data, pre, natural=32)
    crop = plan_batched(train, (3, 32, 32), "pil").transforms[0]
    assert crop.padding == (4, 4, 4, 4) and crop.padding_mode == "constant"


def test_yaml_off_is_the_word_off_for_keys_that_take_it(tmp_path):
    # YAML 1.1 reads a bare `off` as false; `train.amp` takes the word.
    assert resolve(None, {}, ["train.amp=off"]).train.amp == "off"
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  amp: off\n  channels_last: auto\n")
    cfg = resolve(path)
    assert cfg.train.amp == "off" and cfg.train.channels_last is None
    with pytest.raises(UsageError, match=r"train\.amp value"):
        resolve(None, {}, ["train.amp=on"])


def test_muon_with_zero_lr_and_an_aux_rate_is_refused():
    from resvision.recipe.build import build_network, build_optimizer

    cfg = resolve(CONFIGS / "fast_cifar10.yaml", {}, ["optim.lr=0"])
    with pytest.raises(UsageError, match=r"optim\.lr > 0 when optim\.aux_lr is set"):
        build_optimizer(cfg.optim, build_network(cfg.model, 10, 3), 0.0, steps_per_epoch=25)


def _steps(optimizer, schedule, network, n):
    for _ in range(n):
        network(torch.randn(8, 3)).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        if schedule is not None:
            schedule.step()


@pytest.mark.parametrize("name", ["momentum", "adamw", "muon"])
def test_early_params_train_for_their_epochs_then_stay_fixed(name):
    from resvision.recipe.build import build_optimizer, build_schedule

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    sets = [f"optim.name={name}", "optim.early_params=[0.bias]", "optim.early_epochs=1.5"]
    cfg = resolve(None, {}, [*sets, "schedule.name=constant"])
    schedule = build_schedule(cfg, steps_per_epoch=2)
    optimizer = build_optimizer(cfg.optim, network, schedule, steps_per_epoch=2)
    early = [g for g in optimizer.param_groups if "linear_decay_steps" in g]
    assert len(early) == 1 and early[0]["linear_decay_steps"] == 3  # 1.5 epochs x 2 steps
    assert early[0]["params"] == [network[0].bias]
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 4
    start = network[0].bias.detach().clone()
    _steps(optimizer, optimizer.lr_scheduler, network, 3)  # a constant rate gets a schedule
    stopped = network[0].bias.detach().clone()
    others = [p.detach().clone() for p in network[2].parameters()]
    assert not torch.equal(start, stopped)  # it trained at first ...
    _steps(optimizer, optimizer.lr_scheduler, network, 3)
    assert torch.equal(network[0].bias, stopped)  # ... and not after its 3 steps
    assert all(not torch.equal(a, b) for a, b in zip(others, network[2].parameters()))


def test_early_params_that_name_nothing_are_refused():
    from resvision.recipe.build import build_optimizer

    network = torch.nn.Sequential(torch.nn.Linear(3, 4))
    cfg = resolve(None, {}, ["optim.early_params=[whiten.bias]"])
    with pytest.raises(UsageError, match=r"'whiten\.bias' names no trainable parameter.*0\.bias"):
        build_optimizer(cfg.optim, network, 0.1, steps_per_epoch=2)
    with pytest.raises(UsageError, match=r"optim\.early_epochs must be"):
        resolve(None, {}, ["optim.early_epochs=0"])
