"""The ODE options of the fairseq models: dataclass fields generated from the core's option
table (``iiet_plugin.ode.OPTIONS``, same names and defaults as timm's kwargs), and their
translation to the core's config."""
from dataclasses import field
from typing import Optional

from fairseq.dataclass import ChoiceEnum

from ..ode import KV_CACHE_MODES, OPTIONS, ODEConfig
from ..ode.errors import ConfigError
from .config_values import check_config_values

KV_CACHE_MODE_CHOICES = ChoiceEnum(list(KV_CACHE_MODES))


def _field_type(spec):
    if spec.choices:
        return ChoiceEnum(list(spec.choices))
    return Optional[spec.type] if spec.optional else spec.type


def ode_fields(prefix: str = ""):
    """Dataclass fields for one stack (``prefix`` = ``""``, ``encoder_`` or ``decoder_``), one per
    entry of the core's ``OPTIONS``."""
    who = f" ({prefix[:-1]})" if prefix else ""
    return {f"{prefix}{spec.name}": (_field_type(spec), field(default=spec.default, metadata={
        "help": f"{spec.help}{who}"})) for spec in OPTIONS}


def schedule_fields():
    """Dataclass fields shared by the LM and MT models: the two-stage schedule and the cache mode."""
    return [
        ("iie_start_update", int, field(default=0, metadata={
            "help": "two-stage schedule: train with r = 0 (vanilla) until this update, then with the configured "
                    "iterations"})),
        ("kv_cache_mode", KV_CACHE_MODE_CHOICES, field(default="per_iter", metadata={
            "help": "incremental decoding caches: per_iter (one self-attention cache per evaluation, exact) or "
                    "shared_final (one cache with the final evaluation's keys, approximate, less memory)"})),
        ("compile_layers", Optional[str], field(default=None, metadata={
            "help": "torch.compile each ODE layer's full-sequence forward (training, scoring, the encoder) with "
                    "this backend, e.g. inductor; incremental decoding steps stay eager. Off by default"})),
    ]


def ode_config_from(args, prefix: str = "") -> ODEConfig:
    """The core config from fairseq args/cfg fields with ``prefix``."""
    values = {f"{prefix}{spec.name}": getattr(args, f"{prefix}{spec.name}", None) for spec in OPTIONS}
    cfg = ODEConfig.from_options(values, prefix)
    for spec in OPTIONS:  # fairseq passes ChoiceEnum members
        if spec.choices and getattr(cfg, spec.field) is not None:
            setattr(cfg, spec.field, str(getattr(cfg, spec.field)))
    return cfg


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
