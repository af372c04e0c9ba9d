"""Stack-level bookkeeping shared by the hosts: one solver per layer (PC's stage norms
shared; with ``ode_ema_sharing=stack`` one EMA alpha module shared), the iteration plan (read, replaced, zeroed for the two-stage schedule), recording."""
from typing import List, Optional, Sequence, Tuple

from torch import nn

from .coefficients import EMAWeights
from .config import ODEConfig
from .plan import IterationPlan, PlanSpec
from .recorder import Recorder
from .solvers import IIESolver, ODESolver, build_solver, pc_stage_norms
from .errors import ConfigError


def build_stack(cfg: ODEConfig, num_layers: int, dim: int, prefix: str = "") -> Tuple[ODEConfig, List[ODESolver]]:
    """Validate ``cfg`` (errors name ``prefix`` + the option) and build each layer's solver."""
    cfg = cfg.validated(num_layers, prefix)
    plan = cfg.plan(num_layers, prefix)
    shared_norms = None
    if cfg.solver == "pc":
        shared_norms = pc_stage_norms(int(cfg.pc_predictor[-1]), dim) if cfg.pc_form == "lm" else nn.ModuleList()
    shared_weights = None
    if cfg.ema_sharing == "stack":  # one alpha for the stack (validated: EMA weights)
        order = int(cfg.pc_predictor[-1]) if cfg.solver == "pc" else int(cfg.solver[-1])
        shared_weights = EMAWeights(order)
    solvers = [build_solver(cfg, i, dim, plan.iters[i], shared_norms, shared_weights) for i in range(num_layers)]
    return cfg, solvers


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
            raise ConfigError(f"layer_iters: layer {solver.layer_index} uses {type(solver).__name__}, "
                             "which has no iterations; iteration plans apply to ode_solver=iie")
    return plan


def evaluations(solvers: Sequence[ODESolver]) -> int:
    """Layer evaluations per forward pass for the current plan."""
    return sum(s.num_evaluations() for s in solvers)


def solvers_of(module: nn.Module) -> List[ODESolver]:
    """All solvers inside ``module`` in registration (layer) order."""
    return [m for m in module.modules() if isinstance(m, ODESolver)]


def attach_recorder(module: nn.Module, recorder: Optional[Recorder]) -> None:
    """Record (or, with None, stop recording) every evaluation of every ODE block in ``module``."""
    from .block import ODEBlockMixin
    for m in module.modules():
        if isinstance(m, ODEBlockMixin):
            m.ode_recorder = recorder


class PlanMembers:
    """The one interface to a stack's solvers on every host (all methods): ``solvers()``,
    ``plan()``, ``set_plan(plan)``, ``evaluations()``.  A host defines ``solvers()``."""

    def solvers(self) -> List[ODESolver]:
        raise NotImplementedError(f"{type(self).__name__} must define solvers(): its layers' ODE solvers in order")

    def plan(self) -> IterationPlan:
        """The iteration plan the stack runs now (non-IIET layers count 0)."""
        return plan_of(self.solvers())

    def set_plan(self, plan: PlanSpec) -> IterationPlan:
        """Run with another iteration plan (an int, ``"2,1,0"`` or a list), e.g. an IIAD plan."""
        return set_plan(self.solvers(), plan)

    def evaluations(self) -> int:
        """Layer evaluations per forward pass with the current plan."""
        return evaluations(self.solvers())
