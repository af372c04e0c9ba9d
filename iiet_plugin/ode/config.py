"""Solver configuration shared by every host, validated once at model build."""
from dataclasses import dataclass
from typing import Optional

from .errors import ConfigError
from .plan import IterationPlan

SOLVERS = ("euler", "rk2", "rk4", "pc", "iie")
COEFFICIENTS = {
    "euler": ("standard",),
    "rk2": ("standard", "gated", "learnable", "ema"),
    "rk4": ("standard", "ema"),
    "pc": ("ema",),
    "iie": ("standard",),
}
PC_PREDICTORS = ("rk2", "rk4")
KV_CACHE_MODES = ("per_iter", "shared_final")


def _choice(option: str, value, allowed) -> str:
    if value not in allowed:
        raise ConfigError(f"{option}: unknown value {value!r}; allowed values: {', '.join(allowed)}")
    return value


@dataclass
class ODEConfig:
    """What one stack of ODE blocks computes.

    solver        euler | rk2 | rk4 | pc | iie
    coef          RK/PC combination weights: rk2 standard|gated|learnable|ema,
                  rk4 standard|ema, pc ema; ``None`` picks the solver's default
    iters         IIET refinements ``r`` per layer (``r + 1`` evaluations); int
    layer_iters   optional per-layer plan ``"2,2,1,0"`` overriding ``iters``
    pc_predictor  PCformer predictor order: rk2 | rk4
    iie_relaxation  optional relaxation between IIET iterations,
                  ``y_i = w (y + G(y_{i-1})) + (1 - w) y_{i-1}``; 1.0 (default) = none
    """

    solver: str = "iie"
    coef: Optional[str] = None
    iters: int = 1
    layer_iters: Optional[str] = None
    pc_predictor: str = "rk2"
    iie_relaxation: float = 1.0
    # the per-layer plan's option name in the host, for messages: timm's kwarg is
    # ``layer_iters``, fairseq's field ``iie_layer_iters``
    layer_iters_name: str = "layer_iters"

    def validated(self, num_layers: int, prefix: str = "") -> "ODEConfig":
        """Check every option; return a copy with ``coef`` resolved.

        An option the chosen solver ignores is refused rather than stored: ``ode_coef``
        outside the solver's choices (``euler`` and ``iie`` have none but ``standard``),
        ``pc_predictor`` other than its default for a solver that is not ``pc``, and
        ``iie_relaxation`` other than 1 or ``iie_iters``/``layer_iters`` asking for
        refinements (counts above the default 1) for a solver that is not ``iie``.  The
        defaults themselves are accepted with every solver: checkpoints store them.
        ``prefix`` is prepended to option names in error messages (e.g. ``encoder_``).
        """
        solver = _choice(f"{prefix}ode_solver", self.solver, SOLVERS)
        coef = self.coef if self.coef not in (None, "", "default") else COEFFICIENTS[solver][0]
        _choice(f"{prefix}ode_coef (for solver {solver})", coef, COEFFICIENTS[solver])
        _choice(f"{prefix}pc_predictor", self.pc_predictor, PC_PREDICTORS)
        self.plan(num_layers, prefix)  # validates iters and layer_iters
        try:
            relaxation = float(self.iie_relaxation)
        except (TypeError, ValueError):
            relaxation = float("nan")
        if not (0.0 < relaxation <= 1.0):
            raise ConfigError(f"{prefix}iie_relaxation must be a number in (0, 1], got {self.iie_relaxation!r}")
        self._refuse_ignored(solver, relaxation, num_layers, prefix)
        return ODEConfig(solver, coef, self.iters, self.layer_iters, self.pc_predictor, relaxation,
                         self.layer_iters_name)

    def _refuse_ignored(self, solver: str, relaxation: float, num_layers: int, prefix: str) -> None:
        ignored = []
        if solver != "pc" and self.pc_predictor != DEFAULTS.pc_predictor:
            ignored.append(f"{prefix}pc_predictor={self.pc_predictor} (used by ode_solver=pc)")
        if solver != "iie":
            if relaxation != DEFAULTS.iie_relaxation:
                ignored.append(f"{prefix}iie_relaxation={relaxation:g} (used by ode_solver=iie)")
            uniform = IterationPlan.parse(self.iters if isinstance(self.iters, int) else str(self.iters),
                                          num_layers, f"{prefix}iie_iters")
            if max(uniform.iters) > DEFAULTS.iters:
                ignored.append(f"{prefix}iie_iters={uniform.iters[0]} (used by ode_solver=iie)")
            if self.layer_iters not in (None, "") and any(
                    IterationPlan.parse(self.layer_iters, num_layers, f"{prefix}{self.layer_iters_name}").iters):
                ignored.append(f"{prefix}{self.layer_iters_name}={self.layer_iters} (used by ode_solver=iie)")
        if ignored:
            raise ConfigError(f"{prefix}ode_solver={solver} ignores " + "; ".join(ignored)
                              + ": drop these options or choose the solver that uses them")

    def plan(self, num_layers: int, prefix: str = "") -> IterationPlan:
        """The iteration plan: ``layer_iters`` when given, else ``iters`` for every layer.

        Solvers other than ``iie`` run a fixed number of evaluations; their plan is all zeros.
        """
        uniform = IterationPlan.parse(
            self.iters if isinstance(self.iters, int) else str(self.iters), num_layers, f"{prefix}iie_iters"
        )
        if self.layer_iters not in (None, ""):
            plan = IterationPlan.parse(self.layer_iters, num_layers, f"{prefix}{self.layer_iters_name}")
        else:
            plan = uniform
        if self.solver != "iie":
            return IterationPlan.uniform(0, num_layers)
        return plan


DEFAULTS = ODEConfig()
