import pytest

from iiet_plugin.ode import IterationPlan, ODEConfig, build_stack, evaluations, plan_of, set_plan


def test_uniform_and_string_round_trip():
    plan = IterationPlan.parse("2,2,1,0", 4)
    assert plan.iters == (2, 2, 1, 0)
    assert plan.to_string() == "2,2,1,0"
    assert IterationPlan.parse(plan.to_string(), 4) == plan
    assert IterationPlan.parse(3, 4).iters == (3, 3, 3, 3)
    assert IterationPlan.parse("3", 4).iters == (3, 3, 3, 3)
    assert IterationPlan.parse([1, 0], 2).iters == (1, 0)


def test_cost_counts_layer_evaluations():
    plan = IterationPlan.parse("2,2,1,0", 4)
    assert plan.evaluations == 3 + 3 + 2 + 1
    assert plan.relative_cost(2) == pytest.approx(9 / 12)
    assert plan.relative_cost(0) == pytest.approx(9 / 4)
    assert IterationPlan.parse(0, 6).relative_cost(0) == 1.0


@pytest.mark.parametrize("spec,match", [
    ("2,2,1", "3 entries but the model has 4 layers"),
    ("2,2,1,0,1", "5 entries"),
    ("2,x,1,0", "non-negative integers"),
    ("2,1.5,1,0", "non-negative integers"),
    ([2, 2, 1, 0.5], "non-negative integers"),
    ("2,-1,1,0", ">= 0"),
    (-1, ">= 0"),
    ("", "empty plan"),
])
def test_bad_plans_name_the_option(spec, match):
    with pytest.raises(ValueError, match=match) as err:
        IterationPlan.parse(spec, 4, option="iie_layer_iters")
    assert "iie_layer_iters" in str(err.value)


def test_config_errors_name_option_and_allowed_values():
    with pytest.raises(ValueError, match=r"ode_solver.*'rk3'.*euler, rk2, rk4, pc, iie"):
        ODEConfig(solver="rk3").validated(2)
    with pytest.raises(ValueError, match=r"ode_coef.*'gated'.*standard, ema"):
        ODEConfig(solver="rk4", coef="gated").validated(2)
    with pytest.raises(ValueError, match=r"ode_coef.*allowed values: standard, gated, learnable, ema"):
        ODEConfig(solver="rk2", coef="bogus").validated(2)
    with pytest.raises(ValueError, match=r"pc_predictor.*rk2, rk4"):
        ODEConfig(solver="pc", pc_predictor="rk3").validated(2)
    with pytest.raises(ValueError, match=r"iie_iters.*>= 0"):
        ODEConfig(solver="iie", iters=-1).validated(2)
    with pytest.raises(ValueError, match=r"^iie_layer_iters: the plan has 3 entries.*2 layers"):
        ODEConfig(solver="iie", layer_iters="1,1,1").validated(2)
    with pytest.raises(ValueError, match=r"encoder_iie_layer_iters"):
        ODEConfig(solver="iie", layer_iters="1,a").validated(2, prefix="encoder_")
    with pytest.raises(ValueError, match=r"iie_relaxation"):
        ODEConfig(solver="iie", iie_relaxation=0.0).validated(2)


def test_stack_plan_get_set():
    _, solvers = build_stack(ODEConfig(solver="iie", iters=2), 4, 8)
    assert plan_of(solvers).iters == (2, 2, 2, 2)
    assert evaluations(solvers) == 12
    set_plan(solvers, "2,1,1,0")
    assert plan_of(solvers).to_string() == "2,1,1,0"
    assert evaluations(solvers) == 8
    _, rk = build_stack(ODEConfig(solver="rk2"), 2, 8)
    with pytest.raises(ValueError, match="ode_solver=iie"):
        set_plan(rk, "1,0")
    assert evaluations(rk) == 4
