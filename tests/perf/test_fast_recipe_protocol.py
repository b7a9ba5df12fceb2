"""The fast recipe's protocol (benchmarks/fast_recipe_protocol.py, issue #15 part 2): the
validation split, the tuning that never sees the test set, the choice, the test runs, and what
their JSON files record. The trainings are replaced by a stand-in: these tests take seconds."""

from __future__ import annotations

import itertools
import json
import random
import statistics
from pathlib import Path

import pytest

from benchmarks import fast_recipe_protocol as protocol
from benchmarks.fast_recipe_protocol import GRID, TUNED_KEYS

CLASSES = ("airplane", "bird", "cat")
TRAIN_PER_CLASS, TEST_PER_CLASS, VAL_PER_CLASS = 12, 4, 3


def _files(per_class: int) -> dict[str, list[str]]:
    return {c: [f"{i:04d}.jpg" for i in range(per_class)] for c in CLASSES}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A CIFAR-10 (JPEG)-shaped tree: train/<class>/NNNN.jpg and test/<class>/NNNN.jpg."""
    root = tmp_path / "data"
    for split, n in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for cls, names in _files(n).items():
            (root / split / cls).mkdir(parents=True)
            for name in names:
                (root / split / cls / name).write_bytes(b"jpeg")
    return root.resolve()


def test_split_is_deterministic_disjoint_and_fixed_per_class() -> None:
    files = _files(50)
    train, val = protocol.split_class_files(files, 5, seed=0)
    assert (train, val) == protocol.split_class_files(files, 5, seed=0)
    # a function of the names only, not of the order they were listed in
    shuffled = {c: random.Random(1).sample(names, len(names)) for c, names in files.items()}
    assert protocol.split_class_files(shuffled, 5, seed=0) == (train, val)
    for cls in CLASSES:
        assert len(val[cls]) == 5 and len(train[cls]) == 45
        assert not set(val[cls]) & set(train[cls])
        assert sorted(val[cls] + train[cls]) == files[cls]
    assert protocol.split_class_files(files, 5, seed=1)[1] != val
    with pytest.raises(protocol.ProtocolError, match="would leave none"):
        protocol.split_class_files(_files(5), 5, seed=0)


def test_tuning_tree_holds_train_and_val_only(data: Path, tmp_path: Path) -> None:
    trees = protocol.prepare_trees(data, tmp_path / "trees", val_per_class=VAL_PER_CLASS)
    tune = trees.tune_root
    assert sorted(p.name for p in tune.iterdir()) == ["train", "val"]
    links = [p for p in tune.rglob("*") if p.is_symlink()]
    assert len(links) == len(CLASSES) * TRAIN_PER_CLASS
    assert all(p.resolve().is_relative_to(data / "train") for p in links)
    # the listing DatasetFolder uses follows the links: 3 per class held out, the rest to train
    val = protocol.class_files(tune / "val")
    train = protocol.class_files(tune / "train")
    assert {c: len(v) for c, v in val.items()} == dict.fromkeys(CLASSES, VAL_PER_CLASS)
    assert all(not set(val[c]) & set(train[c]) for c in CLASSES)
    assert trees.split["val_images"] == len(CLASSES) * VAL_PER_CLASS
    assert trees.split["val_sha256"] == protocol.files_digest(val)
    assert trees.test_root == data  # the test phase trains on the archive as it is
    assert (trees.full_train_images, trees.test_images) == (36, 12)


def _result(root: Path, split: str, acc: float, seconds: float) -> dict:
    return {
        "eval_split": split,
        "test_acc_tta": acc,
        "setup_seconds": 1.0,
        "train_seconds": seconds - 10.0,
        "total_seconds": seconds,
        "train_images": sum(1 for _ in (root / "train").rglob("*.jpg")),
        "eval_images": sum(1 for _ in (root / split).rglob("*.jpg")),
        "images_per_s": 1.0,
        "settings": "stand-in",
        "device": "cpu",
        "curve": [],
    }


# The stand-in's validation accuracy per candidate: EMA best but over the budget, so the rule
# must pass it over for the best candidate within the budget (e10-ns5-wb3).
VAL_ACC = {"e8-ns3": 0.88, "e10-ns3": 0.89, "e10-ns5": 0.895, "e10-ns5-wb3": 0.90,
           "e10-ns5-wb3-ema": 0.95}  # fmt: skip


def _tune(data: Path, out: Path, calls: list) -> int:
    def fake_train(root, epochs, *, seed, overrides, curve):
        assert not (root / "test").exists()
        every = [p.resolve() for p in root.rglob("*") if p.is_file()]
        assert every and not any(p.is_relative_to(data / "test") for p in every)
        name = next(c.name for c in GRID if tuple(overrides) == c.sets)
        calls.append((name, seed))
        seconds = 900.0 if name.endswith("ema") else 400.0 + seed
        return _result(root, "val", VAL_ACC[name] + seed / 1000, seconds)

    argv = ["tune", "--data-root", str(data), "--out", str(out), "--val-per-class", "3"]
    return protocol.main(argv, train_fn=fake_train)


def test_tune_records_each_run_and_chooses_by_the_rule(data: Path, tmp_path: Path) -> None:
    out, calls = tmp_path / "out", []
    assert _tune(data, out, calls) == 0
    assert calls == [(c.name, s) for c in GRID for s in (0, 1)]  # 10 runs
    for cand in GRID:
        for seed in (0, 1):
            row = json.loads((out / f"tune-{cand.name}-seed{seed}.json").read_text())
            assert (row["candidate"], row["seed"], row["eval_split"]) == (cand.name, seed, "val")
            assert set(TUNED_KEYS) <= set(row["settings"])
            assert row["val_acc_tta"] == pytest.approx(VAL_ACC[cand.name] + seed / 1000)
            assert (row["train_images"], row["eval_images"]) == (27, 9)
            # projected to the full data: training x 36/27 images, evaluation x 12/9
            expected = row["train_seconds"] * 36 / 27 + 10.0 * 12 / 9
            assert row["projected_full_seconds"] == pytest.approx(expected)
            assert row["split"]["val_sha256"] and row["split"]["seed"] == 0
            assert row["machine"]["cores"] and row["total_seconds"] and row["command"]
            assert "test_acc_tta" not in row and not row["smoke"]
    summary = json.loads((out / "tune-summary.json").read_text())
    assert summary["chosen"]["name"] == "e10-ns5-wb3" and summary["chosen"]["within_budget"]
    ema = next(c for c in summary["candidates"] if c["name"] == "e10-ns5-wb3-ema")
    assert not ema["within_budget"]
    assert [s["change"] for s in summary["steps"]] == [c.change for c in GRID[1:]]
    # an interrupted tuning continues: the runs on file are kept
    calls.clear()
    assert _tune(data, out, calls) == 0 and calls == []


def test_test_phase_runs_the_choice_once(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _tune(data, out, []) == 0
    seen = []

    def fake_train(root, epochs, *, seed, overrides, curve):
        assert (root / "test").is_dir() and not (root / "val").exists()
        seen.append((tuple(overrides), seed))
        return _result(root, "test", 0.91 + seed / 100, 500.0 + seed)

    argv = ["test", "--data-root", str(data), "--out", str(out)]
    assert protocol.main(argv, train_fn=fake_train) == 0
    chosen = next(c for c in GRID if c.name == "e10-ns5-wb3")
    assert seen == [(chosen.sets, s) for s in range(5)]
    accs = [0.91 + s / 100 for s in range(5)]
    summary = json.loads((out / "test-summary.json").read_text())
    assert summary["mean"] == pytest.approx(statistics.mean(accs))
    assert summary["min"] == pytest.approx(0.91)
    assert summary["std"] == pytest.approx(statistics.stdev(accs))
    assert summary["seconds_max"] == 504.0 and summary["chosen"]["name"] == chosen.name
    assert summary["target"]["runs_reaching_target"] == 5 and not summary["target"]["gated"]
    row = json.loads((out / "test-seed3.json").read_text())
    assert (row["eval_split"], row["eval_images"]) == ("test", 12)
    assert row["test_acc_tta"] == pytest.approx(0.94) and row["plan"]["val_sha256"] is None
    # the test set is reported once: other settings are refused, nothing runs
    seen.clear()
    assert protocol.main([*argv, "--epochs", "2"], train_fn=fake_train) == 2
    assert seen == []


def test_a_tuning_run_evaluated_on_another_split_is_refused(data: Path, tmp_path: Path) -> None:
    def fake_train(root, epochs, *, seed, overrides, curve):
        return _result(root, "train", 0.9, 400.0)

    argv = ["tune", "--data-root", str(data), "--out", str(tmp_path), "--val-per-class", "3"]
    assert protocol.main(argv, train_fn=fake_train) == 2
    assert not list(tmp_path.glob("*.json"))


def test_rule_without_a_candidate_in_budget_takes_the_fastest() -> None:
    rows = [
        {"candidate": name, "seed": 0, "val_acc_tta": acc, "projected_full_seconds": secs,
         "total_seconds": secs, "settings": {}}
        for name, acc, secs in (("e8-ns3", 0.80, 700.0), ("e10-ns3", 0.90, 800.0))
    ]  # fmt: skip
    summary = protocol.select(rows)
    assert summary["chosen"]["name"] == "e8-ns3" and not summary["chosen"]["within_budget"]
    tied = [{**rows[0], "projected_full_seconds": 500.0, "val_acc_tta": 0.9},
            {**rows[1], "projected_full_seconds": 400.0}]  # fmt: skip
    assert protocol.select(tied)["chosen"]["name"] == "e10-ns3"  # equal means: shorter time


def test_grid_sets_every_tuned_key_and_changes_one_per_step() -> None:
    settings = [protocol.resolved_settings(c.sets, None) for c in GRID]
    for cand in GRID:  # none inherits a tuned value from the preset
        assert {s.split("=")[0] for s in cand.sets} == set(TUNED_KEYS)
    for before, after in itertools.pairwise(settings):
        changed = [k for k in TUNED_KEYS if before[k] != after[k]]
        assert len(changed) == 1, changed
    assert settings[3]["optim.early_params"] == ["whiten.bias"]
    assert settings[4]["train.ema_decay"] == 0.98 and settings[0]["train.epochs"] == 8


def test_dry_run_prints_the_plan_and_runs_nothing(capsys: pytest.CaptureFixture) -> None:
    def never(*args, **kwargs):
        raise AssertionError("--dry-run trained")

    assert protocol.main(["tune", "--dry-run"], train_fn=never) == 0
    plan = capsys.readouterr().out
    assert plan.count("resvision train --config fast_cifar10") == 10
    assert "45000 to train on, 5000 to validate" in plan and "expected machine time" in plan


# --- the CIFAR-10 v2 preset under the same protocol (issue #19) ---------------------------------

V2 = protocol.RECIPES["cifar10_v2"]


def test_v2_grid_sets_every_tuned_key_of_the_v2_preset() -> None:
    from resvision.recipe.config import resolve
    from resvision.recipe.presets import find_config

    preset = resolve(find_config("cifar10_v2"))
    assert preset.model.name == "airnet" and preset.train.amp == "auto"
    settings = [protocol.resolved_settings(c.sets, None, V2) for c in V2.grid]
    for cand in V2.grid:
        assert {s.split("=")[0] for s in cand.sets} == set(V2.tuned_keys)
    plain, parts, mixed = settings
    assert plain["data.auto_augment"] == "none" and plain["data.mixup_alpha"] == 0.0
    assert parts["data.auto_augment"] == "ta_wide" and parts["data.random_erase"] == 0.1
    assert (mixed["data.mixup_alpha"], mixed["data.cutmix_alpha"]) == (0.2, 1.0)
    assert mixed["optim.norm_weight_decay"] == 0.0 and plain["optim.norm_weight_decay"] is None
    assert {s["train.epochs"] for s in settings} == {preset.train.epochs} == {6}


def test_v2_tune_and_test_run_the_v2_preset_and_keep_their_own_summaries(
    data: Path, tmp_path: Path
) -> None:
    out, calls = tmp_path / "v2", []

    def fake_train(root, epochs, *, seed, overrides, curve):
        name = next(c.name for c in V2.grid if tuple(overrides) == c.sets)
        calls.append((name, seed))
        split = "val" if (root / "val").exists() else "test"
        acc = {"e6-plain": 0.91, "e6-ta-re": 0.92, "e6-ta-re-mix": 0.915}[name]
        return _result(root, split, acc, 800.0)

    tune = ["tune", "--preset", "cifar10_v2", "--data-root", str(data), "--out", str(out),
            "--val-per-class", "3"]  # fmt: skip
    assert protocol.main(tune, train_fn=fake_train) == 0
    assert calls == [(c.name, 0) for c in V2.grid]  # one seed per candidate
    summary = json.loads((out / "tune-summary.json").read_text())
    assert summary["preset"] == "cifar10_v2" and summary["chosen"]["name"] == "e6-ta-re"
    assert summary["budget_seconds"] == 3600.0 and "3600 s" in summary["rule"]
    row = json.loads((out / "tune-e6-plain-seed0.json").read_text())
    assert row["preset"] == "cifar10_v2" and set(V2.tuned_keys) <= set(row["settings"])
    # the fast recipe's test phase refuses the v2 tuning, and the other way round
    fast_test = ["test", "--data-root", str(data), "--out", str(out)]
    assert protocol.main(fast_test, train_fn=fake_train) == 2
    calls.clear()
    assert protocol.main(["test", "--preset", "cifar10_v2", "--data-root", str(data), "--out",
                          str(out)], train_fn=fake_train) == 0  # fmt: skip
    assert calls == [("e6-ta-re", s) for s in (0, 1, 2)]  # 3 seeds
    test = json.loads((out / "test-summary.json").read_text())
    assert test["preset"] == "cifar10_v2" and test["target"] is None
    assert test["mean"] == pytest.approx(0.92)
    fast_out = tmp_path / "fast"
    assert _tune(data, fast_out, []) == 0
    assert protocol.main(["test", "--preset", "cifar10_v2", "--data-root", str(data), "--out",
                          str(fast_out)], train_fn=fake_train) == 2  # fmt: skip


def test_v2_dry_run_plans_three_runs_of_the_v2_preset(capsys: pytest.CaptureFixture) -> None:
    def never(*args, **kwargs):
        raise AssertionError("--dry-run trained")

    assert protocol.main(["tune", "--preset", "cifar10_v2", "--dry-run"], train_fn=never) == 0
    plan = capsys.readouterr().out
    assert plan.count("resvision train --config cifar10_v2") == 3
    assert "within the budget (3600 s)" in plan and "fast_cifar10" not in plan
    assert protocol.main(["test", "--preset", "cifar10_v2", "--dry-run", "--out",
                          "/nonexistent"], train_fn=never) == 0  # fmt: skip
    assert capsys.readouterr().out.count("--config cifar10_v2") == 3


def test_the_default_runner_trains_the_chosen_preset(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a stand-in, each run goes to ``train_in_fresh_process`` with the preset named by
    ``--preset`` (else a v2 tuning would silently train the fast recipe)."""
    presets = []

    def spawn(root, epochs, *, seed, overrides, curve, preset="fast_cifar10"):
        presets.append(preset)
        return _result(root, "val", 0.9, 800.0)

    monkeypatch.setattr(protocol, "train_in_fresh_process", spawn)
    for name, runs in (("cifar10_v2", 3), ("fast_cifar10", 10)):
        presets.clear()
        argv = ["tune", "--preset", name, "--data-root", str(data), "--out",
                str(tmp_path / name), "--val-per-class", "3"]  # fmt: skip
        assert protocol.main(argv) == 0
        assert presets == [name] * runs


@pytest.mark.parametrize("name", sorted(protocol.RECIPES))
def test_each_preset_holds_the_values_its_committed_tuning_chose(name: str) -> None:
    """The shipped config is what the protocol measured: its tuned keys equal the chosen
    candidate's in the committed ``tune-summary.json`` (fails when one changes without the
    other, e.g. a preset edited by hand after its tuning, or a new grid not yet run)."""
    recipe = protocol.RECIPES[name]
    summary = json.loads((Path(recipe.out_dir) / "tune-summary.json").read_text())
    # (fast_cifar10's summary predates the "preset" field)
    assert summary.get("preset", "fast_cifar10") == name and not summary["smoke"]
    chosen = summary["chosen"]
    assert chosen["name"] in {c.name for c in recipe.grid}, chosen["name"]
    shipped = protocol.resolved_settings((), None, recipe)
    for key in recipe.tuned_keys:
        assert shipped[key] == chosen["settings"][key], (key, shipped[key], chosen["settings"])
