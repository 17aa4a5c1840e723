"""Train a pix2pix-family model.

    python train.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA

Checkpoints, options, loss logs and an HTML page of training samples go to <checkpoints_dir>/<name>/.
Ctrl-C saves a checkpoint first; --continue_train resumes exactly where the run stopped.
"""
from __future__ import annotations

import signal
import sys
import time

from tqdm import tqdm

from data import create_dataset
from models import create_model
from models.checkpoint import checkpoint_label, seed_everything
from options.train_options import TrainOptions
from util.errors import main_guard
from util.visualizer import Visualizer


class StopRequest:
    """First Ctrl-C asks the loop to save and stop after the current step; a second one stops at once."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: saving a checkpoint after this step (press again to quit without saving)", flush=True)


def crossed(before: int, after: int, freq: int) -> bool:
    """True when a counter going from `before` to `after` passed a multiple of freq."""
    return freq > 0 and after // freq > before // freq


@main_guard
def main(argv: list[str] | None = None, defaults: dict | None = None) -> int:
    options = TrainOptions()
    opt = options.parse(argv, defaults)
    seed_everything(opt.seed)
    data = create_dataset(opt)
    model = create_model(opt)
    model.setup()
    # samples_done counts images of the current epoch, so a resumed run may change --batch_size
    progress = {"epoch": opt.epoch_count, "samples_done": 0, "total_iters": 0, "l1_sum": 0.0}
    if opt.continue_train:
        progress.update(model.load_checkpoint(checkpoint_label(opt)))
        print(f"resuming at epoch {progress['epoch']}, image {progress['samples_done']}")
    options.save_options(opt, model.save_dir)
    model.save_network_summary()
    visualizer = Visualizer(opt)
    stop = StopRequest()
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    print(f"training on {len(data)} images in batches of {opt.batch_size} on {model.device}")

    def save(label: str) -> None:
        path = model.save_checkpoint(label, progress)
        tqdm.write(f"saved {path}")

    for epoch in range(progress["epoch"], last_epoch + 1):
        progress["epoch"] = epoch
        data.set_epoch(epoch, progress["samples_done"])
        model.train()
        bar = tqdm(total=len(data), initial=progress["samples_done"], desc=f"epoch {epoch}/{last_epoch}",
                   unit="img", dynamic_ncols=True, disable=None)
        t_data = time.perf_counter()
        for batch in data:
            t_start = time.perf_counter()
            model.set_input(batch)
            model.optimize_parameters()
            n = len(batch["A"])
            before, progress["total_iters"] = progress["total_iters"], progress["total_iters"] + n
            progress["samples_done"] += n
            t_comp = (time.perf_counter() - t_start) / n
            losses = model.get_current_losses()
            progress["l1_sum"] += losses.get(model.monitor_loss, 0.0) * n
            bar.set_postfix({**{k: f"{v:.3f}" for k, v in losses.items()}, "img/s": f"{1 / max(t_comp, 1e-9):.1f}"})
            bar.update(n)
            total = progress["total_iters"]
            if crossed(before, total, opt.print_freq):
                line = visualizer.print_current_losses(epoch, progress["samples_done"], total, losses, t_comp,
                                                       t_start - t_data, model.optimizers[0].param_groups[0]["lr"])
                if bar.disable:
                    print(line, flush=True)
                visualizer.plot_current_losses(total, losses)
            if crossed(before, total, opt.display_freq):
                visualizer.display_current_results(model.get_current_visuals(), epoch,
                                                   crossed(before, total, opt.update_html_freq))
            if crossed(before, total, opt.save_latest_freq):
                save("latest")
                if opt.save_by_iter:
                    save(f"iter_{total}")
            if stop.requested:
                save("latest")
                bar.close()
                print(f"stopped in epoch {epoch}; resume with the same command plus --continue_train")
                return 130
            t_data = time.perf_counter()
        bar.close()
        visualizer.display_current_results(model.get_current_visuals(), epoch, save_html=True)
        lr = model.update_learning_rate(progress["l1_sum"] / max(1, progress["samples_done"]))
        progress.update(epoch=epoch + 1, samples_done=0, l1_sum=0.0)
        if epoch % opt.save_epoch_freq == 0 or epoch == last_epoch:
            save("latest")
            save(str(epoch))
        print(f"end of epoch {epoch}/{last_epoch}, learning rate {lr:.7f}", flush=True)
    print(f"done: checkpoints and training samples in {model.save_dir}")
    return 0


def run(defaults: dict | None = None) -> None:
    """The command-line entry point (also used by trainSesame.py with its own defaults)."""
    try:
        sys.exit(main(defaults=defaults))
    except KeyboardInterrupt:
        print("\ninterrupted without saving", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()
