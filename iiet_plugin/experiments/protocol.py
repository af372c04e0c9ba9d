"""The comparison protocol the studies share: equal updates for every model, each model at its
own learning rate, chosen from a grid on the first seed (the other seeds run at the chosen rate
only), and the plateau criterion the budgets are judged by.

Why a grid: at CPU budgets (a few hundred updates) every model is learning-rate limited, and
the solvers do not share one best rate (an IIET with r = 2 iterations wants a larger one than
vanilla), so one shared rate would measure the rate, not the solver.  The sweep is reported
next to the result; the other seeds run at the chosen rate only.
"""
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

Run = Tuple[float, dict]  # (the metric the rate is chosen on, whatever the study keeps)


def choose_rate(sweep: Dict[float, float], higher_is_better: bool) -> float:
    """The rate of the grid with the best first-seed metric (``{rate: metric}``)."""
    if not sweep:
        raise ValueError("need at least one learning rate")
    return (max if higher_is_better else min)(sweep, key=lambda lr: sweep[lr])


PLATEAU_TAIL, PLATEAU_GAIN = 0.2, 0.01


def plateau_gain(curve: Sequence[Tuple[float, float]], higher_is_better: bool, tail: float = PLATEAU_TAIL) -> float:
    """How much the best metric improved during the last ``tail`` of the updates, relative to
    the best before: the plateau criterion is ``gain < PLATEAU_GAIN`` (1 % over the last 20 %).
    NaN for a curve with no point before or inside the tail."""
    if not curve:
        return float("nan")
    last = curve[-1][0]
    before = [v for u, v in curve if u <= (1 - tail) * last]
    inside = [v for u, v in curve if u > (1 - tail) * last]
    if not before or not inside:
        return float("nan")
    if higher_is_better:
        old, new = max(before), max(before + inside)
        return (new - old) / abs(old) if old else float("nan")
    old, new = min(before), min(before + inside)
    return (old - new) / abs(old) if old else float("nan")


def sweep_cell(sweep: Dict[float, float], chosen: float, fmt: str = "{:.1f}") -> str:
    """``0.003: 166.6 / **0.01: 103.3**``: the first-seed metric at every rate, the chosen one bold."""
    cells = []
    for lr, metric in sweep.items():
        cell = f"{lr:g}: {fmt.format(metric)}"
        cells.append(f"**{cell}**" if lr == chosen else cell)
    return " / ".join(cells)


def sweep_table(sweeps: Dict[str, Dict[float, float]], chosen: Dict[str, float], seed: int, metric: str,
                fmt: str = "{:.1f}") -> str:
    """Markdown table: per model, the first seed's ``metric`` at every rate of the grid."""
    lines = [f"| model | seed-{seed} {metric} per lr (chosen in bold) |", "|---|---|"]
    lines += [f"| {name} | {sweep_cell(sweep, chosen[name], fmt)} |" for name, sweep in sweeps.items()]
    return "\n".join(lines)


def mean_std(values: Sequence[float], digits: int = 1) -> str:
    """``mean ± sample std`` over seeds (std 0 for a single seed)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def plan_evaluations(plan: str) -> int:
    """Layer evaluations of an IIAD plan string such as ``2,1,0`` (the core's IterationPlan count)."""
    from iiet_plugin.ode import IterationPlan
    return IterationPlan.parse(plan, len(plan.split(",")), "plan").evaluations


def count_text(count: float) -> str:
    """A (mean) count for a table cell: whole numbers as they are, others to two decimals
    (the layer evaluations of E-IIET plans that differ between seeds: 6, 7, 7 -> ``6.67``)."""
    return f"{round(count, 2):g}"


def floats(text: str) -> List[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def warmup_refusal(warmup_updates: int) -> Optional[str]:
    """Why ``--warmup-updates`` cannot be used (None when it can): fairseq's inverse-sqrt
    schedule divides by it."""
    if warmup_updates < 1:
        return f"--warmup-updates must be >= 1 (fairseq's inverse-sqrt divides by it), got {warmup_updates}"
    return None
