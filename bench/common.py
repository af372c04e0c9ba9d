"""Shared pieces of the benchmarks: model builders, timing (median of repeats), memory."""
import os
import statistics
import sys
import time
from typing import Callable, List

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import iiet_plugin  # noqa: E402,F401

USER_DIR = os.path.dirname(iiet_plugin.__file__)

# (label, flags for fairseq / kwargs for timm, ideal cost in layer evaluations per layer)
SOLVERS = [
    ("vanilla (euler)", dict(ode_solver="euler"), 1),
    ("rk2 (gated)", dict(ode_solver="rk2", ode_coef="gated"), 2),
    ("rk4", dict(ode_solver="rk4"), 4),
    ("pc (rk2 predictor)", dict(ode_solver="pc"), 3),
    ("iie r=1", dict(ode_solver="iie", iie_iters=1), 2),
    ("iie r=2", dict(ode_solver="iie", iie_iters=2), 3),
    ("iie r=3", dict(ode_solver="iie", iie_iters=3), 4),
    ("iie r=4", dict(ode_solver="iie", iie_iters=4), 5),
]


def flags(kwargs, prefixes=("",)):
    out = []
    for prefix in prefixes:
        for k, v in kwargs.items():
            out += [f"--{prefix}{k.replace('_', '-')}", str(v)]
    return out


def _dictionary(n):
    from fairseq.data import Dictionary
    d = Dictionary()
    for i in range(n):
        d.add_symbol(f"w{i}")
    return d


def build_lm(arch, extra, vocab=8000):
    from fairseq import options
    from fairseq.tasks.language_modeling import LanguageModelingTask
    args = options.parse_args_and_arch(options.get_training_parser(), [
        "x", "--task", "language_modeling", "--arch", arch, "--user-dir", USER_DIR, "--tokens-per-sample", "512",
        "--dropout", "0", *extra])
    d = _dictionary(vocab)
    return LanguageModelingTask(args, d, d).build_model(args)


def build_mt(arch, extra, vocab=8000):
    from fairseq import options
    from fairseq.tasks.translation import TranslationTask
    args = options.parse_args_and_arch(options.get_training_parser(), [
        "x", "--task", "translation", "--arch", arch, "--user-dir", USER_DIR, "--source-lang", "en",
        "--target-lang", "de", "--dropout", "0", "--share-all-embeddings", *extra])
    d = _dictionary(vocab)
    return TranslationTask(args, d, d).build_model(args)


def median_time(fn: Callable[[], None], repeats: int, warmup: int = 1) -> float:
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


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class SavedActivations:
    """Bytes of tensors autograd saves for backward during a forward (activation memory);
    on CUDA the allocator's peak is reported instead."""

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


def table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def step_flops(step: Callable[[], None]) -> float:
    """FLOPs of one call of ``step`` (matmuls and attention, as torch's FlopCounterMode counts them)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def matmul_peak_flops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's own dense matmul throughput (FLOP/s), the reference for efficiency."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    seconds = median_time(lambda: torch.mm(a, b), repeats)
    return 2 * size ** 3 / seconds
