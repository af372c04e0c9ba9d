"""The ODE-block core: solvers, coefficients, PC history, iteration plans, recording.

Plain PyTorch; imports neither fairseq nor timm.  Hosts supply the stage function
``evaluate(z, base, slot) = base + G(z)`` and call ``solver(evaluate, y, history)``.
"""
from .coefficients import EMAWeights, FixedWeights, GatedWeights, LearnableWeights, build_weights
from .config import COEFFICIENTS, KV_CACHE_MODES, PC_PREDICTORS, SOLVERS, ODEConfig
from .history import PCHistory, PCState
from .plan import IterationPlan
from .recorder import Recorder
from .solvers import EulerSolver, IIESolver, ODESolver, PCSolver, RKSolver, build_solver
from .stack import build_stack, evaluations, plan_of, set_plan, solvers_of

__all__ = [
    "COEFFICIENTS", "KV_CACHE_MODES", "PC_PREDICTORS", "SOLVERS", "ODEConfig", "IterationPlan",
    "Recorder", "PCHistory", "PCState", "ODESolver", "EulerSolver", "IIESolver", "RKSolver", "PCSolver",
    "build_solver", "build_stack", "evaluations", "plan_of", "set_plan", "solvers_of",
    "EMAWeights", "FixedWeights", "GatedWeights", "LearnableWeights", "build_weights",
]
