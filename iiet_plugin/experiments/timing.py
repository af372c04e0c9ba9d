"""Timing and throughput for benchmarks and studies: medians of repeats, round-robin timing
of several models, FLOPs of a step, the machine's matmul peak, and what machine it is."""
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Mapping

import torch


def sync(device: torch.device = None) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    if torch.cuda.is_available() and (device is None or device.type == "cuda"):
        torch.cuda.synchronize()


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls (seconds)."""
    for _ in range(warmup):
        fn()
    sync()
    times: List[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def round_robin_times(fns: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1) -> Dict[str, float]:
    """Median seconds per call of each function, timed interleaved: every round calls every
    function once, so a change of the machine's speed (other load, clocks) falls on all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def step_flops(step: Callable[[], object]) -> float:
    """FLOPs of one call of ``step`` (matmuls and attention, as torch's FlopCounterMode counts them)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def matmul_peak_flops(size: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32,
                      device: torch.device = None) -> float:
    """This machine's dense ``size``^3 matmul throughput in ``dtype`` (FLOP/s, median of repeats):
    the reference for efficiency (MFU) of the benchmarks."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    seconds = median_time(lambda: torch.mm(a, b), repeats, warmup=2)
    return 2 * size ** 3 / seconds


class SavedActivations:
    """Bytes of tensors autograd saves for backward during a forward (activation memory)."""

    def __init__(self):
        self.bytes = 0
        self._seen = set()

    def pack(self, t):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if key not in self._seen:
            self._seen.add(key)
            self.bytes += t.untyped_storage().nbytes()
        return t

    def __enter__(self):
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)


def train_step_memory(step: Callable[[], torch.Tensor]) -> float:
    """MiB: activation memory saved for backward (CPU) or peak allocated (CUDA) of one step."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        step().backward()
        sync()
        return torch.cuda.max_memory_allocated() / 2 ** 20
    with SavedActivations() as saved:
        loss = step()
    loss.backward()
    return saved.bytes / 2 ** 20


_ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma")


def machine() -> Dict[str, str]:
    """What the numbers were measured on: CPU model, the ISA flags that decide fp32/bf16
    speed (AVX2/AVX-512/AMX), cores and threads, torch, and the GPU when there is one."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    info = {"cpu": model, "isa": " ".join(f for f in _ISA_FLAGS if f in flags) or "unknown",
            "cores": str(os.cpu_count()), "threads": str(torch.get_num_threads()), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def machine_line() -> str:
    return ", ".join(f"{k} {v}" for k, v in machine().items())


def table(headers, rows) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
