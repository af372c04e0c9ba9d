"""Exact incremental decoding of iiet_lm: token-by-token equals the full forward."""
import pytest
import torch

from fairseq_helpers import build_lm

SETTINGS = [
    ("euler", []),
    ("iie", ["--iie-iters", "2"]),
    ("iie", ["--iie-layer-iters", "2,0"]),
    ("rk2", ["--ode-coef", "standard"]),
    ("rk2", ["--ode-coef", "gated"]),
    ("rk2", ["--ode-coef", "learnable"]),
    ("rk2", ["--ode-coef", "ema"]),
    ("rk4", ["--ode-coef", "standard"]),
    ("rk4", ["--ode-coef", "ema"]),
    ("pc", ["--pc-predictor", "rk2"]),
    ("pc", ["--pc-predictor", "rk4"]),
]


def _model(solver, flags):
    model, task, _ = build_lm("--ode-solver", solver, *flags, "--dropout", "0")
    with torch.no_grad():  # move learnable coefficients off their init
        for n, p in model.named_parameters():
            if "ode" in n:
                p.add_(0.05 * torch.randn_like(p))
    return model.eval(), task


def _tokens(task, batch, length, gen):
    d = task.dictionary
    return torch.randint(d.nspecial, len(d), (batch, length), generator=gen)


def _step(model, tokens, state):
    return model.decoder(tokens, incremental_state=state)[0][:, -1]


@pytest.mark.parametrize("solver,flags", SETTINGS, ids=[f"{s}{''.join(f)}" for s, f in SETTINGS])
def test_incremental_equals_full_forward(solver, flags):
    model, task = _model(solver, flags)
    gen = torch.Generator().manual_seed(7)
    for length in torch.randint(3, 12, (2,), generator=gen).tolist():
        tokens = _tokens(task, 3, length, gen)
        with torch.no_grad():
            full = model(tokens)[0]
            state = {}
            steps = torch.stack([_step(model, tokens[:, : t + 1], state) for t in range(length)], 1)
        assert torch.allclose(steps, full, atol=1e-5, rtol=0), (steps - full).abs().max()


@pytest.mark.parametrize("solver,flags", SETTINGS, ids=[f"{s}{''.join(f)}" for s, f in SETTINGS])
def test_incremental_after_beam_reorder(solver, flags):
    """Decode 2 rows, reorder to repeat row 1 (as beam search does), continue, compare."""
    model, task = _model(solver, flags)
    gen = torch.Generator().manual_seed(11)
    first = _tokens(task, 2, 4, gen)
    rest = _tokens(task, 2, 5, gen)
    new_order = torch.tensor([1, 1])
    resumed = torch.cat([first[new_order], rest], dim=1)
    with torch.no_grad():
        state = {}
        for t in range(first.size(1)):
            _step(model, first[:, : t + 1], state)
        model.decoder.reorder_incremental_state_scripting(state, new_order)
        steps = [_step(model, resumed[:, : t + 1], state) for t in range(first.size(1), resumed.size(1))]
        full = model(resumed)[0][:, first.size(1):]
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5, rtol=0)


def test_per_iter_uses_one_cache_per_evaluation():
    model, task = _model("iie", ["--iie-layer-iters", "2,0"])
    state = {}
    with torch.no_grad():
        _step(model, _tokens(task, 1, 1, torch.Generator().manual_seed(0)), state)
    per_layer = [sum(1 for k in state if k.startswith(layer.self_attn._incremental_state_id)) for layer in model.decoder.layers]
    assert per_layer == [3, 1]


@pytest.mark.parametrize("solver", ["iie", "pc"])
def test_shared_final_runs_and_keeps_one_cache(solver):
    """shared_final is approximate by design: it runs, keeps one cache per layer, and the
    first step (no past) still equals the full forward."""
    model, task = _model(solver, ["--kv-cache-mode", "shared_final"] + (["--iie-iters", "2"] if solver == "iie" else []))
    tokens = _tokens(task, 2, 6, torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = model(tokens)[0]
        state = {}
        steps = torch.stack([_step(model, tokens[:, : t + 1], state) for t in range(6)], 1)
    assert torch.isfinite(steps).all()
    assert torch.allclose(steps[:, 0], full[:, 0], atol=1e-5)
    for layer in model.decoder.layers:
        assert sum(1 for k in state if k.startswith(layer.self_attn._incremental_state_id)) == 1
