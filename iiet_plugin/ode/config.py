"""Solver configuration shared by every host, validated once at model build."""
from dataclasses import dataclass
from typing import Optional

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
        raise ValueError(f"{option}: unknown value {value!r}; allowed values: {', '.join(allowed)}")
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

    def validated(self, num_layers: int, prefix: str = "") -> "ODEConfig":
        """Check every option; return a copy with ``coef`` resolved.

        ``prefix`` is prepended to option names in error messages (e.g. ``encoder_``).
        """
        solver = _choice(f"{prefix}ode_solver", self.solver, SOLVERS)
        coef = self.coef if self.coef not in (None, "", "default") else COEFFICIENTS[solver][0]
        if solver in ("euler", "iie") and coef not in COEFFICIENTS[solver]:
            coef = COEFFICIENTS[solver][0]  # no combination weights to choose
        _choice(f"{prefix}ode_coef (for solver {solver})", coef, COEFFICIENTS[solver])
        _choice(f"{prefix}pc_predictor", self.pc_predictor, PC_PREDICTORS)
        self.plan(num_layers, prefix)  # validates iters and layer_iters
        if not (0.0 < float(self.iie_relaxation) <= 1.0):
            raise ValueError(f"{prefix}iie_relaxation must be in (0, 1], got {self.iie_relaxation}")
        return ODEConfig(solver, coef, self.iters, self.layer_iters, self.pc_predictor, float(self.iie_relaxation))

    def plan(self, num_layers: int, prefix: str = "") -> IterationPlan:
        """The iteration plan: ``layer_iters`` when given, else ``iters`` for every layer.

        Solvers other than ``iie`` run a fixed number of evaluations; their plan is all zeros.
        """
        uniform = IterationPlan.parse(
            self.iters if isinstance(self.iters, int) else str(self.iters), num_layers, f"{prefix}iie_iters"
        )
        if self.layer_iters not in (None, ""):
            plan = IterationPlan.parse(self.layer_iters, num_layers, f"{prefix}iie_layer_iters")
        else:
            plan = uniform
        if self.solver != "iie":
            return IterationPlan.uniform(0, num_layers)
        return plan
