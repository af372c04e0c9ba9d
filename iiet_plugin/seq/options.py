"""The ODE options of the fairseq models (dataclass fields) and their translation to the core's config."""
from dataclasses import field
from typing import Optional

from fairseq.dataclass import ChoiceEnum

from ..ode import KV_CACHE_MODES, PC_PREDICTORS, SOLVERS, ODEConfig
from ..ode.errors import ConfigError
from .config_values import check_config_values

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
        iie_relaxation=get("iie_relaxation", 1.0),
        layer_iters_name="iie_layer_iters",
    )


def ode_defaults(args, prefix: str = "") -> None:
    """Fill missing ODE options on an args namespace (for architecture functions)."""
    from fairseq.utils import safe_getattr
    for name, (_, f) in ode_fields(prefix).items():
        setattr(args, name, safe_getattr(args, name, f.default))


def _layers(args, prefix: str) -> int:
    return int(getattr(args, f"{prefix or 'decoder_'}layers", 0) or 0)


def check_schedule_use(args, prefixes) -> None:
    """``iie_start_update`` switches IIET iterations on: refuse it when no side is IIET."""
    start = int(getattr(args, "iie_start_update", 0) or 0)
    solvers = [str(getattr(args, f"{p}ode_solver", "iie")) for p in prefixes]
    if start > 0 and "iie" not in solvers:
        names = ", ".join(f"{p}ode_solver={s}" for p, s in zip(prefixes, solvers))
        raise ConfigError(f"iie_start_update={start} schedules IIET iterations, but {names}: "
                          "drop --iie-start-update or use ode_solver=iie")


def check_fairseq_precision(args) -> None:
    """fairseq 0.12's command line maps ``--bf16`` onto its TPU (XLA) path and runs ``--fp16``
    only on CUDA; on a machine without them it fails later with "'NoneType' object has no
    attribute 'xla_device'".  Refuse the combination here, naming the flag."""
    if getattr(args, "bf16", False) or getattr(args, "tpu", False):
        try:
            import torch_xla  # noqa: F401
        except ImportError:
            raise ConfigError("--bf16: fairseq 0.12 runs bf16 only through its TPU (XLA) path (--bf16 sets --tpu) and "
                              "torch_xla is not installed; train in fp32 on CPU (drop --bf16), or use --fp16 on a "
                              "CUDA GPU") from None
    if getattr(args, "fp16", False) or getattr(args, "memory_efficient_fp16", False):
        import torch
        if getattr(args, "cpu", False) or not torch.cuda.is_available():
            raise ConfigError("--fp16: fairseq's fp16 training needs a CUDA GPU "
                              + ("(--cpu was given)" if getattr(args, "cpu", False) else "(none is available)")
                              + "; on CPU train in fp32 (drop --fp16)")


def check_cli_args(args, prefixes) -> None:
    """Everything the plugin can check once fairseq has parsed the command line (called by
    the architecture functions): evaluated config strings, every ODE option, the schedule
    and the precision flags.  Errors are ``ConfigError`` lines naming the option."""
    check_config_values(args)
    for prefix in prefixes:
        layers = _layers(args, prefix)
        if layers > 0:
            ode_config_from(args, prefix).validated(layers, prefix)
    check_schedule_use(args, prefixes)
    if not hasattr(args, "_name"):  # a fresh command line, not a stored config (which fairseq names)
        check_fairseq_precision(args)
