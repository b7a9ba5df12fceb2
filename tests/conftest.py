import os
import signal
import sys
from pathlib import Path

import pytest
import torch

# Helpers shared by test folders (resume_proof) import by name; tests use --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Tests run on a 2-core machine; one intra-op thread keeps them fast and repeatable.
torch.set_num_threads(1)
os.environ.setdefault("RESVISION_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def default_sigint():
    """Ctrl-C raises KeyboardInterrupt in this process, as in a terminal, whatever pytest
    inherited (a shell starts background jobs with SIGINT ignored, and resvision rightly keeps a
    signal the user chose to ignore)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
