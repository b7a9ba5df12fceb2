"""Build the embedded CIFAR-10 sample shipped in ``src/resvision/assets/``.

Selection rule (fixed, documented in the asset README): from the CIFAR-10 (JPEG) archive, for each
class in the official label order, the first 500 ``train/<class>/*.jpg`` files and the first 100
``test/<class>/*.jpg`` files in sorted file-name order. The original JPEG bytes are kept as they
are (no re-encoding), concatenated per split, with an offsets index, in one uncompressed ``.npz``.

Usage::

    python scripts/make_sample.py [--source ../shared/data/cifar10-jpeg.tar.gz] [--out DIR]

The output is deterministic: running it twice on the same archive gives identical bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
PER_CLASS = {"train": 500, "test": 100}
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
DEFAULT_OUT = ROOT / "src" / "resvision" / "assets"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def select(source: Path) -> dict[str, list[tuple[str, int, bytes]]]:
    """Return, per split, ``(member name, label, jpeg bytes)`` in the documented order."""
    with tarfile.open(source, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        chosen: dict[str, list[tuple[str, int, bytes]]] = {}
        for split, count in PER_CLASS.items():
            rows = []
            for label, name in enumerate(CLASSES):
                prefix = f"{split}/{name}/"
                files = sorted(n for n in members if n.startswith(prefix) and n.endswith(".jpg"))
                if len(files) < count:
                    raise SystemExit(f"{source}: only {len(files)} files under {prefix}")
                for member_name in files[:count]:
                    f = tar.extractfile(members[member_name])
                    assert f is not None
                    rows.append((member_name, label, f.read()))
            chosen[split] = rows
    return chosen


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an uncompressed .npz atomically with fixed zip timestamps (reproducible bytes)."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    chosen = select(args.source)
    arrays: dict[str, np.ndarray] = {"classes": np.array(CLASSES)}
    for split, rows in chosen.items():
        blobs = [blob for _, _, blob in rows]
        offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in blobs])
        arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"{split}_offsets"] = offsets
        arrays[f"{split}_labels"] = np.array([label for _, label, _ in rows], dtype=np.int64)
    npz_path = args.out / "cifar10_sample.npz"
    write_npz(npz_path, arrays)

    manifest = {
        "name": "cifar10_sample",
        "source": "cifar10-jpeg.tar.gz (CIFAR-10 re-encoded as JPEG, quality ~75, 4:2:0)",
        "source_sha256": sha256_of(args.source),
        "selection": "per class in official label order: the first 500 train/<class>/*.jpg "
        "and the first 100 test/<class>/*.jpg in sorted file-name order; "
        "original JPEG bytes, not re-encoded",
        "classes": list(CLASSES),
        "counts": {split: len(rows) for split, rows in chosen.items()},
        "first_files": {split: rows[0][0] for split, rows in chosen.items()},
        "last_files": {split: rows[-1][0] for split, rows in chosen.items()},
        "file": npz_path.name,
        "file_sha256": sha256_of(npz_path),
        "made_by": "scripts/make_sample.py",
    }
    manifest_path = args.out / "cifar10_sample.json"
    tmp = manifest_path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, manifest_path)
    size = npz_path.stat().st_size
    print(f"wrote {npz_path} ({size / 1e6:.2f} MB) and {manifest_path}")


if __name__ == "__main__":
    main()
