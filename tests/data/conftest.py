import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every data test uses one session-wide cache folder, never the user's ~/.cache."""
    root = tmp_path_factory.getbasetemp() / "resvision-cache"
    monkeypatch.setenv("RESVISION_CACHE", str(root))
    yield


@pytest.fixture(autouse=True)
def _restore_backend():
    from resvision.data.backend import get_image_backend, set_image_backend

    before = get_image_backend()
    yield
    set_image_backend(before)
