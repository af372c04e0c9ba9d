"""The core against known mathematics: linear ODEs, implicit Euler, vanilla equivalence."""
import math

import pytest
import torch
from torch import nn

from iiet_plugin.ode import ODEBlock, ODEConfig, Recorder, build_solver
from iiet_plugin.ode.reference import PreNormStage, ReferenceStack


class LinearStage(nn.Module):
    """G(z) = h A z, the layer of the linear ODE y' = A y with step h."""

    def __init__(self, A, h):
        super().__init__()
        self.A, self.h = A, h

    def forward(self, z, base, slot):
        g = self.h * (z @ self.A.T)
        return g if base is None else base + g


def _matrix(seed=0, n=4):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    return A / torch.linalg.matrix_norm(A, ord=2)  # spectral norm 1


def _solver(name, coef="standard", iters=0):
    """``run(stage, y)``: one layer of solver ``name`` around a stage module."""
    cfg = ODEConfig(solver=name, coef=coef, iters=iters).validated(1)
    solver = build_solver(cfg, 0, dim=4, iters=iters)
    return lambda stage, y: ODEBlock(stage, solver)(y)


@pytest.mark.parametrize("name,order", [("rk2", 2), ("rk4", 4)])
def test_rk_local_error_order(name, order):
    A = _matrix()
    y = torch.randn(3, 4, dtype=torch.float64)
    solver = _solver(name)
    steps = [0.2, 0.1, 0.05, 0.025]
    errors = []
    for h in steps:
        exact = y @ torch.linalg.matrix_exp(h * A).T
        errors.append((solver(LinearStage(A, h), y) - exact).norm().item())
    slopes = [math.log(errors[i] / errors[i + 1]) / math.log(steps[i] / steps[i + 1]) for i in range(len(steps) - 1)]
    # local error O(h^(order+1))
    for s in slopes:
        assert abs(s - (order + 1)) < 0.15, slopes


def test_euler_local_error_order_two():
    A = _matrix(1)
    y = torch.randn(3, 4, dtype=torch.float64)
    errs = [(_solver("euler")(LinearStage(A, h), y) - y @ torch.linalg.matrix_exp(h * A).T).norm().item() for h in (0.1, 0.05)]
    assert abs(math.log2(errs[0] / errs[1]) - 2) < 0.15


def test_iie_converges_geometrically_to_implicit_euler():
    A = _matrix(2)
    h = 0.4  # ||hA|| = 0.4 < 1: the fixed-point map is a contraction
    y = torch.randn(3, 4, dtype=torch.float64)
    implicit = y @ torch.linalg.inv(torch.eye(4, dtype=torch.float64) - h * A).T
    errors = [( _solver("iie", iters=r)(LinearStage(A, h), y) - implicit).norm().item() for r in range(8)]
    for r in range(len(errors) - 1):
        assert errors[r + 1] <= h * errors[r] * (1 + 1e-9), errors  # contraction by ||hA||
    assert errors[-1] < 1e-3 * errors[0]


def test_iie_zero_is_euler_bit_for_bit_on_a_transformer_block():
    stage = PreNormStage(dim=16, heads=2, ffn_dim=32).eval()
    x = torch.randn(2, 7, 16)
    euler = _solver("euler")(stage, x)
    iie0 = _solver("iie", iters=0)(stage, x)
    assert torch.equal(euler, iie0)
    # and both are the vanilla pre-norm layer as a user would write it
    q = stage.norm1(x)
    h = x + stage.attn(q, q, q, need_weights=False)[0]
    vanilla = h + stage.mlp(stage.norm2(h))
    assert torch.equal(euler, vanilla)


def test_iie_stacks_equal_euler_stacks_with_shared_weights():
    torch.manual_seed(1)
    euler = ReferenceStack(ODEConfig(solver="euler"), num_layers=3).eval()
    iie = ReferenceStack(ODEConfig(solver="iie", iters=0), num_layers=3).eval()
    iie.load_state_dict(euler.state_dict(), strict=True)
    x = torch.randn(2, 5, 16)
    assert torch.equal(euler(x), iie(x))


def test_iie_output_is_last_iterate_with_shared_weights():
    stage = PreNormStage(16, 2, 32).eval()
    y = torch.randn(2, 4, 16)
    z = stage(y, y, 0)
    for _ in range(3):
        z = stage(z, y, 0)
    assert torch.allclose(_solver("iie", iters=3)(stage, y), z, atol=0, rtol=0)


def test_relaxation_mixes_iterates():
    A = _matrix(3)
    y = torch.randn(2, 4, dtype=torch.float64)
    stage = LinearStage(A, 0.3)
    cfg = ODEConfig(solver="iie", iters=1, iie_relaxation=0.5).validated(1)
    out = ODEBlock(stage, build_solver(cfg, 0, 4, 1))(y)
    y0 = stage(y, y, 0)
    assert torch.allclose(out, 0.5 * stage(y0, y, 1) + 0.5 * y0)


class SlotSpy(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, z, base, slot):
        self.seen.append(slot)
        return z if base is None else base + 0 * z


def test_stage_slots_are_distinct_per_evaluation():
    y = torch.zeros(1, 2)
    for name, kwargs in (("iie", {"iters": 3}), ("rk4", {})):
        spy = SlotSpy()
        _solver(name, **kwargs)(spy, y)
        assert spy.seen == [0, 1, 2, 3]


def test_recorder_captures_every_iterate_and_is_off_by_default():
    stack = ReferenceStack(ODEConfig(solver="iie", iters=2), num_layers=2).eval()
    x = torch.randn(1, 3, 16)
    rec = Recorder()
    out = stack(x, recorder=rec)
    assert torch.equal(out, stack(x))
    assert sorted(rec.outputs) == [0, 1]
    assert all(len(v) == 3 for v in rec.outputs.values())
    assert torch.equal(rec.inputs[0], x)


def test_rk_stage_inputs_follow_classical_tableau():
    """rk4 evaluates at y, y+F1/2, y+F2/2, y+F3 and combines 1/6, 2/6, 2/6, 1/6."""
    A = _matrix(4)
    y = torch.randn(2, 4, dtype=torch.float64)
    G = LinearStage(A, 0.3)
    f1 = G(y, None, 0)
    f2 = G(y + f1 / 2, None, 1)
    f3 = G(y + f2 / 2, None, 2)
    f4 = G(y + f3, None, 3)
    expected = y + (f1 + 2 * f2 + 2 * f3 + f4) / 6
    assert torch.allclose(_solver("rk4")(G, y), expected)
    g1 = G(y, None, 0)
    g2 = G(y + g1, None, 1)
    assert torch.allclose(_solver("rk2")(G, y), y + 0.5 * g1 + 0.5 * g2)
