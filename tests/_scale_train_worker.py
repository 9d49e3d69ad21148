"""`credo train` with the test env registered: run by tests/test_scale_trainer.py under
`torch.distributed.run --nproc_per_node 2` (the distributed learner), with the CLI's own arguments."""

from __future__ import annotations

import tests._agent_helpers  # noqa: F401  (registers credo-test/Line-v0)
from credo.cli import app

if __name__ == "__main__":
    app()
