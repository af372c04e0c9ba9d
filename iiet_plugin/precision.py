"""Mixed precision choices: which low-precision dtypes this device runs natively, and the
autocast context of the recipes' ``--amp --amp-dtype`` (timm's flag names).

CPUs differ: AVX-512 BF16 or AMX runs bf16 matmuls natively (faster than fp32), while a CPU
without them emulates bf16 (measured on an AMD EPYC without AVX-512: bf16 autocast trained 18x
*slower* than fp32).  The recipes therefore say so when ``--amp`` would run emulated."""
import contextlib
from typing import Optional

import torch

from .ode.errors import ConfigError

AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
_CPU_NATIVE_FLAGS = {torch.bfloat16: ("avx512_bf16", "amx_bf16"), torch.float16: ("avx512_fp16", "amx_fp16")}


def cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_low_precision(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether ``device`` computes ``dtype`` matmuls natively (CUDA: bf16 needs compute
    capability 8.0; CPU: the ISA flags of ``_CPU_NATIVE_FLAGS``)."""
    if device.type == "cuda":
        return dtype != torch.bfloat16 or torch.cuda.is_bf16_supported()
    return any(flag in cpu_flags() for flag in _CPU_NATIVE_FLAGS.get(dtype, ()))


def amp_dtype(name: str, option: str = "--amp-dtype") -> torch.dtype:
    if name not in AMP_DTYPES:
        raise ConfigError(f"{option}: unknown {name!r}; allowed: {', '.join(AMP_DTYPES)}")
    return AMP_DTYPES[name]


def autocast(device: torch.device, dtype: Optional[torch.dtype]):
    """``torch.autocast`` for ``device`` in ``dtype``, or a no-op when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
