"""Bad user input: property-based tests over command-line arguments and config files.

The property: whatever is typed, ``resvision`` either accepts it (and then every setting lies in
the range the documentation gives, checked against the table below, written from the docs and
not from the code) or exits with code 2 and a one-paragraph ``resvision: error: ...`` message;
never a traceback, never another exit code. ``main(argv)`` runs in-process (``train`` always
with ``--print-config``, so nothing trains) with a bounded number of examples.
"""

from __future__ import annotations

import contextlib
import io
import math
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resvision.cli.main import main

EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Every numeric key, from the config's documentation:
# (type, lowest, highest, lowest excluded, highest excluded).
# None as a value is accepted where the key is optional.
NUMERIC = {
    "model.unfreeze_epoch": (int, 0, None, False, False),
    "model.num_classes": (int, 1, None, False, False),
    "data.image_size": (int, 1, None, False, False),
    "data.eval_resize": (int, 1, None, False, False),
    "data.num_workers": (int, 0, None, False, False),
    "data.crop_padding": (int, 0, None, False, False),
    "optim.lr": (float, 0, None, False, False),
    "optim.momentum": (float, 0, 1, False, False),
    "optim.weight_decay": (float, 0, None, False, False),
    "optim.lr_reference_batch": (int, 1, None, False, False),
    "optim.aux_lr": (float, 0, None, False, False),
    "optim.aux_momentum": (float, 0, 1, False, False),
    "optim.ns_steps": (int, 1, None, False, False),
    "optim.early_epochs": (float, 0, None, True, False),
    "schedule.warmup_epochs": (float, 0, None, False, False),
    "schedule.step_size": (float, 0, None, True, False),
    "schedule.gamma": (float, 0, None, True, False),
    "schedule.min_lr": (float, 0, None, False, False),
    "schedule.pct_start": (float, 0, 1, True, True),
    "train.epochs": (int, 1, None, False, False),
    "train.batch_size": (int, 1, None, False, False),
    "train.label_smoothing": (float, 0, 1, False, True),
    "train.ema_decay": (float, 0, 1, False, True),
    "train.accumulate_grad_batches": (int, 1, None, False, False),
    "train.seed": (int, 0, 2**63 - 1, False, False),
    "train.max_steps": (int, 1, None, False, False),
    "train.eval_freq": (int, 1, None, False, False),
    "train.save_freq": (int, 1, None, False, False),
    "train.save_steps": (int, 1, None, False, False),
    "train.log_freq": (int, 1, None, False, False),
    "output.misclassified": (int, 0, None, False, False),
}
CHOICES = {
    "data.augment": ("none", "flip", "flip-crop", "imagenet"),
    "data.padding_mode": ("constant", "reflect", "edge", "symmetric"),
    "data.flip": ("random", "alternate"),
    "optim.name": ("momentum", "sgd", "adam", "adamw", "muon"),
    "schedule.name": ("constant", "step", "multistep", "linear", "cosine", "onecycle"),
    "train.amp": ("off", "auto", "bf16", "fp16", "O1", "O2"),
}
BOOLEAN = ("data.download", "data.normalize", "optim.nesterov", "train.deterministic")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit code, stdout, stderr); any other exception fails."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # --help / --version
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_usage_error(code: int, out: str, err: str) -> None:
    """Exit 2, ``resvision: error: ...`` as one paragraph (no blank line, a few lines)."""
    assert code == 2, (code, out[-500:], err[-2000:])
    text = err.strip()
    assert text.startswith("resvision: error: "), err
    assert "Traceback" not in err + out
    assert "\n\n" not in text and len(text.splitlines()) <= 6, err


def value_is_valid(key: str, value: object) -> bool:
    """Whether the documentation accepts ``value`` (as resolved) for ``key``."""
    if key in NUMERIC:
        kind, low, high, low_open, high_open = NUMERIC[key]
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None:
                continue
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                return False
            if kind is int and not float(item).is_integer():
                return False
            if not math.isfinite(item) or (item <= low if low_open else item < low):
                return False
            if high is not None and (item >= high if high_open else item > high):
                return False
        return True
    if key in CHOICES:
        return value in CHOICES[key]
    if key in BOOLEAN:
        return isinstance(value, bool)
    return True


def resolved(stdout: str, key: str) -> object:
    section, name = key.split(".")
    return yaml.safe_load(stdout)[section][name]


# Values as a user might type them after `--set key=` (YAML) or in a config file.
scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2, 255, 2**31, 2**63, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, -0.0, 1e-300, 1e300, 0.999999]),
    st.booleans(),
    st.none(),
    st.text(alphabet=string.printable, max_size=12),
    st.sampled_from(["", "nan", "inf", "-inf", "1e3", "0x10", "true", "none", "[1,2]", "{a: 1}"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=4), scalars, max_size=2),
)
keys = st.sampled_from(sorted([*NUMERIC, *CHOICES, *BOOLEAN, "schedule.milestones"]))


@EXAMPLES
@given(key=keys, value=values)
def test_every_set_override_is_accepted_in_range_or_refused_with_exit_2(key, value):
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    code, out, err = run_cli(["train", "--print-config", "--set", f"{key}={text}"])
    if code == 0:
        got = resolved(out, key)
        assert value_is_valid(key, got), f"{key}={text!r} accepted as {got!r}"
    else:
        assert_usage_error(code, out, err)
        assert key in err or "--set" in err, err


FLAG_OF = {
    "train.epochs": "--epochs",
    "train.batch_size": "--batch-size",
    "optim.lr": "--lr",
    "optim.momentum": "--momentum",
    "optim.weight_decay": "--weight-decay",
    "schedule.warmup_epochs": "--warmup-epochs",
    "train.label_smoothing": "--label-smoothing",
    "train.ema_decay": "--ema",
    "train.seed": "--seed",
    "train.max_steps": "--max-steps",
    "train.save_steps": "--save-steps",
    "data.image_size": "--image-size",
    "data.num_workers": "--num-workers",
    "model.unfreeze_epoch": "--unfreeze-epoch",
}
flag_values = st.one_of(
    st.integers(min_value=-(2**66), max_value=2**66).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=string.ascii_letters + string.digits + "-.+e", min_size=1, max_size=8),
    st.sampled_from(["0", "-1", "1", "nan", "inf", "1e-9", "0.5", "--", "-"]),
)


@EXAMPLES
@given(
    pairs=st.lists(st.tuples(st.sampled_from(sorted(FLAG_OF)), flag_values), min_size=1, max_size=3)
)
def test_every_train_flag_value_is_accepted_in_range_or_refused_with_exit_2(pairs):
    argv = ["train", "--print-config"]
    for key, value in pairs:
        argv += [FLAG_OF[key], value] if not value.startswith("-") else [f"{FLAG_OF[key]}={value}"]
    code, out, err = run_cli(argv)
    if code == 0:
        for key, _ in pairs:
            assert value_is_valid(key, resolved(out, key)), (argv, resolved(out, key))
    else:
        assert_usage_error(code, out, err)


# Any words at all, after any command: options, values, paths that do not exist.
tokens = st.one_of(
    st.sampled_from(
        [
            "--model", "--data", "--config", "--set", "--checkpoint", "--topk", "--format",
            "--input-size", "--num-classes", "--family", "--split", "--batch-size", "--device",
            "--resume", "--pretrained", "--amp", "--layout", "--opset", "--json", "--lrr",
            "-x", "--", "resnet5", "resnet20", "no/such/file.pt", "missing.yaml", "3,0,32",
            "3,32", "0", "-1", "abc", "cuda:9", "tpu", "train.epochs", "a=b=c", "=",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "-_=./,:", min_size=1, max_size=10),
)  # fmt: skip
COMMANDS = ["train", "eval", "predict", "export", "summary", "models", "report", "trian", "--zzz"]


@EXAMPLES
@given(command=st.sampled_from(COMMANDS), rest=st.lists(tokens, max_size=5))
def test_any_arguments_exit_0_or_2_without_a_traceback(tmp_path, monkeypatch, command, rest):
    monkeypatch.chdir(tmp_path)  # relative paths of the examples point to nothing there
    argv = [command, *rest]
    if command == "train":
        argv.append("--print-config")
    if command == "summary":
        argv += ["--input-size", "3,8,8"]  # a valid model must not make the example slow
    if command == "models":
        argv.append("--json")
    code, out, err = run_cli(argv)
    if code != 0:
        assert_usage_error(code, out, err)


# Config files: YAML of any shape, with right and wrong section and key names.
config_keys = st.one_of(
    keys, st.text(alphabet=string.ascii_lowercase + "._", min_size=1, max_size=10)
)


@st.composite
def config_documents(draw) -> object:
    kind = draw(st.sampled_from(["mapping", "mapping", "mapping", "scalar", "list"]))
    if kind == "scalar":
        return draw(scalars)
    if kind == "list":
        return draw(st.lists(scalars, max_size=3))
    doc: dict[str, object] = {}
    for key in draw(st.lists(config_keys, max_size=4)):
        section, _, name = key.partition(".")
        if name:
            node = doc.setdefault(section, {})
            if isinstance(node, dict):
                node[name] = draw(values)
        else:
            doc[section] = draw(values)
    return doc


@EXAMPLES
@given(doc=config_documents())
def test_every_config_file_is_accepted_in_range_or_refused_with_exit_2(tmp_path, doc):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, out, err = run_cli(["train", "--config", str(path), "--print-config"])
    if code == 0:
        for section, node in doc.items() if isinstance(doc, dict) else ():
            for name in node if isinstance(node, dict) else ():
                key = f"{section}.{name}"
                if key in NUMERIC or key in CHOICES or key in BOOLEAN:
                    assert value_is_valid(key, resolved(out, key)), (key, node[name])
    else:
        assert_usage_error(code, out, err)
        named = [str(path), "config", *(map(str, doc) if isinstance(doc, dict) else ())]
        assert any(n in err for n in named), err  # the file, or the section / key at fault


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00binary", b"model: [unclosed", b"\tmodel:\n\t\tname: x", b"- 1\n- 2", b"42"],
)
def test_unreadable_config_files_exit_2_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    code, out, err = run_cli(["train", "--config", str(path), "--print-config"])
    assert_usage_error(code, out, err)
    assert "bad.yaml" in err


def test_save_steps_reaches_the_config(tmp_path):
    code, out, _ = run_cli(["train", "--print-config", "--save-steps", "3"])
    assert code == 0 and resolved(out, "train.save_steps") == 3


def test_invalid_run_settings_are_refused_before_training(tmp_path: Path):
    """Values that used to crash deep inside training (division by zero, engine ValueErrors)."""
    for argv, phrase in [
        (["--batch-size", "0"], "train.batch_size must be in [1, 1048576], got 0"),
        (["--set", "train.accumulate_grad_batches=0"], "train.accumulate_grad_batches"),
        (["--set", "train.log_freq=0"], "train.log_freq"),
        (["--ema", "2"], "train.ema_decay must be in [0, 1)"),
        (["--label-smoothing", "5"], "train.label_smoothing"),
        (["--momentum", "nan"], "optim.momentum must be a number, got nan"),
        (["--epochs=-1"], "train.epochs must be in [1, 100000]"),
    ]:
        code, out, err = run_cli(["train", "--output", str(tmp_path / "run"), *argv])
        assert_usage_error(code, out, err)
        assert phrase in err, err
        assert not (tmp_path / "run").exists()  # refused before the run folder is made
