"""train.py under torchrun, also saving each process's parameters at every epoch end (for test_distributed.py).

    torchrun --nproc_per_node 2 tests/ddp_worker.py OUT_DIR <train.py arguments>
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from conftest import REPO, load_script

sys.path.insert(0, str(REPO))  # this checkout's packages, whatever an editable install points at
from training.trainer import Trainer  # noqa: E402

train = load_script(REPO / "train.py")

out = Path(sys.argv[1])
end_epoch = Trainer.end_epoch


def save_parameters_then_step(self: Trainer, images: int) -> float:
    """Every process calls this at the end of each epoch."""
    params = {name: {k: p.detach().cpu().clone() for k, p in net.named_parameters()} for name, net in
              self.model.nets().items()}
    if self.ema is not None:  # the moving average of G (--ema)
        params["G_ema"] = {k: p.detach().cpu().clone() for k, p in self.ema.module.named_parameters()}
    torch.save(params, out / f"rank{os.environ['RANK']}.pt")
    return end_epoch(self, images)


Trainer.end_epoch = save_parameters_then_step
sys.exit(train.main(sys.argv[2:]))
