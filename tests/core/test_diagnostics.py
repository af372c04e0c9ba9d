"""The core's diagnostics against hand computation: the fixed-point residual of a linear layer
(a contraction, so the residual falls geometrically with the iteration), the loss when every
layer stops after iteration i, and gradient norms per layer."""
import pytest
import torch
from torch import nn

from iiet_plugin.ode import ODEBlock, ODEConfig, build_solver, plan_of
from iiet_plugin.ode.diagnostics import fixed_point_residuals, gradient_norms, layer_gradient_norms, loss_by_iteration
from iiet_plugin.ode.reference import ReferenceStack


class LinearStage(nn.Module):
    def __init__(self, A):
        super().__init__()
        self.A = nn.Parameter(A)

    def forward(self, z, base, slot):
        g = z @ self.A.T
        return g if base is None else base + g


def _linear_iie(iters, scale=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64)
    A = scale * A / torch.linalg.matrix_norm(A, ord=2)
    solver = build_solver(ODEConfig(solver="iie", iters=iters).validated(1), 0, dim=4, iters=iters)
    return ODEBlock(LinearStage(A), solver), A


def test_residual_of_a_linear_contraction_matches_hand_computation():
    block, A = _linear_iie(iters=3)
    y = torch.randn(5, 4, dtype=torch.float64)
    iterates = [y + y @ A.T]
    for _ in range(3):
        iterates.append(y + iterates[-1] @ A.T)
    expected = [((iterates[i] - iterates[i - 1]).norm(dim=-1) / (iterates[i] - y).norm(dim=-1)).mean().item()
                for i in (1, 2, 3)]
    rho = fixed_point_residuals(block, [block.ode], [y], lambda batch, recorder: block(batch))
    assert len(rho) == 1 and len(rho[0]) == 3
    for got, want in zip(rho[0], expected):
        assert abs(got - want) < 1e-6  # the recorder returns float32 scores
    assert rho[0][0] > rho[0][1] > rho[0][2]  # ||A|| = 0.5 < 1: the iteration converges


def test_loss_by_iteration_runs_each_count_and_restores_the_plan():
    torch.manual_seed(0)
    stack = ReferenceStack(ODEConfig(solver="iie", layer_iters="2,1"), num_layers=2, dim=8, heads=2, ffn_dim=16).eval()
    solvers = [layer.ode for layer in stack.layers]
    x = torch.randn(2, 3, 8)
    seen = []

    def run(batch):
        seen.append(tuple(s.iters for s in solvers))
        return stack(batch).pow(2).sum(), batch.numel() // 8

    losses = loss_by_iteration(solvers, [x], run)
    assert seen == [(0, 0), (1, 1), (2, 1)]  # layer 2 runs at most its own r = 1
    assert plan_of(solvers).iters == (2, 1)
    with torch.no_grad():
        assert abs(losses[-1] - stack(x).pow(2).sum().item() / 6) < 1e-6


def test_gradient_norms_per_layer():
    a, b = nn.Linear(3, 2), nn.Linear(2, 1)
    model = nn.Sequential(a, b)
    x = torch.randn(4, 3)
    norms = layer_gradient_norms(model, [a, b], lambda: model(x).sum())
    model(x).sum().backward()
    want = [torch.cat([p.grad.flatten() for p in m.parameters()]).norm().item() for m in (a, b)]
    assert norms == [pytest.approx(w, rel=1e-6) for w in want]
    model.zero_grad(set_to_none=True)
    assert gradient_norms([a]) == [0.0]



def test_loss_by_iteration_takes_the_callers_full_plan_loss_without_rerunning_it():
    torch.manual_seed(0)
    stack = ReferenceStack(ODEConfig(solver="iie", iters=2), num_layers=2, dim=8, heads=2, ffn_dim=16).eval()
    solvers = [layer.ode for layer in stack.layers]
    seen = []

    def run(batch):
        seen.append(tuple(s.iters for s in solvers))
        return stack(batch).sum(), 1

    losses = loss_by_iteration(solvers, [torch.randn(1, 3, 8)], run, last=-7.0)
    assert seen == [(0, 0), (1, 1)] and losses[-1] == -7.0 and len(losses) == 3
    assert plan_of(solvers).iters == (2, 2)


@pytest.mark.parametrize("solver", ["rk2", "pc", "euler"])
def test_residuals_of_stages_that_are_no_iterates_are_empty_rows(solver):
    stack = ReferenceStack(ODEConfig(solver=solver), num_layers=3, dim=8, heads=2, ffn_dim=16).eval()
    solvers = [layer.ode for layer in stack.layers]
    calls = []
    rho = fixed_point_residuals(stack, solvers, [torch.randn(1, 3, 8)], lambda b, r: calls.append(b))
    assert rho == [[], [], []] and calls == []  # nothing run: RK / PC stages are no fixed-point iterates
