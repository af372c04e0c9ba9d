"""The ODE options of the fairseq models (dataclass fields) and their translation to the core's config."""
from dataclasses import field
from typing import Optional

from fairseq.dataclass import ChoiceEnum

from ..ode import KV_CACHE_MODES, PC_PREDICTORS, SOLVERS, ODEConfig

ODE_SOLVER_CHOICES = ChoiceEnum(list(SOLVERS))
PC_PREDICTOR_CHOICES = ChoiceEnum(list(PC_PREDICTORS))
KV_CACHE_MODE_CHOICES = ChoiceEnum(list(KV_CACHE_MODES))


def ode_fields(prefix: str = ""):
    """Dataclass fields for one stack (``prefix`` = ``""``, ``encoder_`` or ``decoder_``)."""
    who = f" ({prefix[:-1]})" if prefix else ""
    return {
        f"{prefix}ode_solver": (ODE_SOLVER_CHOICES, field(default="iie", metadata={
            "help": f"per-layer ODE solver{who}: euler (vanilla), rk2, rk4 (ODE Transformer), pc (PCformer), iie (IIET)"})),
        f"{prefix}ode_coef": (Optional[str], field(default=None, metadata={
            "help": f"RK/PC combination weights{who}: rk2 standard|gated|learnable|ema, rk4 standard|ema, pc ema "
                    "(default: the first of each)"})),
        f"{prefix}iie_iters": (int, field(default=1, metadata={
            "help": f"IIET fixed-point refinements r per layer{who} (r + 1 layer evaluations)"})),
        f"{prefix}iie_layer_iters": (Optional[str], field(default=None, metadata={
            "help": f"per-layer IIET plan{who}, e.g. '2,2,1,0'; overrides iie_iters"})),
        f"{prefix}pc_predictor": (PC_PREDICTOR_CHOICES, field(default="rk2", metadata={
            "help": f"PCformer predictor order{who}"})),
        f"{prefix}iie_relaxation": (float, field(default=1.0, metadata={
            "help": f"relaxation w between IIET iterations{who}: y_i = w(y + G(y_(i-1))) + (1-w) y_(i-1); 1 = none"})),
    }


def schedule_fields():
    """Dataclass fields shared by the LM and MT models: the two-stage schedule and the cache mode."""
    return [
        ("iie_start_update", int, field(default=0, metadata={
            "help": "two-stage schedule: train with r = 0 (vanilla) until this update, then with the configured "
                    "iterations"})),
        ("kv_cache_mode", KV_CACHE_MODE_CHOICES, field(default="per_iter", metadata={
            "help": "incremental decoding caches: per_iter (one self-attention cache per evaluation, exact) or "
                    "shared_final (one cache with the final evaluation's keys, approximate, less memory)"})),
    ]


def ode_config_from(args, prefix: str = "") -> ODEConfig:
    """The core config from fairseq args/cfg fields with ``prefix``."""
    def get(name, default):
        value = getattr(args, f"{prefix}{name}", default)
        return default if value is None and default is not None else value
    return ODEConfig(
        solver=str(get("ode_solver", "iie")),
        coef=get("ode_coef", None),
        iters=int(get("iie_iters", 1)),
        layer_iters=get("iie_layer_iters", None),
        pc_predictor=str(get("pc_predictor", "rk2")),
        iie_relaxation=float(get("iie_relaxation", 1.0)),
    )


def ode_defaults(args, prefix: str = "") -> None:
    """Fill missing ODE options on an args namespace (for architecture functions)."""
    from fairseq.utils import safe_getattr
    for name, (_, f) in ode_fields(prefix).items():
        setattr(args, name, safe_getattr(args, name, f.default))
