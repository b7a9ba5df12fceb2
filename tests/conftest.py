import os

import pytest
import torch

# Tests run on a 2-core machine; one intra-op thread keeps them fast and repeatable.
torch.set_num_threads(1)
os.environ.setdefault("RESVISION_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
