"""Untrusted files: a checkpoint or weights file carrying a pickle code payload is refused and the
payload never runs (it would create a marker file); an archive with ``../`` paths, absolute
paths, links pointing outside or device files is refused before anything is written; a
downloaded file with the wrong hash is removed and refused.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from resvision.cli.main import main
from resvision.data.archives import UnsafeArchiveError, extract_archive
from resvision.data.datasets.download import DatasetNotFoundError, fetch_data_file
from resvision.engine.checkpoint import find_latest_checkpoint, load_checkpoint
from resvision.engine.model import Model
from resvision.models.weights.formats import read_weights_file
from resvision.models.weights.hub import WeightsHashMismatchError, download_weights


class Payload:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


@pytest.fixture
def evil(tmp_path):
    """Checkpoint-looking files with a payload: torch zip format, legacy torch format, a
    Paddle-style pickle; and the marker the payload would create."""
    marker = tmp_path / "PAYLOAD_RAN"
    state = {"weight": torch.ones(2), "hook": Payload(marker)}
    ckpt = {"format": "resvision.checkpoint", "model": state, "progress": {"global_step": 99}}
    files = {
        "zip": tmp_path / "evil.pt",
        "legacy": tmp_path / "evil_legacy.pth",
        "pdparams": tmp_path / "evil.pdparams",
    }
    torch.save(ckpt, files["zip"])
    torch.save(ckpt, files["legacy"], _use_new_zipfile_serialization=False)
    files["pdparams"].write_bytes(pickle.dumps(state))
    # The payload is real: plain unpickling runs it.
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()
    marker.unlink()
    return files, marker


def test_python_loaders_refuse_the_payload(evil, tmp_path):
    files, marker = evil
    for path in files.values():
        with pytest.raises(ValueError):
            load_checkpoint(path)
        with pytest.raises(ValueError):
            read_weights_file(path)
    model = Model(torch.nn.Linear(2, 1), device="cpu")
    with pytest.raises(ValueError):
        model.load(files["zip"])
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.MSELoss())
    data = torch.utils.data.TensorDataset(torch.ones(4, 2), torch.ones(4, 1))
    with pytest.raises(ValueError):
        model.fit(data, batch_size=2, verbose=0, resume=files["zip"])
    # `resume='auto'` looks at every *.pt of the folder: the payload file is skipped.
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "last.pt").write_bytes(files["zip"].read_bytes())
    assert find_latest_checkpoint(folder) is None
    assert not marker.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "--checkpoint", "{zip}", "x.png"],
        ["eval", "--checkpoint", "{zip}"],
        ["train", "--resume", "{zip}", "--max-steps", "1"],
        ["train", "--pretrained", "{legacy}", "--max-steps", "1"],
        ["train", "--pretrained", "{pdparams}", "--max-steps", "1"],
        ["export", "{zip}", "--format", "pth"],
        ["export", "{pdparams}", "--model", "resnet20", "--format", "safetensors"],
    ],
    ids=lambda argv: " ".join(argv[:3]),
)
def test_commands_refuse_the_payload_with_exit_2(evil, tmp_path, monkeypatch, argv):
    files, marker = evil
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    (tmp_path / "x.png").write_bytes(b"")
    code, err = run_cli([a.format(**{k: str(v) for k, v in files.items()}) for a in argv])
    assert not marker.exists(), "the payload ran"
    assert code == 2, err
    assert err.startswith("resvision: error: ") and "Traceback" not in err


def _tar(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            data = b"x" * info.size if info.isfile() else None
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 3 if kind == tarfile.REGTYPE else 0
    return info


OK = _member("pets/train/cat/0.txt")
UNSAFE_TARS = {
    "dot-dot path": [OK, _member("pets/../../escaped.txt")],
    "absolute path": [OK, _member("{outside}/escaped.txt")],
    "symlink to an absolute path": [OK, _member("pets/link", tarfile.SYMTYPE, "{outside}")],
    "symlink climbing out": [OK, _member("pets/a/link", tarfile.SYMTYPE, "../../../escaped.txt")],
    "hard link outside": [OK, _member("pets/hard", tarfile.LNKTYPE, "../escaped.txt")],
    "device file": [OK, _member("pets/dev", tarfile.CHRTYPE)],
}


@pytest.mark.parametrize("case", sorted(UNSAFE_TARS))
def test_unsafe_tar_archives_are_refused_before_anything_is_written(tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    members = []
    for info in UNSAFE_TARS[case]:
        info = _member(
            info.name.format(outside=outside), info.type, info.linkname.format(outside=outside)
        )
        members.append(info)
    archive = _tar(tmp_path / "evil.tar.gz", *members)
    dest = tmp_path / "work" / "dest"
    dest.parent.mkdir()
    with pytest.raises(UnsafeArchiveError, match="the archive is refused"):
        extract_archive(archive, dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []  # nothing, not even partly
    assert list(outside.iterdir()) == [] and not (tmp_path / "escaped.txt").exists()


def test_unsafe_zip_archives_are_refused(tmp_path):
    for name in ("../escaped.txt", "/abs/escaped.txt", "C:/windows/escaped.txt"):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("pets/ok.txt", "x")
            zf.writestr(name, "x")
        with pytest.raises(UnsafeArchiveError, match="outside the destination"):
            extract_archive(archive, tmp_path / "dest")
        assert not (tmp_path / "dest").exists()
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("pets/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="link or special file"):
        extract_archive(archive, tmp_path / "dest")


def _image_folder_archive(path: Path, extra: list[tarfile.TarInfo] = ()) -> Path:
    from PIL import Image

    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "val"):
            for cls in ("cat", "dog"):
                for i in range(2):
                    buf = io.BytesIO()
                    Image.new("RGB", (8, 8), (i * 100, 20, 30)).save(buf, format="PNG")
                    info = tarfile.TarInfo(f"pets/{split}/{cls}/{i}.png")
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size))
    return path


def test_a_data_set_archive_is_unpacked_safely_by_the_command_line(tmp_path, monkeypatch):
    """``--data pets.tar.gz`` unpacks into the cache once; an unsafe one is refused."""
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    good = _image_folder_archive(tmp_path / "pets.tar.gz")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["data", str(good), "--json"]) == 0
    assert '"cat"' in out.getvalue() and '"dog"' in out.getvalue()
    evil = _image_folder_archive(tmp_path / "evil.tar.gz", [_member("pets/../../../escaped.png")])
    code, err = run_cli(["train", "--data", str(evil), "--output", str(tmp_path / "run")])
    assert code == 2 and "'pets/../../../escaped.png' would be written outside" in err, err
    assert not list(tmp_path.rglob("escaped.png"))


def test_a_download_with_the_wrong_hash_is_removed_and_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    served = tmp_path / "served" / "file.bin"
    served.parent.mkdir()
    served.write_bytes(b"tampered content")
    # Data sets (MD5 of the official files).
    with pytest.raises(DatasetNotFoundError, match="MD5"):
        fetch_data_file("file.bin", "demo", [served.as_uri()], "0" * 32, download=True, what="Demo")
    data_dir = tmp_path / "cache" / "datasets" / "demo"
    assert list(data_dir.iterdir()) == []  # neither the file nor a temporary one
    # Weights (SHA-256 of the published files).
    with pytest.raises(WeightsHashMismatchError):
        download_weights(served.as_uri(), sha256="f" * 64)
    weights_dir = tmp_path / "cache" / "weights"
    assert not weights_dir.exists() or list(weights_dir.iterdir()) == []
    # A cached copy that no longer matches is deleted and fetched again (here: refused again).
    (weights_dir).mkdir(parents=True, exist_ok=True)
    (weights_dir / "file.bin").write_bytes(b"old damaged copy")
    with pytest.raises(WeightsHashMismatchError):
        download_weights(served.as_uri(), sha256="f" * 64)
    assert list(weights_dir.iterdir()) == []
    assert os.listdir(served.parent) == ["file.bin"]  # the source itself is left alone
