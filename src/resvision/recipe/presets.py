"""Finding ``--config`` files: a path, or the name of a preset of ``configs/``.

The presets ship inside the package (``resvision/configs/*.yaml``, so a wheel install has them);
the repository's top-level ``configs`` is a link to that folder. A ``./configs`` folder in the
working directory is searched first, so a project can keep its own presets beside its data.
"""

from __future__ import annotations

from pathlib import Path

from resvision.recipe.errors import UsageError, unknown_name_error


def preset_dirs() -> list[Path]:
    """Where preset names are looked up: ``./configs``, then the package's own presets."""
    dirs = [Path.cwd() / "configs"]
    # src/resvision/recipe/presets.py -> src/resvision/configs
    packaged = Path(__file__).resolve().parents[1] / "configs"
    if packaged.resolve() not in [d.resolve() for d in dirs]:
        dirs.append(packaged)
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
