"""The baselines' released forms reach the fairseq models through the generated fields
(LM: --ode-stage ...; MT per side: --encoder-pc-form ...)."""
import pytest
import torch

from fairseq_helpers import build_lm, build_mt
from iiet_plugin.ode import ConfigError


def test_lm_rk_release_form_and_shared_alpha():
    model, _, _ = build_lm("--ode-solver", "rk2", "--ode-coef", "ema", "--ode-stage", "layer",
                           "--ode-ema-sharing", "stack", "--dropout", "0")
    solvers = model.solvers()
    assert all(s.whole_layer for s in solvers) and all(s.weights is solvers[0].weights for s in solvers)
    tokens = torch.randint(4, 40, (2, 7))
    model(tokens)[0].sum().backward()
    assert solvers[0].weights.alpha.grad is not None


def test_mt_pc_encoder_release_form_per_side():
    model, _, _ = build_mt("--encoder-ode-solver", "pc", "--encoder-pc-form", "mt", "--decoder-ode-solver", "pc")
    assert len(model.encoder.layers[0].ode.stage_norms) == 0  # MT release: raw stage outputs
    assert len(model.decoder.layers[0].ode.stage_norms) == 2  # LM release form (default)
    out = model(torch.randint(4, 40, (2, 5)), torch.tensor([5, 5]), torch.randint(4, 40, (2, 6)))[0]
    assert out.shape == (2, 6, 44) and torch.isfinite(out).all()


def test_release_flags_refused_where_ignored():
    with pytest.raises(ConfigError, match="encoder_ode_solver=iie ignores encoder_pc_form=mt"):
        build_mt("--encoder-ode-solver", "iie", "--encoder-pc-form", "mt")
