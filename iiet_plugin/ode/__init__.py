"""The ODE-block core: solvers, coefficients, iteration plans, recording, the block driver.

Plain PyTorch; imports neither fairseq nor timm.  A host block mixes in
``ODEBlockMixin``, supplies the stage function ``evaluate(z, base, slot) = base + G(z)``
and calls ``ode_forward(y, history)``.
"""
from .block import ODEBlock, ODEBlockMixin
from .coefficients import EMAWeights, FixedWeights, GatedWeights, LearnableWeights, build_weights
from .config import (COEFFICIENTS, DEFAULTS, DROPOUT_MASKS, KV_CACHE_MODES, OPTION_BY_NAME, OPTIONS, PC_PREDICTORS, SOLVERS, ODEConfig,
                     OptionSpec, options_table)
from .errors import ConfigError
from .dropout import SharedMaskDropout, share_dropout_masks
from .distillation import check_kd_options, kd_divergence, kd_loss
from .influence import (IIAD_SCORES, InfluenceReport, UpdateInfluenceRecorder, check_student_request, iie_solvers,
                        measure_loss_scores, measure_update_scores, plan_from_scores, plan_summary, student_plan)
from .plan import IterationPlan
from .recorder import Recorder
from .solvers import EulerSolver, IIESolver, ODESolver, PCSolver, RKSolver, build_solver, pc_stage_norms
from .stack import attach_recorder, build_stack, evaluations, plan_of, set_plan, solvers_of

__all__ = [
    "ConfigError", "DEFAULTS", "OPTIONS", "OPTION_BY_NAME", "OptionSpec", "options_table", "COEFFICIENTS", "KV_CACHE_MODES", "DROPOUT_MASKS", "SharedMaskDropout", "share_dropout_masks", "PC_PREDICTORS", "SOLVERS", "ODEConfig", "IterationPlan", "Recorder",
    "ODEBlock", "ODEBlockMixin", "ODESolver", "EulerSolver", "IIESolver", "RKSolver", "PCSolver",
    "build_solver", "pc_stage_norms", "build_stack", "evaluations", "plan_of", "set_plan", "solvers_of",
    "attach_recorder", "InfluenceReport", "UpdateInfluenceRecorder", "measure_loss_scores",
    "measure_update_scores", "plan_from_scores", "plan_summary",
    "IIAD_SCORES", "check_student_request", "iie_solvers", "student_plan", "check_kd_options", "kd_divergence", "kd_loss", "EMAWeights", "FixedWeights", "GatedWeights", "LearnableWeights", "build_weights",
]
