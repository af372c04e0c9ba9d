"""iiet_lm with r = 0 is fairseq's pre-norm transformer_lm (names, shapes, outputs); the
two-stage schedule; --restore-file from a vanilla checkpoint."""
import re

import pytest
import torch

from fairseq_helpers import TRAIN_FLAGS, USER_DIR, build_lm, run_cli

TINY_SIZES = ["--decoder-embed-dim", "64", "--decoder-ffn-embed-dim", "128", "--decoder-layers", "2",
              "--decoder-attention-heads", "2"]


@pytest.fixture(scope="module")
def vanilla_checkpoint(lm_data):
    """A tiny fairseq transformer_lm (pre-norm, as its presets are) trained by fairseq itself."""
    save = lm_data / "vanilla"
    run_cli("fairseq-train", str(lm_data / "bin"), "--arch", "transformer_lm", *TINY_SIZES, "--decoder-normalize-before",
            "--decoder-input-dim", "64", "--decoder-output-dim", "64",
            "--max-update", "10", "--save-dir", str(save), *TRAIN_FLAGS)
    return save / "checkpoint_last.pt"


@pytest.mark.parametrize("solver", ["iie", "euler"])
def test_vanilla_checkpoint_loads_strictly_and_outputs_match(lm_data, vanilla_checkpoint, solver):
    from fairseq import checkpoint_utils
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([str(vanilla_checkpoint)])
    vanilla = models[0].eval()
    ours, _, _ = build_lm("--ode-solver", solver, "--iie-iters", "0", "--share-decoder-input-output-embed",
                          num_words=len(task.dictionary) - 4)
    ours.eval()
    theirs = vanilla.state_dict()
    mine = ours.state_dict()
    # the same parameters; ours adds the dictionary fingerprint buffer, which fairseq's
    # loading fills in (with a warning) for checkpoints that have none
    assert sorted(mine) == sorted(list(theirs) + ["decoder.dictionary_fingerprint"])
    assert all(mine[k].shape == theirs[k].shape for k in theirs)
    ours.load_state_dict(theirs, strict=True)
    tokens = torch.randint(4, len(task.dictionary), (3, 17))
    with torch.no_grad():
        assert torch.equal(ours(tokens)[0], vanilla(tokens)[0])


def test_restore_file_from_vanilla(lm_data, vanilla_checkpoint, tmp_path):
    out = run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny",
                  "--ode-solver", "iie", "--iie-iters", "2", "--restore-file", str(vanilla_checkpoint),
                  "--reset-optimizer", "--reset-dataloader", "--reset-meters", "--reset-lr-scheduler",
                  "--max-update", "3", "--save-dir", str(tmp_path), *TRAIN_FLAGS)
    assert "Loaded checkpoint" in out, out[-2000:]
    assert "done training" in out


def test_two_stage_schedule_in_process():
    model, _, _ = build_lm("--ode-solver", "iie", "--iie-layer-iters", "2,1", "--iie-start-update", "5")
    assert model.plan().to_string() == "2,1"  # inference: the configured plan
    model.train()
    model(torch.randint(4, 40, (2, 5)))
    assert model.plan().to_string() == "0,0"  # training starts in the vanilla stage
    model.set_num_updates(4)
    assert model.plan().to_string() == "0,0"
    model.set_num_updates(5)
    assert model.plan().to_string() == "2,1"


def test_two_stage_schedule_survives_resume(lm_data, tmp_path):
    flags = [str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny", "--ode-solver", "iie",
             "--iie-iters", "1", "--iie-start-update", "6", "--save-dir", str(tmp_path), *TRAIN_FLAGS,
             "--save-interval-updates", "4"]
    first = run_cli("fairseq-train", *flags, "--max-update", "4")
    assert not re.search(r"plan 1,1", first), first[-2000:]
    second = run_cli("fairseq-train", *flags, "--max-update", "8")
    assert re.search(r"two-stage schedule: update 4, plan 0,0", second), second[-3000:]  # resumed in the warm-up
    switch = re.search(r"two-stage schedule: update (\d+), plan 1,1", second)
    assert switch and int(switch.group(1)) == 6, second[-3000:]
