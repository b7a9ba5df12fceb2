"""One process of a two-process gloo job on 127.0.0.1, started by the tests in this folder.

``python ddp_worker.py OUT_DIR SCENARIO...`` with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` set, as ``torchrun`` sets them: ``Model.fit`` must notice
that by itself. Each scenario writes what the tests compare to ``OUT_DIR/<scenario>-rank<r>.pt``;
the single-process references are computed by the tests with the same builders
(:mod:`ddp_cases`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import ddp_cases  # next to this script: on sys.path when it runs
import torch

from resvision import distributed


def main() -> None:
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    rank = int(os.environ["RANK"])
    for name in sys.argv[2:]:
        scenario = ddp_cases.SCENARIOS.get(name) or ddp_cases.FAILURES[name]
        result = scenario(out / name)
        result["world_size"] = distributed.world_size()
        torch.save(result, out / f"{name}-rank{rank}.pt")


if __name__ == "__main__":
    main()
