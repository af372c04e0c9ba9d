"""The study driver: vanilla vs RK2 vs PCformer vs IIET vs E-IIET on one task, real data.

    iiet-study lm|mt|vision [--budget N] [--seeds 1,2,3] [--lrs ...] [--thresholds 0.3,0.6] [--data DIR]

Protocol (``protocol.sweep_then_seeds``): equal budgets for every model; each model at its own
learning rate from ``--lrs``, chosen on the first seed; the other seeds at the chosen rate.
E-IIET: IIAD distillation of each seed's IIET at each threshold of the ``update`` influence
score, for ``--distill-budget`` more.  The table reports the task's metric (mean +- std over
seeds), the rate, layer evaluations per forward (counted by the core from the options or the
E-IIET plan), and inference speed relative to vanilla (median over seeds).  ``--out FILE``
also writes the Markdown (atomically).
"""
import argparse
import os
import statistics
import sys
import time
from typing import Dict, List, Optional

from ..atomic_io import atomic_write
from .data import DATA_ENV
from .models import STUDY_MODELS, ModelSpec, layer_evaluations
from .protocol import floats, mean_std, plan_evaluations, sweep_table, sweep_then_seeds
from .tasks import TASKS, StudyTask, Trained
from .timing import machine_line


def parser_for(task: StudyTask) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"iiet-study {task.name}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help=f"the data root (default: ${DATA_ENV})")
    p.add_argument("--work", default=os.path.join("runs", f"study_{task.name}"), help="runs and data slices")
    p.add_argument("--budget", type=int, default=task.default_budget, help=f"training {task.budget} per model")
    p.add_argument("--distill-budget", type=int, default=task.default_distill_budget,
                   help=f"E-IIET distillation {task.budget} after the teacher's")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--lrs", default=task.default_lrs, help="learning-rate grid; each model's rate is chosen on "
                                                          "the first seed")
    p.add_argument("--distill-lr", type=float, default=task.default_distill_lr)
    p.add_argument("--thresholds", default="0.3,0.6", help="IIAD thresholds of the `update` score ('' for none)")
    p.add_argument("--out", default="", help="also write the result (Markdown) to this file")
    task.add_arguments(p)
    return p


def check(p: argparse.ArgumentParser, args) -> None:
    """Every option checked before any work."""
    if args.budget < 1 or args.distill_budget < 0:
        p.error(f"--budget must be >= 1 and --distill-budget >= 0, got {args.budget} and {args.distill_budget}")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
        args.lr_list = floats(args.lrs)
        args.tau_list = floats(args.thresholds)
    except ValueError as e:
        p.error(f"--seeds/--lrs/--thresholds: {e}")
    if not args.seed_list or not args.lr_list or any(lr <= 0 for lr in args.lr_list):
        p.error("--seeds and --lrs need at least one value each, and rates > 0")
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        p.error(f"--out: folder {os.path.dirname(os.path.abspath(args.out))} does not exist")


def run_study(task: StudyTask, args, models: List[ModelSpec] = STUDY_MODELS) -> str:
    """Train, distil and evaluate every model; returns the Markdown report."""
    t0 = time.time()
    task.prepare(args, args.work)
    rows: Dict[str, List[dict]] = {}
    chosen: Dict[str, float] = {}
    sweeps: Dict[str, Dict[float, float]] = {}
    for model in models:
        evaluations = layer_evaluations(model.options, task.num_layers)

        def train_eval(lr, seed, model=model, evaluations=evaluations):
            print(f"[study] {model.name}, lr {lr:g}, seed {seed} ({time.time() - t0:.0f}s)", flush=True)
            trained = task.train(model, lr, seed, args.budget, os.path.join(args.work, f"{model.slug}_lr{lr:g}_s{seed}"))
            value = task.quality(trained.checkpoint)
            return value, dict(trained=trained, seed=seed, evaluations=evaluations, plan="", curve=task.curve(trained))

        chosen[model.name], runs, sweeps[model.name] = sweep_then_seeds(args.lr_list, args.seed_list, train_eval,
                                                                         task.higher_is_better)
        rows[model.name] = [dict(info, value=value) for value, info in runs]
        if model.solver != "iie" or not args.distill_budget:
            continue
        for tau in args.tau_list:
            name = f"E-IIET (IIAD tau={tau:g})"
            chosen[name] = args.distill_lr
            for _, info in runs:
                print(f"[study] {name}, seed {info['seed']} ({time.time() - t0:.0f}s)", flush=True)
                teacher: Trained = info["trained"]
                out = os.path.join(os.path.dirname(teacher.checkpoint) + f"_eiiet_{tau:g}")
                student = task.distil(teacher, model, tau, args.distill_lr, info["seed"], args.distill_budget, out)
                plan = task.plan_of(student.log)
                rows.setdefault(name, []).append(dict(trained=student, seed=info["seed"], plan=plan,
                                                      evaluations=plan_evaluations(plan),
                                                      value=task.quality(student.checkpoint),
                                                      curve=task.curve(student)))
    print(f"[study] inference speeds ({time.time() - t0:.0f}s)", flush=True)
    speeds = task.speeds([r["trained"].checkpoint for runs in rows.values() for r in runs])
    write_curves(task, args, rows)
    return report(task, args, rows, chosen, sweeps, speeds, time.time() - t0)


def write_curves(task, args, rows) -> None:
    """``WORK/curves.json`` (every reported run's curve) and ``WORK/curves.png`` (mean and seed
    band per model; E-IIET curves start at the teacher's budget)."""
    import json

    from .plots import plot_curves
    curves = {name: [r["curve"] for r in runs] for name, runs in rows.items()}
    for name in curves:
        if name.startswith("E-IIET"):
            curves[name] = [[(u + args.budget, v) for u, v in c] for c in curves[name]]
    text = json.dumps({"metric": task.curve_metric, "curves": curves}, indent=1)
    atomic_write(os.path.join(args.work, "curves.json"), lambda f: f.write(text.encode("utf-8")))
    plot_curves(curves, task.curve_metric, os.path.join(args.work, "curves.png"),
                f"{task.name} study, {args.budget} {task.budget}")


def report(task, args, rows, chosen, sweeps, speeds, seconds) -> str:
    base = statistics.median(speeds[r["trained"].checkpoint] for r in rows[STUDY_MODELS[0].name])
    lines = [f"## {task.name.upper()} study: {task.describe(args)}, {args.budget} {task.budget}, seeds {args.seeds}",
             "", f"| model | {task.metric} (mean ± std) | best {task.curve_metric} on the curve | lr | layer evaluations "
                 f"| speed / vanilla | E-IIET plans |",
             "|---|---|---|---|---|---|---|"]
    for name, runs in rows.items():
        plans = " / ".join(sorted({r["plan"] for r in runs if r["plan"]}))
        speed = statistics.median(speeds[r["trained"].checkpoint] for r in runs) / base
        best = [(max if task.curve_higher_is_better else min)(v for _, v in r["curve"]) for r in runs if r["curve"]]
        best_cell = mean_std(best, task.digits) if best else "–"
        lines.append(f"| {name} | {mean_std([r['value'] for r in runs], task.digits)} | {best_cell} | {chosen[name]:g} | "
                     f"{statistics.mean(r['evaluations'] for r in runs):g} | {speed:.2f} | {plans} |")
    lines += ["", f"Learning rate per model: chosen on seed {args.seed_list[0]} by {task.metric} from the grid "
                  f"{args.lrs}; E-IIET distils at {args.distill_lr:g} for {args.distill_budget} {task.budget} after "
                  f"its teacher's {args.budget}.", "",
              sweep_table(sweeps, chosen, args.seed_list[0], task.metric, "{:.%df}" % task.digits), "",
              f"Learning curves ({task.curve_metric} at every validation, mean and seed band): "
              f"{os.path.join(args.work, 'curves.png')} (data: curves.json).",
              f"machine: {machine_line()}",
              f"command: iiet-study {args.command}  "
              f"({time.strftime('%Y-%m-%d')}, {seconds:.0f} s)"]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in TASKS:
        given = repr(argv[0]) if argv else "nothing"
        sys.exit(f"iiet-study: error: the first argument is the task, one of {', '.join(TASKS)} (got {given})")
    task = TASKS[argv[0]]()
    p = parser_for(task)
    args = p.parse_args(argv[1:])
    args.command = " ".join(argv)
    check(p, args)
    text = run_study(task, args)
    print("\n" + text, flush=True)
    if args.out:
        atomic_write(args.out, lambda f: f.write((text + "\n").encode("utf-8")))


if __name__ == "__main__":
    main()
