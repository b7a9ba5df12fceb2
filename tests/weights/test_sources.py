"""Where weights come from: registered entries, URLs (a real local HTTP server), files, mirrors;
hash checks; safe reading; fine-tuning to another number of classes."""

from __future__ import annotations

import functools
import hashlib
import http.server
import pickle
import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from resvision.models import create_model, resnet20
from resvision.models.weights import (
    IMAGENET_CATEGORIES,
    PretrainedHeadSkippedWarning,
    PretrainedWeightsError,
    UnsafeWeightsError,
    WeightsDownloadError,
    WeightsEntry,
    WeightsHashMismatchError,
    get_weights,
    list_weights,
    read_weights_file,
    save_weights,
)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("RESVISION_CACHE", str(cache))
    monkeypatch.delenv("RESVISION_WEIGHTS_MIRROR", raising=False)
    monkeypatch.delenv("RESVISION_OFFLINE", raising=False)
    return cache


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a fresh folder: ``(base URL, folder)``."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port_url(name: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"  # nothing listens there any more


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def served_weights(root: Path, name: str = "resnet20-demo.pth") -> tuple[torch.nn.Module, str]:
    source = resnet20()
    path = root / name
    torch.save(source.state_dict(), path)
    return source, hashlib.sha256(path.read_bytes()).hexdigest()


def test_registered_entries_are_data_with_torchvision_hash_prefixes() -> None:
    entry = get_weights("resnet50")  # pretrained=True takes this one
    assert entry.name == "IMAGENET1K_V2" and entry.default
    assert entry.url == "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
    assert entry.sha256 == "11ad3fa6" and entry.preprocessing.resize == 232
    assert entry.metrics["ImageNet-1K"]["acc@1"] == 80.858
    assert entry.categories == IMAGENET_CATEGORIES and len(entry.categories) == 1000
    assert get_weights("mobilenet_v1").source_format == "paddle"  # Paddle's is its only one
    assert "vgg16.IMAGENET1K_V1" in list_weights()
    with pytest.raises(KeyError, match=r"no pretrained weights 'IMAGENET1K_V9'.*'IMAGENET1K_V1'"):
        get_weights("resnet50", "IMAGENET1K_V9")
    with pytest.raises(PretrainedWeightsError, match=r"no pretrained weights .*'resnet20'"):
        resnet20(pretrained=True)  # nothing published for the CIFAR ResNets
    with pytest.raises(ValueError, match="sha256 must be 8 to 64"):
        WeightsEntry(model="m", name="x", url="https://e.org/m.pt", sha256="abc", num_classes=1)


def test_entry_downloads_once_checks_the_hash_and_records_metadata(server) -> None:
    base, root = server
    source, digest = served_weights(root)
    entry = WeightsEntry(
        model="resnet20",
        name="DEMO",
        url=f"{base}/resnet20-demo.pth",
        sha256=digest,
        num_classes=10,
        categories=tuple(f"class{i}" for i in range(10)),
        metrics={"demo": {"acc@1": 12.5}},
        source_format="resvision",
    )
    net = resnet20(pretrained=entry)
    assert same_weights(net, source)
    cfg = net.pretrained_cfg
    assert cfg["source"] == "resnet20.DEMO" and cfg["categories"][3] == "class3"
    assert cfg["preprocessing"]["crop"] == 224 and cfg["metrics"] == {"demo": {"acc@1": 12.5}}
    cached = Path(cfg["file"])
    assert cached.parent.name == "weights" and cached.is_file()
    (root / "resnet20-demo.pth").unlink()  # the second time the cache is enough
    assert same_weights(resnet20(pretrained=entry), source)


def test_a_wrong_hash_is_refused_and_the_download_deleted(server, _own_cache: Path) -> None:
    base, root = server
    served_weights(root)
    entry = WeightsEntry(
        model="resnet20",
        name="BAD",
        url=f"{base}/resnet20-demo.pth",
        sha256="0" * 64,
        num_classes=10,
    )
    with pytest.raises(WeightsHashMismatchError, match=r"expected SHA256 0{64}.*deleted"):
        resnet20(pretrained=entry)
    leftovers = list((_own_cache / "weights").iterdir())
    assert leftovers == []  # neither the file nor a partial download stays


def test_a_cached_file_that_no_longer_matches_is_replaced(server, _own_cache: Path) -> None:
    base, root = server
    source, digest = served_weights(root)
    cached = _own_cache / "weights" / "resnet20-demo.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"damaged")
    net = resnet20(pretrained=f"{base}/resnet20-demo.pth#sha256={digest}")
    assert same_weights(net, source) and cached.read_bytes() != b"damaged"


def test_url_hash_from_a_torchvision_style_file_name(server) -> None:
    base, root = server
    source = resnet20()
    tmp = root / "tmp.pth"
    torch.save(source.state_dict(), tmp)
    prefix = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    tmp.rename(root / f"resnet20-{prefix}.pth")
    assert same_weights(resnet20(pretrained=f"{base}/resnet20-{prefix}.pth"), source)
    (root / f"resnet20-{prefix}.pth").rename(root / "resnet20-00000000.pth")
    with pytest.raises(WeightsHashMismatchError, match="prefix 00000000"):
        resnet20(pretrained=f"{base}/resnet20-00000000.pth")


def test_offline_download_says_where_to_put_the_file(_own_cache: Path) -> None:
    url = closed_port_url("resnet20-feedbeef.pth")
    with pytest.raises(WeightsDownloadError) as info:
        resnet20(pretrained=url)
    message = str(info.value)
    assert url in message and "SHA256 prefix feedbeef" in message
    assert str(_own_cache / "weights" / "resnet20-feedbeef.pth") in message
    assert "RESVISION_WEIGHTS_MIRROR" in message


def test_offline_mode_with_a_registered_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESVISION_OFFLINE", "1")
    with pytest.raises(WeightsDownloadError) as info:
        create_model("resnet18", pretrained=True)
    message = str(info.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "SHA256 prefix f37072fd" in message and "RESVISION_OFFLINE is set" in message


def test_mirror_folder_is_used_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    source, digest = served_weights(mirror, "resnet20-mirrored.pth")
    monkeypatch.setenv("RESVISION_WEIGHTS_MIRROR", str(mirror))
    monkeypatch.setenv("RESVISION_OFFLINE", "1")
    url = f"https://weights.invalid/resnet20-mirrored.pth#sha256={digest}"
    net = resnet20(pretrained=url)
    assert same_weights(net, source) and Path(net.pretrained_cfg["file"]).parent == mirror


class _Payload:
    """Unpickling this calls Path.touch: a stand-in for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("container", ["pdparams", "torch-zip", "torch-legacy"])
def test_a_pickle_with_a_code_payload_is_refused(container: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    payload = {"fc.weight": _Payload(marker)}
    path = tmp_path / "evil.pt"
    if container == "pdparams":
        path.write_bytes(pickle.dumps(payload, protocol=4))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=container == "torch-zip")
    with pytest.raises(
        UnsafeWeightsError, match=r"(?s)asks .*(getattr|Path.touch).*nothing was executed"
    ):
        read_weights_file(path)
    with pytest.raises(PretrainedWeightsError, match="nothing was executed"):
        resnet20(pretrained=path)
    assert not marker.exists()


def test_safetensors_round_trip_keeps_categories_and_preprocessing(tmp_path: Path) -> None:
    pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    source = resnet20()
    source.pretrained_cfg = {"categories": [f"c{i}" for i in range(10)], "preprocessing": None}
    path = save_weights(source, tmp_path / "r20.safetensors")
    found = read_weights_file(path)
    assert found.file_format == "safetensors" and found.meta["categories"][9] == "c9"
    net = resnet20(pretrained=path)
    assert same_weights(net, source) and net.pretrained_cfg["categories"][0] == "c0"


def test_fine_tuning_loads_the_backbone_and_reports_the_skipped_head(tmp_path: Path) -> None:
    source = resnet20(num_classes=10)
    path = tmp_path / "ten.pt"
    torch.save({"model": source.state_dict(), "format": "resvision.checkpoint"}, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = resnet20(num_classes=2, pretrained=path)
    assert net.pretrained_cfg["skipped_keys"] == ["fc.bias", "fc.weight"]
    assert net.pretrained_cfg["missing_keys"] == ["fc.bias", "fc.weight"]
    assert net.pretrained_cfg["head_reinitialized"] and net.pretrained_cfg["categories"] is None
    warned = [w for w in caught if issubclass(w.category, PretrainedHeadSkippedWarning)]
    assert len(warned) == 1 and "fc.bias, fc.weight" in str(warned[0].message)
    body = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    assert all(torch.equal(net.state_dict()[k], v) for k, v in body.items())
    assert net.fc.weight.shape == (2, 64)
    # the head is freshly initialised: uniform in +-1/sqrt(64), zero bias
    assert net.fc.weight.abs().max() <= 1 / 8 and torch.count_nonzero(net.fc.bias) == 0


def test_other_types_and_missing_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"pretrained must be .* got 1 of type int"):
        resnet20(pretrained=1)
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        resnet20(pretrained=str(tmp_path / "nope.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello world, not weights")
    with pytest.raises(PretrainedWeightsError, match="not a weights file of a known format"):
        resnet20(pretrained=junk)
