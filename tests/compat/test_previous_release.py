"""Checkpoints written by the previous release (0.1.0, commit ad9946d: tiny models trained a few
updates there, with their outputs on fixed inputs) load in this one and give the same outputs."""
import os

import pytest
import torch

from conftest import ROOT

HERE = os.path.join(ROOT, "tests", "data", "release_0_1_0")
EXPECTED = torch.load(os.path.join(HERE, "expected.pt"), weights_only=True)


@pytest.mark.parametrize("name,overrides", [("lm_pc", {"data": "lm-bin"}),
                                            ("mt_rk2_iie", {"data": "mt-bin", "source_lang": "en", "target_lang": "de"})])
def test_fairseq_checkpoints_of_the_previous_release(name, overrides):
    """(Only the dictionaries of the data are kept: a model needs nothing else to load.)"""
    from iiet_plugin.seq.checkpoints import load_checkpoint
    overrides = dict(overrides, data=os.path.join(HERE, overrides["data"]))
    models, cfg, _ = load_checkpoint(os.path.join(HERE, f"{name}.pt"), arg_overrides=overrides)
    model = models[0].eval()
    tokens = EXPECTED["inputs"]["tokens"]
    with torch.no_grad():
        out = model(tokens)[0] if name == "lm_pc" else model(tokens, torch.tensor([7, 7]), tokens[:, :5])[0]
    assert torch.allclose(out, EXPECTED["outputs"][name], atol=1e-5)
    assert cfg.model.ode_stage == "branch" if name == "lm_pc" else cfg.model.decoder_iie_layer_iters == "2,1"


def test_vision_checkpoint_of_the_previous_release():
    from iiet_plugin.vision.checkpoints import model_from_checkpoint, read_checkpoint
    model = model_from_checkpoint(read_checkpoint(os.path.join(HERE, "vit_pc.pt"), "checkpoint"), 10, 1).eval()
    with torch.no_grad():
        out = model(EXPECTED["inputs"]["images"])
    assert torch.allclose(out, EXPECTED["outputs"]["vit_pc"], atol=1e-5)
    assert model.ode_cfg.pc_form == "lm" and model.ode_cfg.ema_sharing == "layer"
