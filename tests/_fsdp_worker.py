"""Run by tests/test_scale_fsdp.py under `torch.distributed.run --nproc_per_node 2`: FSDP2 updates of saved
batches from saved initial policies, the gathered weights written by rank 0, and a DCP checkpoint resumed."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import torch


def main(folder: Path) -> None:
    from agents.fsdp_learner import FSDPLearner
    from agents.learner import LearnerConfig
    from agents.policy import Policy

    torch.set_num_threads(1)
    config = LearnerConfig.build(pickle.loads((folder / "learner.pkl").read_bytes()))
    results = {}
    for mode in ("choose", "generate"):
        steps, adv = pickle.loads((folder / f"{mode}_batch.pkl").read_bytes())
        learner = FSDPLearner(Policy.load(folder / f"{mode}_init"), config)
        torch.manual_seed(1)
        stats = learner.update(steps, adv)
        first = learner.full_weights()
        learner.save_distributed(folder / f"{mode}_dcp")
        torch.manual_seed(2)
        learner.update(steps, adv)
        second = learner.full_weights()
        resumed = FSDPLearner(Policy.load(folder / f"{mode}_init"), config)  # a fresh start, then the checkpoint
        resumed.load_distributed(folder / f"{mode}_dcp")
        torch.manual_seed(2)
        resumed.update(steps, adv)
        again = resumed.full_weights()
        if learner.rank == 0:
            results[mode] = {"first": first, "second": second, "resumed": again, "stats": stats}
    if torch.distributed.get_rank() == 0:
        torch.save(results, folder / "fsdp_results.pt")
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
