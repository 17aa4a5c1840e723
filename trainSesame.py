"""Train with SESAME's discriminator (Ntavelis et al., ECCV 2020) by default; otherwise exactly train.py.

    python trainSesame.py --dataroot ./datasets/facades --model pix2pix --name sesame --direction BtoA --netD sesam

The defaults: --netD sesame with --num_D 2 scales of --n_layers_D 3 layers (SESAME's depth). Every train.py
option works and wins over these defaults; logs, checkpoints and test.py are the same as train.py's.
"""
from train import run

SESAME_DEFAULTS = {"netD": "sesame", "num_D": 2, "n_layers_D": 3}

if __name__ == "__main__":
    run(SESAME_DEFAULTS)
