"""torchvision's ResNet-50 "new recipe" as a preset, checked by a few-step run (issue #19), and
the regularisation flags end to end on the command line."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from resvision.recipe.config import resolve
from resvision.recipe.presets import find_config


def _photos(root: Path, n: int = 6) -> Path:
    """A folder of photos of different sizes, two classes, train/ and val/."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = root / "photos" / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                w, h = int(rng.integers(40, 64)), int(rng.integers(40, 64))
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg")
    return root / "photos"


def test_the_v2_preset_holds_torchvisions_recipe():
    cfg = resolve(find_config("imagenet_resnet50_v2"))
    data, optim, train = cfg.data, cfg.optim, cfg.train
    assert (data.image_size, data.eval_size, data.eval_resize) == (176, 224, 232)
    assert (data.auto_augment, data.random_erase, data.aug_repeats) == ("ta_wide", 0.1, 4)
    assert (data.mixup_alpha, data.cutmix_alpha) == (0.2, 1.0)
    assert (optim.lr, optim.lr_reference_batch, optim.weight_decay) == (0.5, 1024, 2e-5)
    assert optim.norm_weight_decay == 0.0
    assert (cfg.schedule.name, cfg.schedule.warmup_epochs, train.epochs) == ("cosine", 5, 600)
    assert (train.label_smoothing, train.batch_size) == (0.1, 128)
    assert train.ema_decay is not None


def test_a_few_steps_of_the_v2_preset_train_at_176_and_evaluate_at_224(tmp_path, cli):
    _photos(tmp_path)
    sets = [
        "train.batch_size=4",
        "data.num_workers=0",
        "model.name=resnet18",
        "train.epochs=1",
        "schedule.warmup_epochs=0",
    ]
    args = ["train", "--config", "imagenet_resnet50_v2", "--data", "photos", "--max-steps", "2",
            "--output", "run"]  # fmt: skip
    for s in sets:
        args += ["--set", s]
    proc = cli(*args, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "auto_augment: ta_wide" in config and "mixup_alpha: 0.2" in config
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert evaluation["num_samples"] == 12 and evaluation["split"] == "val"
    from resvision.recipe.runs import load_run

    _, info, _ = load_run(str(tmp_path / "run"))
    pre = info["preprocess"]
    assert (pre["size"], pre["resize"]) == (224, 232)  # evaluation (and predict) at 224


def test_regularisation_flags_train_from_the_command_line(tmp_path, cli):
    proc = cli(
        "train", "--max-steps", "3", "--output", "run", "--mixup-alpha", "0.2",
        "--cutmix-alpha", "1.0", "--auto-augment", "ta_wide", "--random-erase", "0.25",
        "--ra-sampler", "--drop-path", "0.1", "--norm-weight-decay", "0",
        "--clip-grad-norm", "5", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = (tmp_path / "run" / "config.yaml").read_text()
    for line in ("aug_repeats: 3", "drop_path_rate: 0.1", "clip_grad_norm: 5.0",
                 "norm_weight_decay: 0.0", "auto_augment: ta_wide", "cutmix_alpha: 1.0"):  # fmt: skip
        assert line in config, line


def test_the_cifar10_v2_preset_is_the_fast_recipe_with_torchvisions_parts(tmp_path, cli):
    fast, v2 = resolve(find_config("fast_cifar10")), resolve(find_config("cifar10_v2"))
    assert (v2.model, v2.schedule) == (fast.model, fast.schedule)
    assert (v2.optim.name, v2.optim.lr, v2.optim.ns_steps) == ("muon", fast.optim.lr, 3)
    # the parts are wired in but off: they lost on the validation split at the preset's 6 epochs
    # (benchmarks/README.md; tests/perf/test_fast_recipe_protocol.py ties the values to the
    # committed tuning)
    assert (v2.data.auto_augment, v2.data.random_erase) == ("none", 0.0)
    assert (v2.data.mixup_alpha, v2.data.cutmix_alpha, v2.optim.norm_weight_decay) == (0, 0, None)
    assert v2.train.epochs == 6
    assert v2.train.amp == fast.train.amp == "auto"  # bf16 where native, float32 elsewhere
    # a few steps through the CLI, on 32x32 photos (the fast data path batches the policies)
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / "photos" / split / cls
            folder.mkdir(parents=True)
            for i in range(8):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    proc = cli("train", "--config", "cifar10_v2", "--data", "photos", "--max-steps", "2",
               "--batch-size", "4", "--output", "run", "--set", "train.accumulate_grad_batches=1",
               # the parts switched on as the header says, through the fast data path
               "--set", "data.auto_augment=ta_wide", "--set", "data.random_erase=0.1",
               "--set", "data.mixup_alpha=0.2", "--set", "data.cutmix_alpha=1.0",
               "--set", "optim.norm_weight_decay=0.0",
               cwd=tmp_path, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "name: airnet" in config and "cutmix_alpha: 1.0" in config
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert evaluation["num_samples"] == 16 and evaluation["split"] == "val"
