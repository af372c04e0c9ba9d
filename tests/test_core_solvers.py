"""Solver parameters: initial values, gradients, and PCformer against the released pseudocode."""
import pytest
import torch

from iiet_plugin.ode import (EMAWeights, GatedWeights, LearnableWeights, ODEConfig, PCHistory)
from iiet_plugin.ode.reference import ReferenceStack

ALL_SOLVERS = [
    ("euler", None), ("iie", None), ("rk2", "standard"), ("rk2", "gated"), ("rk2", "learnable"),
    ("rk2", "ema"), ("rk4", "standard"), ("rk4", "ema"), ("pc", None),
]


def test_initial_coefficients():
    gate = GatedWeights(8)
    assert torch.equal(gate.gate.bias, torch.zeros(1))
    zeros = torch.zeros(3, 8)
    assert torch.allclose(gate.gate_value(zeros, zeros), torch.full((3, 1), 0.5))
    small = 1e-3 * torch.randn(5, 8)
    assert torch.allclose(gate.gate_value(small, small), torch.full((5, 1), 0.5), atol=1e-3)
    assert torch.equal(LearnableWeights(2).coefficients.data, torch.ones(2))
    ema2 = EMAWeights(2)
    assert ema2.alpha.item() == 0.5
    assert [w.item() for w in ema2.weights()] == [0.25, 0.5]
    ema4 = EMAWeights(4)
    assert [w.item() for w in ema4.weights()] == [0.0625, 0.125, 0.25, 0.5]


def test_history_weights_start_uniform_lower_triangular():
    hist = PCHistory(num_layers=4, dim=8, order=2)
    for W in (hist.weight, hist.corrector_weight):
        for t in range(4):
            row = (W * hist.mask)[t]
            assert torch.allclose(row[: t + 2], torch.full((t + 2,), 1.0 / (t + 2)))
            assert torch.all(row[t + 2:] == 0)
    assert len(hist.stage_norms) == 2 and len(hist.pred_norms) == 4 and len(hist.corr_norms) == 4


@pytest.mark.parametrize("solver,coef", ALL_SOLVERS)
def test_gradients_reach_every_parameter(solver, coef):
    stack = ReferenceStack(ODEConfig(solver=solver, coef=coef, iters=2), num_layers=3)
    x = torch.randn(2, 5, 16)
    stack(x).pow(2).sum().backward()
    missing = [n for n, p in stack.named_parameters() if p.grad is None]
    assert not missing, missing
    zero = [n for n, p in stack.named_parameters() if p.grad.abs().sum() == 0]
    assert zero == [], zero


@pytest.mark.parametrize("order", [2, 4])
def test_pc_matches_released_pseudocode(order):
    torch.manual_seed(3)
    stack = ReferenceStack(ODEConfig(solver="pc", pc_predictor=f"rk{order}"), num_layers=3)
    # move every parameter off its init so a wrong index cannot hide behind symmetry
    with torch.no_grad():
        for p in stack.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 4, 16)
    hist = stack.pc_history
    W = hist.weight * hist.mask
    Wc = hist.corrector_weight * hist.mask
    scales = {2: [1.0], 4: [0.5, 0.5, 1.0]}[order]
    entries = [x]
    h = x
    for t, layer in enumerate(stack.layers):
        L = lambda z: layer.stage(z, z, 0)  # noqa: E731  full layer
        a = layer.ode.predictor_weights.alpha
        res, z, F = h, h, []
        for j in range(order):
            F.append(hist.stage_norms[j](L(z)))
            if j < order - 1:
                z = res + scales[j] * F[-1]
        P = res + sum(a * (1 - a) ** (order - 1 - j) * F[j] for j in range(order))
        entries.append(hist.pred_norms[t](P))
        c = sum(W[t, j] * entries[j] for j in range(t + 2))
        C = L(c)
        entries[-1] = hist.corr_norms[t](C)
        h = sum(Wc[t, j] * entries[j] for j in range(t + 2))
    expected = stack.norm(h)
    assert torch.allclose(stack(x), expected, atol=1e-6)
