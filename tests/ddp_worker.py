"""train.py under torchrun, also saving each process's parameters at every epoch end (for test_distributed.py).

    torchrun --nproc_per_node 2 tests/ddp_worker.py OUT_DIR <train.py arguments>
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train  # noqa: E402
from models.base_model import BaseModel  # noqa: E402

out = Path(sys.argv[1])
update_learning_rate = BaseModel.update_learning_rate


def save_parameters_then_update(self: BaseModel, metric: float = 0.0) -> float:
    """Every process calls this at the end of each epoch."""
    params = {name: {k: p.detach().cpu().clone() for k, p in net.named_parameters()} for name, net in
              self.nets().items()}
    torch.save(params, out / f"rank{os.environ['RANK']}.pt")
    return update_learning_rate(self, metric)


BaseModel.update_learning_rate = save_parameters_then_update
sys.exit(train.main(sys.argv[2:]))
