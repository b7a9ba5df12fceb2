"""The numeric arrays of a MATLAB level-5 MAT-file (``.mat``), read and written without scipy.

Flowers-102 ships its labels and splits as MAT-files (``imagelabels.mat``, ``setid.mat``);
Paddle reads them with ``scipy.io.loadmat``. This module reads the same files with numpy alone,
so resvision needs no scipy. It implements the part of the level-5 format those files use:

- the 128-byte header (little- or big-endian, version ``0x0100``);
- numeric matrices (``double``, ``single``, ``int8`` ... ``uint64`` and ``logical``), stored
  column-major, whose data may be stored in a smaller type than their class (MATLAB writes a
  ``double`` array of small whole numbers as ``uint8``), in the normal or the small (4-byte)
  element format;
- zlib-compressed variables (``miCOMPRESSED``, what MATLAB 7 writes by default), inflated to at
  most :data:`MAX_INFLATED_BYTES` each (a compression bomb is refused, not inflated).

Anything else is refused with a :class:`MatFileError` naming the file, the variable and what it
is: cell arrays, structs, objects, text (``char``), sparse and complex matrices, MAT v7.3 files
(HDF5) and MAT v4 files. :func:`write_mat` writes numeric arrays in the same format (tests use it
to build small Flowers-102 files; ``scipy.io.loadmat`` reads what it writes).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from resvision.atomic import atomic_write_bytes

#: The largest size one compressed variable may inflate to (256 MiB).
MAX_INFLATED_BYTES = 1 << 28

_HEADER_BYTES = 128
_MI_MATRIX = 14
_MI_COMPRESSED = 15
# Data types (miINT8 ...) -> numpy type codes.
_MI_TYPES = {
    1: "i1",
    2: "u1",
    3: "i2",
    4: "u2",
    5: "i4",
    6: "u4",
    7: "f4",
    9: "f8",
    12: "i8",
    13: "u8",
}
# Array classes (mxDOUBLE_CLASS ...) -> numpy type codes.
_NUMERIC_CLASSES = {
    6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8",
}  # fmt: skip
_OTHER_CLASSES = {
    1: "a cell array",
    2: "a struct",
    3: "an object",
    4: "text (a char array)",
    5: "a sparse matrix",
    16: "a function handle",
    17: "an opaque object (a string, table, datetime ...)",
}
_COMPLEX_FLAG = 0x0800
_LOGICAL_FLAG = 0x0200
# numpy type code -> (array class, data type) for writing.
_WRITE_TYPES = {
    "f8": (6, 9), "f4": (7, 7), "i1": (8, 1), "u1": (9, 2), "i2": (10, 3), "u2": (11, 4),
    "i4": (12, 5), "u4": (13, 6), "i8": (14, 12), "u8": (15, 13),
}  # fmt: skip


class MatFileError(ValueError):
    """A file is not a level-5 MAT-file, is damaged, or holds something other than numeric
    arrays where one was asked for; the message names the file (and the variable)."""


def _round8(n: int) -> int:
    return (n + 7) & ~7


class _Reader:
    """Elements of one MAT-file held in memory (``buf``), in byte order ``order``."""

    def __init__(self, buf: bytes, order: str, where: str) -> None:
        self.buf, self.order, self.where = buf, order, where

    def fail(self, why: str) -> MatFileError:
        return MatFileError(f"{self.where}: {why}")

    def tag(self, pos: int, end: int) -> tuple[int, int, int, int]:
        """``(type, nbytes, data start, next element)`` of the element at ``pos``; the next
        element follows the data, padded to a multiple of 8 bytes (a small element: 8 in all)."""
        if pos + 8 > end:
            raise self.fail(f"truncated data element at byte {pos}")
        first, second = struct.unpack_from(self.order + "II", self.buf, pos)
        if first >> 16:  # the small format: size in the upper, type in the lower 2 bytes
            mtype, nbytes = first & 0xFFFF, first >> 16
            if nbytes > 4:
                raise self.fail(f"a small data element at byte {pos} declares {nbytes} bytes")
            return mtype, nbytes, pos + 4, pos + 8
        if pos + 8 + second > end:
            raise self.fail(
                f"the data element at byte {pos} declares {second} bytes but only "
                f"{end - pos - 8} follow (a truncated file?)"
            )
        return first, second, pos + 8, min(pos + 8 + _round8(second), end)

    def numbers(self, pos: int, end: int, what: str) -> tuple[np.ndarray, int]:
        """The numeric data element at ``pos`` and where the next one starts."""
        mtype, nbytes, start, nxt = self.tag(pos, end)
        code = _MI_TYPES.get(mtype)
        if code is None:
            raise self.fail(f"{what} has data type {mtype}, not a numeric type")
        dtype = np.dtype(self.order + code)
        if nbytes % dtype.itemsize:
            raise self.fail(f"{what} has {nbytes} bytes, not a whole number of {code} values")
        return np.frombuffer(self.buf, dtype, nbytes // dtype.itemsize, start), nxt

    def matrix(
        self, start: int, end: int, wanted: set[str] | None
    ) -> tuple[str, np.ndarray | None]:
        """``(name, array)`` of the miMATRIX whose contents are ``buf[start:end]``; the array is
        None when the name is not ``wanted``."""
        flags, pos = self.numbers(start, end, "the array flags")
        if flags.dtype.kind != "u" or flags.dtype.itemsize != 4 or len(flags) != 2:
            raise self.fail(f"a variable at byte {start} has malformed array flags")
        word = int(flags[0])
        cls = word & 0xFF
        dims, pos = self.numbers(pos, end, "the dimensions")
        mtype, nbytes, name_start, pos = self.tag(pos, end)
        if mtype not in (1, 2, 16):  # miINT8, miUINT8 (some writers), miUTF8
            raise self.fail(f"a variable at byte {start} has no name (element type {mtype})")
        name = bytes(self.buf[name_start : name_start + nbytes]).decode("latin-1").rstrip("\0")
        if wanted is not None and name not in wanted:
            return name, None
        if cls not in _NUMERIC_CLASSES:
            kind = _OTHER_CLASSES.get(cls, f"array class {cls}")
            raise self.fail(f"variable {name!r} is {kind}; only numeric arrays are read")
        if word & _COMPLEX_FLAG:
            raise self.fail(f"variable {name!r} is complex; only real numeric arrays are read")
        shape = tuple(int(d) for d in dims)
        if len(shape) < 2 or min(shape) < 0:
            raise self.fail(f"variable {name!r} has invalid dimensions {shape}")
        data, _ = self.numbers(pos, end, f"the data of variable {name!r}")
        count = int(np.prod(shape, dtype=np.int64))
        if len(data) != count:
            raise self.fail(
                f"variable {name!r} has dimensions {shape} ({count} values) but holds {len(data)}"
            )
        dtype = np.dtype(bool) if word & _LOGICAL_FLAG else np.dtype(_NUMERIC_CLASSES[cls])
        array = data.astype(dtype).reshape(shape, order="F")
        return name, np.ascontiguousarray(array)

    def inflate(self, start: int, nbytes: int, pos: int) -> bytes:
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(self.buf[start : start + nbytes], MAX_INFLATED_BYTES + 1)
        except zlib.error as exc:
            raise self.fail(f"the compressed variable at byte {pos} is damaged ({exc})") from exc
        if len(raw) > MAX_INFLATED_BYTES:
            raise self.fail(
                f"the compressed variable at byte {pos} inflates to more than "
                f"{MAX_INFLATED_BYTES} bytes (a compression bomb?)"
            )
        if not inflater.eof:
            raise self.fail(f"the compressed variable at byte {pos} is truncated")
        return raw


def _byte_order(header: bytes, where: str) -> str:
    if len(header) < _HEADER_BYTES:
        raise MatFileError(
            f"{where}: {len(header)} bytes is too short for a MAT-file (a level-5 MAT-file has "
            "a 128-byte header)"
        )
    marker = header[126:128]
    if marker not in (b"IM", b"MI"):
        raise MatFileError(
            f"{where} is not a level-5 MAT-file (no 'IM'/'MI' marker at byte 126; a MAT v4 "
            "file or not a MAT-file at all)"
        )
    order = "<" if marker == b"IM" else ">"
    version = struct.unpack_from(order + "H", header, 124)[0]
    if version != 0x0100:
        if header.startswith(b"MATLAB 7.3"):
            raise MatFileError(
                f"{where} is a MAT v7.3 file (HDF5), which is not read; save it with "
                "save(..., '-v7') in MATLAB, or read it with h5py"
            )
        raise MatFileError(f"{where} has MAT-file version {version:#06x}, expected 0x0100")
    return order


def read_mat(path: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read numeric variables of a level-5 MAT-file (see the module documentation).

    Args:
        path: the ``.mat`` file.
        names: the variables to read; others are skipped without being checked. None reads
            every variable.

    Returns:
        ``{name: array}``: each array has the variable's MATLAB shape (at least 2-D, so a
        vector is ``1 x N``, as ``scipy.io.loadmat`` returns it) and the numpy type of its
        class (``double`` -> ``float64``, ``uint8`` -> ``uint8``, ``logical`` -> ``bool``).

    Raises:
        MatFileError: the file is not a level-5 MAT-file, is damaged, a wanted variable is
            missing, or is not a real numeric array (the message names it and what it is).
        OSError: the file cannot be read.

    Examples:
        >>> import os, tempfile
        >>> import numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "setid.mat")
        >>> write_mat(path, {"trnid": np.array([3, 1, 2], dtype=np.uint16)})
        >>> read_mat(path)["trnid"]
        array([[3, 1, 2]], dtype=uint16)
        >>> read_mat(path, ["valid"])
        Traceback (most recent call last):
        ...
        resvision.data.datasets.matfile.MatFileError: ...setid.mat has no variable 'valid' (it has: 'trnid')
    """
    where = str(path)
    buf = Path(path).read_bytes()
    order = _byte_order(buf[:_HEADER_BYTES], where)
    wanted = None if names is None else set(names)
    reader = _Reader(buf, order, where)
    found: dict[str, np.ndarray] = {}
    seen: list[str] = []
    pos = _HEADER_BYTES
    while pos < len(buf):
        if not any(buf[pos : pos + 8]) and not any(buf[pos:]):
            break  # zero padding at the end of the file
        mtype, nbytes, start, nxt = reader.tag(pos, len(buf))
        if mtype == _MI_COMPRESSED:
            inner = _Reader(reader.inflate(start, nbytes, pos), order, where)
            mtype2, _, start2, _ = inner.tag(0, len(inner.buf))
            if mtype2 != _MI_MATRIX:
                raise reader.fail(f"the compressed element at byte {pos} holds no variable")
            name, array = inner.matrix(start2, len(inner.buf), wanted)
            nxt = start + nbytes  # compressed elements are not padded
        elif mtype == _MI_MATRIX:
            name, array = reader.matrix(start, start + nbytes, wanted)
        else:
            raise reader.fail(f"the element at byte {pos} (type {mtype}) is not a variable")
        seen.append(name)
        if array is not None:
            found[name] = array
        pos = nxt
    missing = sorted((wanted or set()) - set(found))
    if missing:
        have = ", ".join(repr(n) for n in seen) or "no variable"
        raise MatFileError(f"{where} has no variable {missing[0]!r} (it has: {have})")
    return found


def _element(mtype: int, payload: bytes, order: str = "<") -> bytes:
    if len(payload) <= 4:  # the small format, as MATLAB writes short names
        return struct.pack(order + "I", (len(payload) << 16) | mtype) + payload.ljust(4, b"\0")
    return struct.pack(order + "II", mtype, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def write_mat(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    *,
    compress: bool = True,
    big_endian: bool = False,
) -> None:
    """Write numeric arrays as a level-5 MAT-file (atomically).

    Args:
        path: the ``.mat`` file to write.
        arrays: ``{name: array}``; a 0-d or 1-D array is stored as a ``1 x N`` row (what
            ``scipy.io.savemat`` does); ``bool`` arrays are stored as ``logical``.
        compress: store each variable zlib-compressed (``miCOMPRESSED``, MATLAB 7's default).
        big_endian: write a big-endian file (as MATLAB on a big-endian machine); the default
            is little-endian.

    Raises:
        TypeError: an array is not of a real numeric or bool type.
        ValueError: a name is empty or not ASCII.

    Examples:
        >>> import os, tempfile
        >>> import numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "imagelabels.mat")
        >>> write_mat(path, {"labels": np.array([77.0, 1.0])}, compress=False)
        >>> read_mat(path)["labels"]
        array([[77.,  1.]])
    """
    out = [b"MATLAB 5.0 MAT-file, written by resvision".ljust(116), b"\0" * 8]
    order = ">" if big_endian else "<"
    out.append(struct.pack(order + "H", 0x0100) + (b"MI" if big_endian else b"IM"))
    for name, value in arrays.items():
        if not name or not name.isascii():
            raise ValueError(f"a MAT-file variable name must be non-empty ASCII, got {name!r}")
        array = np.asarray(value)
        logical = array.dtype == np.bool_
        code = "u1" if logical else array.dtype.str[1:]
        if code not in _WRITE_TYPES:
            raise TypeError(
                f"variable {name!r} has dtype {array.dtype}; write_mat writes real numeric and "
                "bool arrays"
            )
        cls, mtype = _WRITE_TYPES[code]
        if array.ndim < 2:
            array = array.reshape(1, -1)
        flags = struct.pack(order + "II", cls | (_LOGICAL_FLAG if logical else 0), 0)
        data = array.astype(np.dtype(order + code)).tobytes(order="F")
        body = b"".join(
            [
                _element(6, flags, order),
                _element(5, struct.pack(f"{order}{array.ndim}i", *array.shape), order),
                _element(1, name.encode("ascii"), order),
                _element(mtype, data, order),
            ]
        )
        matrix = struct.pack(order + "II", _MI_MATRIX, len(body)) + body
        if compress:
            packed = zlib.compress(matrix)
            out.append(struct.pack(order + "II", _MI_COMPRESSED, len(packed)) + packed)
        else:
            out.append(matrix)
    atomic_write_bytes(path, b"".join(out))
