"""The comparison protocol the studies share: equal updates for every model, and each model at
its own learning rate, chosen from a grid on the first seed.

Why a grid: at CPU budgets (a few hundred updates) every model is learning-rate limited, and
the solvers do not share one best rate (an IIET with r = 2 iterations wants a larger one than
vanilla), so one shared rate would measure the rate, not the solver.  The sweep is reported
next to the result; the other seeds run at the chosen rate only.
"""
import statistics
from typing import Callable, Dict, List, Sequence, Tuple

Run = Tuple[float, dict]  # (the metric the rate is chosen on, whatever the study keeps)


def sweep_then_seeds(lrs: Sequence[float], seeds: Sequence[int], train_eval: Callable[[float, int], Run],
                     higher_is_better: bool) -> Tuple[float, List[Run], Dict[float, float]]:
    """Run ``train_eval(lr, seeds[0])`` for every rate, keep the best, run the other seeds at it.

    Returns (chosen rate, one run per seed in ``seeds`` order, {rate: first-seed metric})."""
    if not lrs or not seeds:
        raise ValueError("need at least one learning rate and one seed")
    sweep = {lr: train_eval(lr, seeds[0]) for lr in lrs}
    choose = max if higher_is_better else min
    best = choose(lrs, key=lambda lr: sweep[lr][0])
    runs = [sweep[best]] + [train_eval(best, seed) for seed in seeds[1:]]
    return best, runs, {lr: run[0] for lr, run in sweep.items()}


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


def add_protocol_args(parser, lrs: str, distill_lr: float) -> None:
    """The options every study shares: seeds, IIAD thresholds, the rate grid, the distillation rate."""
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--thresholds", default="0.3,0.6", help="IIAD thresholds of the `update` score")
    parser.add_argument("--lrs", default=lrs,
                        help="learning-rate grid; each model's rate is chosen on the first seed (iiet_plugin.experiments.protocol)")
    parser.add_argument("--distill-lr", type=float, default=distill_lr)


def mean_std(values: Sequence[float], digits: int = 1) -> str:
    """``mean ± sample std`` over seeds (std 0 for a single seed)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def plan_evaluations(plan: str) -> int:
    """Layer evaluations of an IIAD plan string such as ``2,1,0`` (the core's IterationPlan count)."""
    from iiet_plugin.ode import IterationPlan
    return IterationPlan.parse(plan, len(plan.split(",")), "plan").evaluations


def floats(text: str) -> List[float]:
    return [float(x) for x in text.split(",") if x.strip()]
