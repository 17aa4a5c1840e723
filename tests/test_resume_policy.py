"""What a checkpoint means for each option, generated from the parsers: every train option of every model declares
what a resumed run (--continue_train) does with a new value, and the run does it (options/parser.py check_resume);
one experiment folder holds one run."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from conftest import TINY, another_value, one_line_error, run_cli

import data
import models
from models import checkpoint, create_model
from options.parser import APPLY, REFUSE, RUN_ALWAYS, OptionParser
from training.options import TrainOptions
from training.trainer import Trainer
from util.errors import UserError


def train_parser(model: str, dataset: str = "aligned") -> OptionParser:
    """train.py's parser with the flags that `model` and `dataset` add."""
    parser = TrainOptions()._parser()
    models.find_model(model).modify_commandline_options(parser, True)
    data.find_dataset(dataset).modify_commandline_options(parser, True)
    return parser


def resume_argv(synth32, checkpoints, *extra: str) -> list[str]:
    return ["--dataroot", str(synth32), "--name", "tiny", "--checkpoints_dir", str(checkpoints), "--gpu_ids", "-1",
            "--continue_train", *extra]


def policies_of(policy: str) -> list[argparse.Action]:
    """The flags of pix2pix's train.py (the fixture's model) declared `policy`."""
    parser = train_parser("pix2pix")
    declared = parser.resume_policies()
    return [a for a in parser._actions if a.dest != "help" and declared[a.dest] == policy]


def saved_options(checkpoints) -> dict:
    return torch.load(checkpoints / "tiny" / "latest_checkpoint.pth", weights_only=True)["options"]


# ---- the declarations ------------------------------------------------------------------------------------------

def test_every_train_option_of_every_model_and_dataset_declares_a_resume_policy():
    undeclared = sorted({f"--model {model} {parser.flag(dest)}"
                         for model in models.MODELS for dataset in data.DATASETS
                         for parser in [train_parser(model, dataset)]
                         for dest, policy in parser.resume_policies().items() if policy is None})
    assert not undeclared, f"declare run=RUN_ALWAYS or resume=APPLY|REFUSE where these are added: {undeclared}"


def test_a_declaration_is_run_or_a_resume_policy_not_both():
    parser = OptionParser()
    with pytest.raises(ValueError, match="takes no resume policy"):
        parser.add_argument("--x", run=RUN_ALWAYS, resume=APPLY)
    with pytest.raises(ValueError, match="not a declaration"):
        parser.add_argument_group("g").add_argument("--y", resume="maybe")


def test_both_policies_are_in_use():
    assert policies_of(APPLY) and policies_of(REFUSE)


# ---- each option, resumed with another value ---------------------------------------------------------------------

@pytest.mark.parametrize("action", policies_of(REFUSE), ids=lambda a: a.dest)
def test_a_new_value_of_a_refused_option_is_a_one_line_error(action, synth32, tiny_checkpoint):
    tokens = another_value(action, saved_options(tiny_checkpoint).get(action.dest))
    if tokens is None:
        pytest.skip(f"{action.option_strings[0]} is on in the checkpoint: the command line cannot turn it off")
    with pytest.raises(UserError) as caught:
        TrainOptions().parse(resume_argv(synth32, tiny_checkpoint, *tokens))
    message = str(caught.value)
    assert message.startswith(f"{tokens[0]}") and "a resumed run keeps that" in message
    assert f"leave {tokens[0]} out to resume" in message and "another --name" in message


@pytest.mark.parametrize("action", policies_of(APPLY), ids=lambda a: a.dest)
def test_a_new_value_of_an_applied_option_takes_effect_as_in_a_fresh_run(action, synth32, tiny_checkpoint,
                                                                          tmp_path):
    """The resumed run has the new value, records it in its checkpoints, and after loading the checkpoint trains
    with the hyperparameters a run started with it has (nothing restored from the checkpoint overrides it)."""
    tokens = another_value(action, saved_options(tiny_checkpoint).get(action.dest))
    if tokens is None:
        pytest.skip(f"{action.option_strings[0]} is on in the checkpoint: the command line cannot turn it off")
    options = TrainOptions()
    opt = options.parse(resume_argv(synth32, tiny_checkpoint, "--n_epochs", "5", *tokens))
    new = vars(options.parser.parse_args([*tokens], namespace=argparse.Namespace(**{action.dest: None})))
    assert getattr(opt, action.dest) == new[action.dest] != saved_options(tiny_checkpoint).get(action.dest)
    assert action.dest in options.changed
    resumed = Trainer(create_model(opt), opt)
    resumed.resume(checkpoint.find(opt, resumed.model.trained_names))
    assert resumed.checkpoint_state({})["options"][action.dest] in (getattr(opt, action.dest), "inf")
    fresh = TrainOptions().parse(given_again(saved_options(tiny_checkpoint), options.parser, synth32, tmp_path)
                                 + ["--n_epochs", "5", *tokens])
    assert hyperparameters(resumed) == hyperparameters(Trainer(create_model(fresh), fresh))


def given_again(saved: dict, parser: OptionParser, synth32, folder) -> list[str]:
    """The command line of a run from scratch with the experiment options the checkpoint's run was given."""
    run = parser.run_options(is_train=True)
    argv = ["--dataroot", str(synth32), "--checkpoints_dir", str(folder), "--gpu_ids", "-1"]
    for key in saved["explicit"]:
        if key in run or key not in parser.resume_policies():
            continue
        value = saved[key]
        argv += [parser.flag(key)] if value is True else [] if value is False else [parser.flag(key), str(value)]
    return argv


def hyperparameters(trainer: Trainer) -> dict:
    """What a step's update depends on besides the weights and the epoch's learning rate."""
    groups = {name: [{k: v for k, v in g.items() if k not in ("params", "lr")} for g in o.param_groups]
              for name, o in trainer.optimizers.items()}
    schedules = {name: [s.lr_lambdas[0](k) for k in range(6)] if hasattr(s, "lr_lambdas") else type(s).__name__
                 for name, s in trainer.schedulers.items()}
    model = trainer.model
    settings = {k: v for k, v in vars(model).items() if isinstance(v, (bool, int, float, str)) and k != "step"}
    pool = getattr(model, "fake_pool", None)
    return {"optimizers": groups, "schedules": schedules, "model": settings,
            "ema": trainer.ema.decay if trainer.ema else None, "pool": pool.pool_size if pool else None,
            "pool_images": len(pool.images) <= pool.pool_size if pool else None}


# ---- through train.py ------------------------------------------------------------------------------------------

RUN = [*TINY, "--batch_size", "2", "--print_freq", "2"]


@pytest.mark.slow
def test_a_new_lr_reaches_every_network_and_the_schedule(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "r", "--checkpoints_dir", tmp_path, "--ttur"]
    run_cli(*args, "--n_epochs", "1", "--n_epochs_decay", "0", check=True)
    proc = run_cli(*args, "--continue_train", "--n_epochs", "2", "--n_epochs_decay", "0", "--lr", "0.001", check=True)
    assert "--lr 0.001 (was 0.0002)" in proc.stdout and "learning rate 0.0005" in proc.stdout
    state = torch.load(tmp_path / "r" / "latest_checkpoint.pth", weights_only=True)
    assert (state["options"]["lr_G"], state["options"]["lr_D"]) == (0.0005, 0.002)  # --ttur: lr / 2 and lr x 2
    assert [o["param_groups"][0]["initial_lr"] for o in state["optimizers"]] == [0.0005, 0.002]
    logged = [json.loads(line) for line in (tmp_path / "r" / "loss_log.jsonl").read_text().splitlines()]
    assert {r["lr"] for r in logged if r["epoch"] == 2} == {0.0005}


@pytest.mark.slow
@pytest.mark.parametrize("flag, value", [("--model", "pix2pix"), ("--label_nc", "12"), ("--netG", "unet_128")])
def test_resuming_a_pix2pix_plus_run_with_another_recipe_or_shape_is_refused(flag, value, synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "r", "--checkpoints_dir", tmp_path]
    run_cli(*args, "--model", "pix2pix_plus", "--n_epochs", "1", "--n_epochs_decay", "0", check=True)
    line = one_line_error(run_cli(*args, "--continue_train", "--n_epochs", "2", flag, value))
    assert f"error: {flag} {value}: " in line and "a resumed run keeps that" in line
    state = torch.load(tmp_path / "r" / "latest_checkpoint.pth", weights_only=True)
    assert state["progress"]["epoch"] == 2  # untouched: nothing was trained


# ---- one experiment folder, one run -----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_new_run_into_a_folder_holding_another_run_is_refused_and_overwrite_starts_clean(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "r", "--checkpoints_dir", tmp_path, "--n_epochs", "1",
            "--n_epochs_decay", "0"]
    validated = ["--val_freq", "1", "--val_metrics", "l1", "--val_metric", "l1", "--ema"]
    run_cli(*args, *validated, check=True)
    folder = tmp_path / "r"
    (folder / "notes.txt").write_text("mine")
    before = (folder / "latest_checkpoint.pth").read_bytes()
    line = one_line_error(run_cli(*args, "--lr", "0.001"))
    assert f"{folder} holds another run (" in line and "--continue_train" in line and "--overwrite" in line
    assert (folder / "latest_checkpoint.pth").read_bytes() == before
    proc = run_cli(*args, "--lr", "0.001", "--overwrite", check=True)
    assert "removed the earlier run" in proc.stdout
    # nothing of the first run is left to be taken for this one's: no best, no averaged G, no validation history
    assert not (folder / "best_checkpoint.pth").exists() and not (folder / "validation.jsonl").exists()
    assert not (folder / "val").exists() and (folder / "notes.txt").read_text() == "mine"
    state = torch.load(folder / "latest_checkpoint.pth", weights_only=True)
    assert state["options"]["lr"] == 0.001 and "G_ema" not in state["nets"]
    line = one_line_error(run_cli("test.py", "--dataroot", synth32, "--name", "r", "--checkpoints_dir", tmp_path,
                                  "--epoch", "best", "--results_dir", tmp_path / "results"))
    assert "no checkpoint" in line and "best_checkpoint.pth" in line
    logged = [json.loads(line) for line in (folder / "loss_log.jsonl").read_text().splitlines()]
    assert logged and {r["lr"] for r in logged} == {0.001}  # the earlier run's lines (at 0.0002) are gone


@pytest.mark.slow
def test_a_run_that_stops_training_d_keeps_it_for_a_later_one(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "r", "--checkpoints_dir", tmp_path,
            "--n_epochs_decay", "0"]
    run_cli(*args, "--n_epochs", "1", check=True)
    latest = tmp_path / "r" / "latest_checkpoint.pth"
    trained_d = torch.load(latest, weights_only=True)["nets"]["D"]
    run_cli(*args, "--continue_train", "--n_epochs", "2", "--lambda_GAN", "0", check=True)
    kept = torch.load(latest, weights_only=True)["nets"]
    assert all(torch.equal(kept["D"][k], v) for k, v in trained_d.items())  # carried, untouched
    proc = run_cli(*args, "--continue_train", "--n_epochs", "3", "--lambda_GAN", "1", check=True)
    assert "--lambda_GAN 1.0 (was 0.0)" in proc.stdout
    assert not all(torch.equal(torch.load(latest, weights_only=True)["nets"]["D"][k], v)
                   for k, v in trained_d.items())  # trained again


# ---- values read from a checkpoint or an opt.json ----------------------------------------------------------------

def upstream_experiment(folder, options: dict):
    """upstream-format weights of a tiny resnet_6blocks generator with an opt.json written by hand."""
    from argparse import Namespace

    from models.networks import define_G

    net = define_G(Namespace(netG="resnet_6blocks", input_nc=3, output_nc=3, ngf=8, norm="batch", no_dropout=False,
                             dropout_rate=0.5, upsample="transpose", init_type="normal", init_gain=0.02))
    (folder / "up").mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), folder / "up" / "latest_net_G.pth")
    (folder / "up" / "opt.json").write_text(json.dumps(options))
    return ["test.py", "--name", "up", "--checkpoints_dir", folder, "--results_dir", folder / "results"]


@pytest.mark.parametrize("options, expect", [
    ({"netG": "resnet_6block", "ngf": 8}, "netG is 'resnet_6block', not one of unet_128, unet_256, resnet_6blocks"),
    ({"netG": "resnet_6blocks", "ngf": "8x"}, "ngf '8x' is not a valid --ngf"),
    ({"netG": "resnet_6blocks", "ngf": 8, "norm": "batchnorm"}, "norm is 'batchnorm', not one of batch"),
    ({"netG": "resnet_6blocks", "ngf": 8, "no_dropout": "yes"}, "no_dropout is 'yes', not true or false"),
    ({"netG": "resnet_6blocks", "ngf": 8, "crop_size": None}, "crop_size is null, not a valid --crop_size"),
])
def test_a_hand_written_opt_json_is_checked_as_the_command_line_is(options, expect, synth32, tmp_path):
    line = one_line_error(run_cli(*upstream_experiment(tmp_path, options), "--dataroot", synth32))
    assert expect in line and str(tmp_path / "up" / "opt.json") in line


def test_an_opt_json_with_numbers_as_text_and_a_misspelt_name_works_and_says_so(synth32, tmp_path):
    proc = run_cli(*upstream_experiment(tmp_path, {"netG": "resnet_6blocks", "ngf": "8", "nfg": 8}),
                   "--dataroot", synth32, check=True)
    assert "opt.json: nfg is no option of test.py, ignored (a misspelt name?)" in proc.stderr


@pytest.mark.parametrize("flags, expect", [
    (["--no_dropout"], "was trained without --no_dropout: leave out --no_dropout as in training"),
    (["--label_nc", "12"], "was trained on 3 input channels (--label_nc 0), not 12: give --label_nc and --dontcare"),
])
def test_architecture_mismatches_name_the_flag_to_give(flags, expect, tiny_checkpoint, synth32, tmp_path):
    line = one_line_error(run_cli("test.py", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, "--dataroot",
                                  synth32, "--results_dir", tmp_path, *flags))
    assert expect in line


def test_every_absent_value_is_a_value_of_its_flag():
    """Generated: what a checkpoint older than a flag is taken to have been trained with must be a valid value."""
    for model in models.MODELS:
        parser = train_parser(model)
        for dest, value in parser.absent_values().items():
            action = next(a for a in parser._actions if a.dest == dest)
            assert (action.type(str(value)) if action.type else value) == value, (model, dest)


def test_a_checkpoint_older_than_a_flag_resumes_as_it_was_trained(monkeypatch):
    """pix2pix_projected now sees photos at 224 px (--projected_size); a run saved before the flag existed saw them
    at their own size, and resumes so; asking it for 224 px is a change of a refused option."""
    saved = {"model": "pix2pix_projected", "netD": "basic,projected", "explicit": ["model"]}
    monkeypatch.setattr(TrainOptions, "saved_options", lambda self, opt: (saved, Path("old_checkpoint.pth")))
    argv = ["--dataroot", "unused", "--gpu_ids", "-1", "--model", "pix2pix_projected"]
    assert TrainOptions().parse(argv).projected_size == 224  # a new run: the preset's value
    options = TrainOptions()
    assert options.parse([*argv, "--continue_train"]).projected_size == 0 and not options.changed
    with pytest.raises(UserError, match="was trained with --projected_size 0, and a resumed run keeps that"):
        TrainOptions().parse([*argv, "--continue_train", "--projected_size", "224"])
