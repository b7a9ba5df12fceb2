"""One safe way to list the files under a folder, shared by every data set and command.

The rules, and why:

- **Sorted order, a folder's files before its sub-folders** (the top-down order of
  ``os.walk``): the folder data sets always listed their samples this way, so sample order
  and labels stay what they were.
- **Hidden entries** (names starting with ``.``: ``.ipynb_checkpoints``, ``.DS_Store``) are
  skipped silently, as the folder data set always did.
- **Symbolic links to folders are followed, each real folder once.** Linking class folders
  from elsewhere is common, so links are followed; but every folder visited is remembered by
  its ``(st_dev, st_ino)``, and a folder met again (a link loop, or a second link to the same
  folder) is left out as *repeated*. The walk is then bounded by the number of real folders:
  a loop can neither multiply the data nor run forever. Where a real folder is reachable twice,
  the first one in walk order is kept.
- **Only regular files are kept**, judged by ``os.stat`` (which follows links and never opens
  the file): a link to a regular file counts as that file; a FIFO (opening it waits for a
  writer forever), a device (``/dev/zero`` never ends), a socket and a broken link are left out.

Everything left out is reported with a reason: files without an accepted extension (or that
``is_valid_file`` rejects), special files, broken links, unreadable folders and repeated ones.

:func:`walk_files` walks one folder; :func:`scan_class_folders` walks the class folders of a
``root/<class>/**`` data set (``DatasetFolder`` and ``resvision data`` both use it, so they count
the same files); :func:`regular_file_problem` checks one path given by a user. This module
imports nothing heavy (no torch), so commands can list files quickly.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Image file endings the folder data sets read (``resvision.datasets.IMG_EXTENSIONS``).
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

#: A folder's identity: ``(st_dev, st_ino)`` of its ``os.stat``.
FolderId = tuple[int, int]

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


@dataclass
class WalkResult:
    """What :func:`walk_files` found.

    Attributes:
        files: the regular files kept, in walk order.
        left_out: ``(path, reason)`` of everything else that was not skipped as hidden, in walk
            order: rejected by extension or ``is_valid_file``, and the ``problems``.
        problems: the part of ``left_out`` that is not an ordinary filter rejection: special
            files, broken links, unreadable folders and repeated folders.
    """

    files: list[Path] = field(default_factory=list)
    left_out: list[tuple[Path, str]] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)

    def _leave(self, path: Path, reason: str, problem: bool) -> None:
        self.left_out.append((path, reason))
        if problem:
            self.problems.append((path, reason))


def regular_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a regular file (or a link to one), or None when it is.

    Only ``os.stat`` is used: the file is never opened, so a FIFO or a device cannot block or
    flood the caller.

    Args:
        path: a path given by the user or found in a folder.

    Returns:
        None for a regular file; else a reason such as ``'a FIFO (named pipe), not a regular
        file'`` or ``'a broken symbolic link (its target ... does not exist)'``.

    Examples:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> open(os.path.join(d, "a.png"), "wb").close()
        >>> os.mkfifo(os.path.join(d, "pipe.png"))
        >>> os.symlink("/dev/null", os.path.join(d, "null.png"))
        >>> regular_file_problem(os.path.join(d, "a.png")) is None
        True
        >>> regular_file_problem(os.path.join(d, "pipe.png"))
        'a FIFO (named pipe), not a regular file'
        >>> regular_file_problem(os.path.join(d, "null.png"))
        'a symbolic link to /dev/null, a character device, not a regular file'
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"a broken symbolic link (its target {os.readlink(path)} does not exist)"
        return "does not exist"
    except OSError as exc:  # a link loop (ELOOP), a folder on the way that cannot be searched
        return f"cannot be examined ({type(exc).__name__}: {exc.strerror or exc})"
    if stat.S_ISREG(st.st_mode):
        return None
    kind = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
    if os.path.islink(path):
        kind = f"a symbolic link to {os.path.realpath(path)}, {kind}"
    return f"{kind}, not a regular file"


def _folder_id(st: os.stat_result) -> FolderId:
    return (st.st_dev, st.st_ino)


def walk_files(
    root: str | os.PathLike,
    extensions: Sequence[str] | None = None,
    is_valid_file: Callable[[str], bool] | None = None,
    *,
    visited: dict[FolderId, Path] | None = None,
) -> WalkResult:
    """The regular files under ``root``, recursively, in sorted order (see the module rules).

    Args:
        root: the folder to walk; it is always walked, even when it is in ``visited``.
        extensions: file name endings to keep (case-insensitive), e.g. ``('.jpg', '.png')``;
            None with no ``is_valid_file`` keeps every regular file.
        is_valid_file: ``is_valid_file(path) -> bool``, instead of ``extensions``; called only
            on regular files, so it may open them.
        visited: folders already walked, ``{(st_dev, st_ino): path}``, updated in place. Share
            one between the walks of several roots (the class folders of a data set) so that a
            folder reached from two of them is walked once.

    Returns:
        A :class:`WalkResult`: the files kept and what was left out, with reasons.

    Raises:
        ValueError: both ``extensions`` and ``is_valid_file`` given.
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is not a folder.

    Examples:
        >>> import os, pathlib, tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "sub").mkdir()
        >>> for name in ("b.png", "a.png", "sub/c.png", "notes.gif", ".hidden.png"):
        ...     _ = (root / name).write_bytes(b"x")
        >>> os.symlink(root, root / "sub" / "loop")  # a link back up: a loop
        >>> found = walk_files(root, extensions=(".png",))
        >>> [str(p.relative_to(root)) for p in found.files]
        ['a.png', 'b.png', 'sub/c.png']
        >>> [(str(p.relative_to(root)), why.split(" (")[0]) for p, why in found.left_out]
        [('notes.gif', "'.gif' is not an accepted extension"), ('sub/loop', 'a repeated folder')]
    """
    if extensions is not None and is_valid_file is not None:
        raise ValueError("give extensions or is_valid_file, not both")
    exts = None if extensions is None else tuple(e.lower() for e in extensions)
    root = Path(root)
    try:
        root_stat = os.stat(root)
    except FileNotFoundError:
        raise FileNotFoundError(f"folder {str(root)!r} does not exist") from None
    if not stat.S_ISDIR(root_stat.st_mode):
        raise NotADirectoryError(f"{str(root)!r} is not a folder")
    visited = {} if visited is None else visited
    visited.setdefault(_folder_id(root_stat), root)
    result = WalkResult()
    # An explicit stack, not recursion: a deep tree cannot hit Python's recursion limit.
    stack: list[tuple[Path, FolderId | None]] = [(root, None)]
    while stack:
        folder, fid = stack.pop()
        if fid is not None:
            # Checked when the folder is reached (not when it is listed), so the copy kept is the
            # first in walk order.
            if fid in visited:
                reason = (
                    f"a repeated folder (the same as {visited[fid]}: a link loop or a second link)"
                )
                result._leave(folder, reason, problem=True)
                continue
            visited[fid] = folder
        try:
            with os.scandir(folder) as it:
                entries = sorted(e.name for e in it if not e.name.startswith("."))
        except OSError as exc:  # PermissionError, or a folder removed meanwhile
            reason = f"an unreadable folder ({type(exc).__name__}: {exc.strerror or exc})"
            result._leave(folder, reason, problem=True)
            continue
        subfolders: list[tuple[Path, FolderId | None]] = []
        for name in entries:
            path = folder / name
            try:
                st = os.stat(path)  # follows links; never opens the file
            except OSError:
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                subfolders.append((path, _folder_id(st)))
                continue
            if exts is not None and not name.lower().endswith(exts):
                suffix = os.path.splitext(name)[1].lower()
                reason = f"{suffix!r} is not an accepted extension" if suffix else "no extension"
                result._leave(path, reason, problem=False)
                continue
            problem = (
                regular_file_problem(path) if st is None or not stat.S_ISREG(st.st_mode) else None
            )
            if problem is not None:
                result._leave(path, problem, problem=True)
            elif is_valid_file is not None and not is_valid_file(str(path)):
                result._leave(path, "rejected by is_valid_file", problem=False)
            else:
                result.files.append(path)
        stack.extend(reversed(subfolders))  # popped in sorted order, after this folder's files
    return result


def _names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _check_classes(classes: Sequence[str]) -> list[str]:
    """``classes=`` as a list, or a ValueError/TypeError naming what is wrong."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise TypeError(f"classes must be a list of class names, got {classes!r}")
    names = list(classes)
    if not names:
        raise ValueError("classes must name at least one class, got an empty list")
    for name in names:
        # A class is a sub-folder name: a path or a hidden name could never match one.
        if not isinstance(name, str) or not name or "/" in name or os.sep in name:
            raise ValueError(f"classes must be folder names (no '/'), got {name!r}")
        if name.startswith("."):
            raise ValueError(f"class {name!r} starts with '.': hidden folders are never read")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"classes must be distinct; repeated: {_names(repeated)}")
    return names


@dataclass
class ClassFolders:
    """The files of ``root/<class>/**`` found by :func:`scan_class_folders`.

    Attributes:
        classes: the label list: ``classes=`` as given, else the sorted sub-folder names.
        files: class -> its files (strings, walk order), for each class that has a folder.
        left_out: ``(path, reason)`` of what is not kept (see :mod:`resvision.data.walk`), plus
            files directly in ``root`` (not in a class folder).
        problems: the part of ``left_out`` that is a special file, a broken link or an
            unreadable or repeated folder.
    """

    classes: list[str]
    files: dict[str, list[str]]
    left_out: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """Classes of the list without a sub-folder."""
        return [c for c in self.classes if c not in self.files]


def scan_class_folders(
    root: str | os.PathLike,
    classes: Sequence[str] | None = None,
    extensions: Sequence[str] | None = None,
    is_valid_file: Callable[[str], bool] | None = None,
) -> ClassFolders:
    """Walk each class folder of ``root`` once, safely (the listing ``DatasetFolder`` and
    ``resvision data`` share, so both count the same files).

    Args:
        root: the folder holding one sub-folder per class.
        classes: the label list; sub-folders must be among them, classes without a sub-folder
            are allowed. None: the sorted sub-folder names.
        extensions: file name endings to keep (default: image extensions), or
        is_valid_file: ``is_valid_file(path) -> bool`` instead.

    Returns:
        A :class:`ClassFolders`.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: a sub-folder that is not in ``classes``; a ``classes`` list that is empty,
            repeats a name or holds a name that cannot be a folder's.
        TypeError: ``classes`` is not a list (or tuple) of names.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("cat/0.png", "dog/0.jpg", "dog/1.gif"):
        ...     (root / name).parent.mkdir(exist_ok=True)
        ...     _ = (root / name).write_bytes(b"x")
        >>> scan = scan_class_folders(root, classes=["bird", "cat", "dog"])
        >>> [len(scan.files[c]) for c in ("cat", "dog")], scan.missing
        ([1, 1], ['bird'])
        >>> [(pathlib.Path(p).name, why) for p, why in scan.left_out]
        [('1.gif', "'.gif' is not an accepted extension")]
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {str(root)!r} does not exist")
    if extensions is None and is_valid_file is None:
        extensions = IMG_EXTENSIONS
    folders: list[str] = []
    left_out: list[tuple[str, str]] = []
    # Every class folder is reserved before any is walked: a link from one class into another
    # (or up to root) is then a repeated folder, never a second copy of the other class.
    visited: dict[FolderId, Path] = {}
    with os.scandir(root) as it:
        entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir():  # follows links: a linked class folder is a class folder
            folders.append(entry.name)
            st = os.stat(root / entry.name)
            visited.setdefault((st.st_dev, st.st_ino), root / entry.name)
        else:
            left_out.append((str(root / entry.name), "not in a class folder (root/<class>/...)"))
    st = os.stat(root)
    visited.setdefault((st.st_dev, st.st_ino), root)
    if classes is None:
        labels = folders
    else:
        labels = _check_classes(classes)
        accepted = set(labels)
        unknown = [f for f in folders if f not in accepted]
        if unknown:
            raise ValueError(
                f"{root} has class folder(s) not in classes: {_names(unknown)}; "
                f"accepted class names: {_names(labels)}"
            )
    scan = ClassFolders(classes=labels, files={}, left_out=left_out)
    for cls in labels:
        if cls not in folders:
            continue
        found = walk_files(root / cls, extensions, is_valid_file, visited=visited)
        scan.files[cls] = [str(p) for p in found.files]
        scan.left_out += [(str(p), why) for p, why in found.left_out]
        scan.problems += [(str(p), why) for p, why in found.problems]
    return scan
