"""The ODE options (one table for every host) and the solver configuration built from them.

``OPTIONS`` is the one place that names, types, defaults and documents each option, and
says which solvers use it.  Every host takes the same names: fairseq's model fields
(``--ode-solver``; translation per side: ``--encoder-ode-solver``, ``--decoder-ode-solver``),
timm's ``create_model`` kwargs (``ode_solver=...``) and the vision recipe's flags are
generated from it or checked against it by tests.  ``ODEConfig`` is what one stack of ODE
blocks computes, validated once at model build.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

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
RK_STAGES = ("branch", "layer")
EMA_SHARING = ("layer", "stack")
PC_FORMS = ("lm", "mt")
KV_CACHE_MODES = ("per_iter", "shared_final")
DROPOUT_MASKS = ("per_evaluation", "per_layer")


def _zero_plan(value) -> bool:
    """An empty plan or one of zeros: no refinements anywhere (harmless for any solver)."""
    if value in (None, ""):
        return True
    parts = str(value).replace(" ", "").strip("[]()").split(",")
    return all(p.strip().lstrip("+").isdigit() and int(p) == 0 for p in parts)


@dataclass(frozen=True)
class OptionSpec:
    """One ODE option: its name in every host, type, default, help and the solvers using it.

    ``unused_ok(value)`` says whether a value may be given to a solver that ignores the option
    (the default always may: checkpoints store it); any other value is refused.
    """

    name: str
    type: type
    default: Any
    help: str
    field: str
    choices: Optional[Tuple[str, ...]] = None
    used_by: Tuple[str, ...] = SOLVERS
    optional: bool = False
    aliases: Tuple[str, ...] = ()
    unused_ok: Optional[Callable[[Any], bool]] = None

    def accepts_unused(self, value) -> bool:
        if value == self.default or (self.optional and value in (None, "")):
            return True
        return bool(self.unused_ok and self.unused_ok(value))


OPTIONS: Tuple[OptionSpec, ...] = (
    OptionSpec("ode_solver", str, "iie", "per-layer ODE solver: euler (vanilla), rk2, rk4 (ODE Transformer), "
               "pc (PCformer), iie (IIET)", field="solver", choices=SOLVERS),
    OptionSpec("ode_coef", str, None, "RK/PC combination weights: rk2 standard/gated/learnable/ema, "
               "rk4 standard/ema, pc ema (default: the first of each)", field="coef", optional=True,
               used_by=("rk2", "rk4", "pc"), unused_ok=lambda v: v in ("standard", "default")),
    OptionSpec("iie_iters", int, 1, "IIET fixed-point refinements r per layer (r + 1 layer evaluations)",
               field="iters", used_by=("iie",), unused_ok=lambda v: v in (0, "0")),
    OptionSpec("iie_layer_iters", str, None, "per-layer IIET plan, e.g. '2,2,1,0' (E-IIET); overrides iie_iters",
               field="layer_iters", optional=True, used_by=("iie",), aliases=("layer_iters",), unused_ok=_zero_plan),
    OptionSpec("pc_predictor", str, "rk2", "PCformer predictor order: rk2 or rk4", field="pc_predictor", choices=PC_PREDICTORS,
               used_by=("pc",)),
    OptionSpec("iie_relaxation", float, 1.0, "relaxation w between IIET iterations: "
               "y_i = w (y + G(y_(i-1))) + (1 - w) y_(i-1); 1 = none", field="iie_relaxation", used_by=("iie",)),
    OptionSpec("ode_stage", str, "branch", "what an RK stage evaluates: branch = the residual branch G(z) "
               "(ODE Transformer paper), layer = the whole layer L(z) = z + G(z) (its release; without the "
               "release's DLCL layer history)", field="stage", choices=RK_STAGES, used_by=("rk2", "rk4")),
    OptionSpec("ode_ema_sharing", str, "layer", "where the EMA coefficient alpha lives (ode_coef ema, pc): one "
               "per layer, or one for the whole stack (the PCformer releases)", field="ema_sharing",
               choices=EMA_SHARING, used_by=("rk2", "rk4", "pc")),
    OptionSpec("pc_form", str, "lm", "PCformer predictor form: lm = its LM release (stage outputs LayerNormed, "
               "normed stages feed the next stage), mt = its MT encoder (raw layer outputs feed the next stage "
               "and the predictor; no stage norms)", field="pc_form", choices=PC_FORMS, used_by=("pc",)),
    OptionSpec("ode_dropout_masks", str, "per_evaluation", "dropout masks of a layer's evaluations: "
               "per_evaluation = fresh masks at every evaluation, per_layer = one set of masks per layer forward "
               "shared by all its evaluations (IIET iterates one map; residual and activation dropout and drop "
               "path; attention-probability dropout stays per evaluation)", field="dropout_masks",
               choices=DROPOUT_MASKS),
)
OPTION_BY_NAME: Dict[str, OptionSpec] = {spec.name: spec for spec in OPTIONS}


def _choice(option: str, value, allowed) -> str:
    if value not in allowed:
        raise ConfigError(f"{option}: unknown value {value!r}; allowed values: {', '.join(allowed)}")
    return value


@dataclass
class ODEConfig:
    """What one stack of ODE blocks computes (fields: see ``OPTIONS``, by ``field``).

    solver        euler | rk2 | rk4 | pc | iie                        (``ode_solver``)
    coef          RK/PC combination weights; ``None`` = the solver's default (``ode_coef``)
    iters         IIET refinements ``r`` per layer (``r + 1`` evaluations) (``iie_iters``)
    layer_iters   optional per-layer plan ``"2,2,1,0"`` overriding ``iters`` (``iie_layer_iters``)
    pc_predictor  PCformer predictor order: rk2 | rk4                 (``pc_predictor``)
    iie_relaxation  ``y_i = w (y + G(y_{i-1})) + (1 - w) y_{i-1}``; 1.0 = none (``iie_relaxation``)
    stage         RK stage function: branch ``G(z)`` (paper) | layer ``L(z)`` (release) (``ode_stage``)
    ema_sharing   EMA alpha per layer | one per stack                 (``ode_ema_sharing``)
    pc_form       PCformer predictor as in its lm | mt release        (``pc_form``)
    dropout_masks per_evaluation | per_layer (``ode_dropout_masks``; see ``dropout.py``)
    """

    solver: str = "iie"
    coef: Optional[str] = None
    iters: int = 1
    layer_iters: Optional[str] = None
    pc_predictor: str = "rk2"
    iie_relaxation: float = 1.0
    stage: str = "branch"
    ema_sharing: str = "layer"
    pc_form: str = "lm"
    dropout_masks: str = "per_evaluation"

    @classmethod
    def from_options(cls, values: Mapping[str, Any], prefix: str = "") -> "ODEConfig":
        """The config from host values keyed by option names (``prefix`` + name, or an alias);
        missing or ``None`` values take the table's default."""
        kwargs = {}
        for spec in OPTIONS:
            value = None
            for name in (spec.name,) + spec.aliases:
                if values.get(f"{prefix}{name}") is not None:
                    value = values[f"{prefix}{name}"]
                    break
            kwargs[spec.field] = spec.default if value is None else value
        return cls(**kwargs)

    def validated(self, num_layers: int, prefix: str = "") -> "ODEConfig":
        """Check every option; return a copy with ``coef`` resolved.

        An option the chosen solver ignores (``OptionSpec.used_by``) is refused rather than
        stored, unless its value is the default or neutral (``iie_iters`` 0, an all-zero plan,
        ``ode_coef`` standard): checkpoints store the defaults.  Messages name the option as
        the hosts spell it, with ``prefix`` (e.g. ``encoder_``).
        """
        solver = _choice(f"{prefix}ode_solver", self.solver, SOLVERS)
        coef = self.coef if self.coef not in (None, "", "default") else COEFFICIENTS[solver][0]
        _choice(f"{prefix}ode_coef (for solver {solver})", coef, COEFFICIENTS[solver])
        _choice(f"{prefix}pc_predictor", self.pc_predictor, PC_PREDICTORS)
        _choice(f"{prefix}ode_stage", self.stage, RK_STAGES)
        _choice(f"{prefix}ode_ema_sharing", self.ema_sharing, EMA_SHARING)
        _choice(f"{prefix}pc_form", self.pc_form, PC_FORMS)
        _choice(f"{prefix}ode_dropout_masks", self.dropout_masks, DROPOUT_MASKS)
        if self.ema_sharing == "stack" and coef != "ema":
            raise ConfigError(f"{prefix}ode_ema_sharing=stack needs EMA weights (ode_coef ema, or ode_solver pc); "
                              f"ode_solver={solver} has ode_coef {coef}")
        self.plan(num_layers, prefix)  # validates iters and layer_iters
        try:
            relaxation = float(self.iie_relaxation)
        except (TypeError, ValueError):
            relaxation = float("nan")
        if not (0.0 < relaxation <= 1.0):
            raise ConfigError(f"{prefix}iie_relaxation must be a number in (0, 1], got {self.iie_relaxation!r}")
        ignored = [f"{prefix}{spec.name}={getattr(self, spec.field)}" for spec in OPTIONS
                   if solver not in spec.used_by and not spec.accepts_unused(getattr(self, spec.field))]
        if ignored:
            raise ConfigError(f"{prefix}ode_solver={solver} ignores " + ", ".join(ignored)
                              + ": drop these options or choose the solver that uses them")
        return ODEConfig(solver, coef, self.iters, self.layer_iters, self.pc_predictor, relaxation, self.stage,
                         self.ema_sharing, self.pc_form, self.dropout_masks)

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


DEFAULTS = ODEConfig()


def options_table() -> str:
    """The markdown table of ``OPTIONS`` that README.md shows (a test keeps them equal)."""
    rows = ["| option (timm kwarg; fairseq/CLI flag `--ode-solver` ...) | default | used by | meaning |",
            "|---|---|---|---|"]
    for spec in OPTIONS:
        used = "all" if spec.used_by == SOLVERS else ", ".join(spec.used_by)
        alias = f" (earlier timm name `{'`, `'.join(spec.aliases)}`)" if spec.aliases else ""
        rows.append(f"| `{spec.name}`{alias} | `{spec.default}` | {used} | {spec.help} |")
    return "\n".join(rows)
