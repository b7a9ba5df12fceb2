"""Finding ``--config`` files: a path, or the name of a preset of ``configs/``."""

from __future__ import annotations

from pathlib import Path

from resvision.cli.errors import UsageError, unknown_name_error


def preset_dirs() -> list[Path]:
    """Where preset names are looked up: ``./configs`` and the source checkout's ``configs/``."""
    dirs = [Path.cwd() / "configs"]
    # src/resvision/cli/presets.py -> the repository root in a source (editable) install.
    repo = Path(__file__).resolve().parents[3] / "configs"
    if repo not in dirs:
        dirs.append(repo)
    return [d for d in dirs if d.is_dir()]


def list_presets() -> list[str]:
    """The preset names (file stems) found in :func:`preset_dirs`."""
    return sorted({p.stem for d in preset_dirs() for p in d.glob("*.yaml")})


def find_config(text: str) -> Path:
    """The config file ``--config`` names: an existing path, or a preset name.

    Args:
        text: ``configs/fast_cifar10.yaml``, ``fast_cifar10.yaml`` or ``fast_cifar10``.

    Returns:
        The file.

    Raises:
        UsageError: neither a file nor a known preset (with the close preset names).

    Examples:
        >>> find_config("sample_quick").name
        'sample_quick.yaml'
    """
    path = Path(text).expanduser()
    if path.is_file():
        return path
    looks_like_file = path.suffix in (".yaml", ".yml") or path.parent != Path(".")
    name = path.stem if path.suffix in (".yaml", ".yml") else path.name
    if path.parent == Path("."):
        for folder in preset_dirs():
            candidate = folder / f"{name}.yaml"
            if candidate.is_file():
                return candidate
    presets = list_presets()
    if looks_like_file:
        known = f" (presets: {', '.join(presets)})" if presets else ""
        raise UsageError(f"config file {text!r} does not exist{known}")
    raise unknown_name_error("config preset", name, presets, hint="A path to a YAML file works too")
