"""Solver parameters: initial values, gradients, and PCformer against the released pseudocode."""
import pytest
import torch

from iiet_plugin.ode import EMAWeights, GatedWeights, LearnableWeights, ODEConfig, PCSolver
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
    """Row t of W and Wc has t + 2 entries (embedding + layers 0..t), each 1 / (t + 2)."""
    stack = ReferenceStack(ODEConfig(solver="pc"), num_layers=4)
    solvers = [layer.ode for layer in stack.layers]
    for t, s in enumerate(solvers):
        assert isinstance(s, PCSolver)
        for row in (s.history_weight, s.output_weight):
            assert row.shape == (t + 2,)
            assert torch.allclose(row, torch.full((t + 2,), 1.0 / (t + 2)))
    assert all(s.stage_norms is solvers[0].stage_norms for s in solvers)  # shared by all layers
    assert len(solvers[0].stage_norms) == 2


@pytest.mark.parametrize("solver,coef", ALL_SOLVERS)
def test_gradients_reach_every_parameter(solver, coef):
    stack = ReferenceStack(ODEConfig(solver=solver, coef=coef, iters=2 if solver == "iie" else 1), num_layers=3)
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
    stage_norms = stack.layers[0].ode.stage_norms
    scales = {2: [1.0], 4: [0.5, 0.5, 1.0]}[order]
    entries = [x]
    h = x
    for t, layer in enumerate(stack.layers):
        L = lambda z: layer.stage(z, z, 0)  # noqa: E731  full layer
        pc = layer.ode
        a = pc.predictor_weights.alpha
        res, z, F = h, h, []
        for j in range(order):
            F.append(stage_norms[j](L(z)))
            if j < order - 1:
                z = res + scales[j] * F[-1]
        P = res + sum(a * (1 - a) ** (order - 1 - j) * F[j] for j in range(order))
        entries.append(pc.pred_norm(P))
        c = sum(pc.history_weight[j] * entries[j] for j in range(t + 2))
        C = L(c)
        entries[-1] = pc.corr_norm(C)
        h = sum(pc.output_weight[j] * entries[j] for j in range(t + 2))
    expected = stack.norm(h)
    assert torch.allclose(stack(x), expected, atol=1e-6)
