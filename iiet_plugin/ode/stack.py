"""Stack-level bookkeeping shared by the hosts: one solver per layer, the PC history,
and the iteration plan (read, replaced, or temporarily zeroed for the two-stage schedule)."""
from typing import List, Optional, Sequence, Tuple

from torch import nn

from .config import ODEConfig
from .history import PCHistory
from .plan import IterationPlan, PlanSpec
from .solvers import IIESolver, ODESolver, build_solver


def build_stack(cfg: ODEConfig, num_layers: int, dim: int, prefix: str = "") -> Tuple[ODEConfig, List[ODESolver], Optional[PCHistory]]:
    """Validate ``cfg`` and build each layer's solver and, for ``pc``, the shared history."""
    cfg = cfg.validated(num_layers, prefix)
    plan = cfg.plan(num_layers, prefix)
    solvers = [build_solver(cfg, i, dim, plan.iters[i]) for i in range(num_layers)]
    history = PCHistory(num_layers, dim, int(cfg.pc_predictor[-1])) if cfg.solver == "pc" else None
    return cfg, solvers, history


def plan_of(solvers: Sequence[ODESolver]) -> IterationPlan:
    """The plan the solvers run now (non-IIET layers count as 0 refinements)."""
    return IterationPlan(tuple(s.iters if isinstance(s, IIESolver) else 0 for s in solvers))


def set_plan(solvers: Sequence[ODESolver], plan: PlanSpec) -> IterationPlan:
    """Give every IIET solver its count from ``plan`` (an int, ``"2,1,0"`` or a list)."""
    plan = IterationPlan.parse(plan, len(solvers))
    for solver, r in zip(solvers, plan.iters):
        if isinstance(solver, IIESolver):
            solver.iters = r
        elif r != 0:
            raise ValueError(f"layer_iters: layer {solver.layer_index} uses {type(solver).__name__}, "
                             "which has no iterations; iteration plans apply to ode_solver=iie")
    return plan


def evaluations(solvers: Sequence[ODESolver]) -> int:
    """Layer evaluations per forward pass for the current plan."""
    return sum(s.num_evals for s in solvers)


def solvers_of(module: nn.Module) -> List[ODESolver]:
    """All solvers inside ``module`` in registration (layer) order."""
    return [m for m in module.modules() if isinstance(m, ODESolver)]
