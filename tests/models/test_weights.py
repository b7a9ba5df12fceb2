"""The ``pretrained`` argument with local files; names, URLs and formats are in tests/weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resvision.models import PretrainedWeightsError, create_model, load_pretrained, resnet20


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def source() -> torch.nn.Module:
    torch.manual_seed(1)
    return resnet20()


@pytest.mark.parametrize("wrap", ["plain", "model", "state_dict", "ddp"])
def test_loads_a_state_dict_file(source: torch.nn.Module, tmp_path: Path, wrap: str) -> None:
    state = source.state_dict()
    payload = {
        "plain": state,
        "model": {"model": state, "epoch": 3},
        "state_dict": {"state_dict": state, "optimizer": {}},
        "ddp": {f"module.{k}": v for k, v in state.items()},
    }[wrap]
    path = tmp_path / "weights.pt"
    torch.save(payload, path)
    torch.manual_seed(2)
    assert not _same_weights(resnet20(), source)
    assert _same_weights(resnet20(pretrained=str(path)), source)
    assert _same_weights(create_model("resnet20", pretrained=path), source)  # a pathlib.Path


def test_false_and_none_keep_the_random_initialisation() -> None:
    torch.manual_seed(3)
    a = resnet20(pretrained=False)
    torch.manual_seed(3)
    b = resnet20(pretrained=None)
    assert _same_weights(a, b)


@pytest.mark.parametrize("value", [1, 0.5, ["a.pt"], b"a.pt"])
def test_other_types_are_a_type_error(value: object) -> None:
    with pytest.raises(
        TypeError, match=r"pretrained must be False/None, True, a weights name.*got"
    ):
        resnet20(pretrained=value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        resnet20(pretrained=str(tmp_path / "nope.pt"))
    with pytest.raises(FileNotFoundError, match=r"w\.pth"):
        resnet20(pretrained="w.pth")


def test_mismatching_weights_list_every_problem(source: torch.nn.Module, tmp_path: Path) -> None:
    state = source.state_dict()
    del state["conv._conv.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError) as info:
        resnet20(pretrained=path, num_classes=100)
    message = str(info.value)
    assert "1 missing keys: conv._conv.weight" in message
    assert "1 unexpected keys: extra.weight" in message
    # A classifier of another width is not a problem but fine-tuning (tests/weights).
    assert "fc.weight" not in message


def test_files_that_are_not_state_dicts(tmp_path: Path) -> None:
    listing = tmp_path / "list.pt"
    torch.save([1, 2, 3], listing)
    with pytest.raises(PretrainedWeightsError, match=r"holds no state dict.*got list"):
        resnet20(pretrained=listing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(PretrainedWeightsError, match="not a weights file of a known format"):
        resnet20(pretrained=garbage)


class _Payload:
    """Something weights_only unpickling refuses to build."""


def test_arbitrary_pickles_are_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": _Payload()}, path)
    with pytest.raises(
        PretrainedWeightsError, match=r"only arbitrary code could rebuild.*nothing was executed"
    ):
        resnet20(pretrained=path)


def test_load_pretrained_returns_the_model(source: torch.nn.Module) -> None:
    assert load_pretrained(source, False, model_name="resnet20") is source
