"""The study driver: vanilla, its compute-matched deeper form, RK2, PCformer, IIET (from
scratch, with the paper's two-stage recipe, from a trained vanilla) and E-IIET on one task,
real data.

    iiet-study lm|mt|vision [--models vanilla,iiet-r2,...] [--budget N] [--seeds 1,2,3]
                            [--lrs ...] [--thresholds 0.3,0.6] [--jobs 2] [--data DIR]

Protocol: equal update budgets for every model trained from scratch; each model at its own
learning rate from ``--lrs``, chosen on the first seed by the task's selection metric on the
validation split (``protocol.choose_rate``); the other seeds at the chosen rate.  The reported
metric is measured on the test split, which no rate was chosen on (a task without one, vision,
takes a single rate).  A model continued from another (``init_from``) trains
``--continue-budget`` more updates from that model's checkpoint of the same seed, at its rate.
E-IIET: IIAD distillation of each seed's IIET (from scratch) at each threshold of the
``update`` influence score, for ``--distill-budget`` more.

The report: the held-out metric and the selection metric (mean +- std over seeds), the best point of the learning curves,
the plateau criterion (``protocol.plateau_gain``: < 1 % over the last 20 % of updates), the
rate, layer evaluations per forward (counted by the core), training FLOPs relative to vanilla,
and inference speed relative to vanilla (interleaved, in one process, at the end).  Curves go
to ``WORK/curves.json``, ``curves.png`` (vs updates) and ``curves_flops.png`` (vs training FLOPs).

Every finished run leaves ``result.json`` in its folder; a rerun with the same settings reuses
it, so a long study can be stopped and continued (``--fresh`` retrains everything).  A run
stopped during training starts over, unless the study runs under ``--resume``: then its runs
keep their optimizer state in their checkpoints and mark their folder with their key, and a
rerun with ``--resume`` continues an unfinished run of the same key from its last checkpoint
(fairseq: ``checkpoint_last.pt``, every ``--curve-interval`` updates and epoch; vision:
``last.pt``, every epoch), which gives the same run as an uninterrupted one.
``--extend-from WORK`` trains the finished runs of a shorter study of the same setting (under
``--resume``) on to ``--budget`` instead of from scratch: fairseq's inverse-sqrt rate at update t,
lr * min(t / w, sqrt(w / t)), does not depend on the budget, so the result is the run the larger
budget gives.  ``--train-only`` stops once the runs are trained: one-model studies can train
side by side in separate work folders of one setting, and a study without the flag, over their
runs, reports.
``--jobs N`` trains N runs at a time, each tool with cores / N threads; the speed measurement
always runs alone.  ``--device cuda`` trains and evaluates on the GPU (each run records where
it trained, the report's ``trained on:`` line says it; the speeds and diagnostics are measured
on the CPU either way).  ``--out FILE`` also
writes the Markdown (atomically).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Tuple

from ..atomic_io import atomic_write
from ..ode.errors import ConfigError
from .data import DATA_ENV
from .models import STUDY_MODELS, ModelSpec, choose_models, model_key
from .protocol import (PLATEAU_GAIN, PLATEAU_TAIL, choose_rate, count_text, floats, mean_std, plan_evaluations,
                       plateau_gain, sweep_table)
from .runner import DEVICES, set_tool_device, set_tool_threads
from .tasks import TASKS, StudyTask, Trained
from .timing import machine_line


def parser_for(task: StudyTask) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"iiet-study {task.name}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help=f"the data root (default: ${DATA_ENV})")
    p.add_argument("--corpus", default=None,
                   help=f"the corpus folder itself, instead of the data root's (e.g. a held-out corpus): "
                        f"{task.corpus_layout}")
    p.add_argument("--work", default=os.path.join("runs", f"study_{task.name}"), help="runs and data slices")
    p.add_argument("--models", default="vanilla,rk2,pc,iiet-r2",
                   help="compared models (iiet_plugin.experiments.models.MODEL_CHOICES keys)")
    p.add_argument("--budget", type=int, default=task.default_budget, help=f"training {task.budget} per model")
    p.add_argument("--distill-budget", type=int, default=task.default_distill_budget,
                   help=f"E-IIET distillation {task.budget} after the teacher's")
    p.add_argument("--continue-budget", type=int, default=0,
                   help=f"{task.budget} of a model continued from another's checkpoint (default: --budget / 4)")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--lrs", default=task.default_lrs, help="learning-rate grid; each model's rate is chosen on "
                                                          "the first seed")
    p.add_argument("--distill-lr", type=float, default=task.default_distill_lr)
    p.add_argument("--thresholds", default="0.3,0.6", help="IIAD thresholds of the `update` score ('' for none)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at a time (each tool gets cores / jobs threads)")
    p.add_argument("--device", default="cpu", choices=DEVICES,
                   help="where the tools train and evaluate (speeds and diagnostics: the CPU)")
    p.add_argument("--fresh", action="store_true", help="retrain every run instead of reusing finished ones")
    p.add_argument("--resume", action="store_true",
                   help="runs keep their optimizer state (checkpoints 3x larger) and a rerun with --resume continues "
                        "an unfinished run from its last checkpoint instead of starting it over")
    p.add_argument("--extend-from", default="",
                   help="the --work of a finished study of this setting at a smaller --budget, trained under "
                        "--resume: each of its runs is copied here and trained on to this budget (fairseq tasks: "
                        "the inverse-sqrt rate does not depend on the budget, so this is the run the larger budget "
                        "gives; the recipe, continued models and E-IIET train anew)")
    p.add_argument("--train-only", action="store_true",
                   help="train (and distil) the runs, then stop: no held-out metric, speeds, curves, diagnostics "
                        "or table; for studies run side by side whose runs a later study of the same setting reuses")
    p.add_argument("--out", default="", help="also write the result (Markdown) to this file")
    task.add_arguments(p)
    return p


def check(p: argparse.ArgumentParser, args, task: Optional[StudyTask] = None) -> None:
    """Every option checked before any work."""
    if args.budget < 1 or args.distill_budget < 0 or args.continue_budget < 0:
        p.error(f"--budget must be >= 1, --distill-budget and --continue-budget >= 0, got {args.budget}, "
                f"{args.distill_budget} and {args.continue_budget}")
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            p.error("--device cuda: torch finds no CUDA device on this machine; allowed here: cpu")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
        args.lr_list = floats(args.lrs)
        args.tau_list = floats(args.thresholds)
    except ValueError as e:
        p.error(f"--seeds/--lrs/--thresholds: {e}")
    if not args.seed_list or not args.lr_list or any(lr <= 0 for lr in args.lr_list):
        p.error("--seeds and --lrs need at least one value each, and rates > 0")
    try:
        args.model_list = choose_models(args.models)
    except ConfigError as e:
        p.error(str(e))
    if args.corpus and not os.path.isdir(args.corpus):
        p.error(f"--corpus: {args.corpus} is not a folder (expected {task.corpus_layout if task else 'a corpus'})")
    if task is not None:
        refusals = [why for why in map(task.refuse, args.model_list) if why]
        check_args = getattr(task, "check_args", None)
        refusals += [why for why in [check_args(args) if check_args else None] if why]
        if refusals:
            p.error(refusals[0])
        if not task.report_metric and len(args.lr_list) > 1:  # (check_args may give the task a held-out split)
            p.error(f"--lrs: the {task.name} task reports {task.metric} on the split a rate would be chosen on; "
                    f"give one rate (got {args.lrs}){task.held_out_hint}")
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        p.error(f"--out: folder {os.path.dirname(os.path.abspath(args.out))} does not exist")
    args.continue_budget = args.continue_budget or max(1, args.budget // 4)
    if task is not None and getattr(args, "extend_from", ""):
        why = extend_refusal(task, args)
        if why:
            p.error(f"--extend-from {args.extend_from}: {why}")
    if task is not None:
        other, this = work_setting(args.work), study_setting(task, args)
        if other is not None and other != this and not args.fresh:
            p.error(f"--work {args.work} holds the runs of another setting ({other}), which this study "
                    f"({this}) would overwrite; give it its own --work (or --fresh to replace them)")


SETTING_FILE = "setting.txt"
RUN_KEY_FILE = "run_key.json"  # under --resume: the key of the run a folder's checkpoints belong to


def open_run_folder(task: StudyTask, out: str, key: str, resume: bool, fresh: bool = False) -> bool:
    """Make ``out`` ready for the run ``key``; True when the run goes on from where it stopped.

    With ``resume`` (and not ``fresh``), a folder marked with the same key whose run the task can
    continue (``task.can_continue``) is kept.  Otherwise the folder is emptied (an earlier run of
    another key, or one trained without ``--resume``, starts over; a link to a run folder is
    replaced by a folder, the linked run left as it is) and, with ``resume``, marked with the key."""
    marker = os.path.join(out, RUN_KEY_FILE)
    if resume and not fresh and os.path.exists(marker) and task.can_continue(out):
        with open(marker, encoding="utf-8") as f:
            if f.read() == key:
                print(f"[study] continuing the unfinished run in {out}", flush=True)
                return True
    if os.path.islink(out):
        os.remove(out)  # a run linked in from another work folder stays there; this one trains its own
    else:
        shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    if resume:
        atomic_write(marker, lambda f: f.write(key.encode("utf-8")))
    return False


def study_setting(task: StudyTask, args) -> str:
    """What every run folder of a study depends on beyond its model, rate and seed: the task's
    setting and the budgets."""
    return (f"{task.describe(args)}; budgets {args.budget} {task.budget}, {args.continue_budget} continued, "
            f"{args.distill_budget} distilled")


BUDGET_IN_SETTING = re.compile(r"; budgets (\d+) ")


def setting_budget(setting: str) -> Optional[Tuple[str, int]]:
    """A ``study_setting`` split into the task's setting and the training budget (None when it
    names no budget)."""
    found = BUDGET_IN_SETTING.search(setting)
    return (setting[:found.start()], int(found.group(1))) if found else None


def extend_refusal(task: StudyTask, args) -> Optional[str]:
    """Why ``--extend-from`` cannot train the runs of ``args.extend_from`` on to ``--budget`` (None
    when it can): the task's schedule must not depend on the budget, the runs must have kept
    their optimizer state (``--resume``), and the setting must be this one at a smaller budget."""
    if not task.can_extend:
        return (f"the {task.name} task's schedule depends on the budget, so a run trained on is not the run the "
                f"larger budget gives; allowed for: {', '.join(n for n, t in TASKS.items() if t.can_extend)}")
    if not args.resume:
        return "needs --resume (the extended runs continue from their checkpoints, optimizer state included)"
    if os.path.abspath(args.extend_from) == os.path.abspath(args.work):
        return "is --work itself; give the shorter study's folder"
    source = work_setting(args.extend_from)
    if source is None:
        return f"holds no study ({SETTING_FILE} missing)"
    split = setting_budget(source)
    if not split or split[0] != task.describe(args):  # (the continued and distilled runs train anew)
        return f"holds another setting ({source}); allowed: this one ({task.describe(args)}) at a smaller --budget"
    shorter = split[1]
    if shorter >= args.budget:
        return f"its budget {shorter} is not smaller than --budget {args.budget}"
    return None


def adopt_shorter_run(task: StudyTask, source: str, out: str, key: str, shorter_key: str) -> bool:
    """Copy the finished run ``source`` (key ``shorter_key``, trained under ``--resume``) into ``out``
    and mark it with ``key``, so that the study continues it to the larger budget; False (nothing
    done) when ``out`` already holds an attempt at ``key`` or ``source`` holds no such run.  The
    copy is a real copy: the tools rewrite ``checkpoint_last`` in place, the source stays as it is."""
    marker = os.path.join(out, RUN_KEY_FILE)
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            if f.read() == key:
                return False
    try:
        with open(os.path.join(source, "result.json"), encoding="utf-8") as f:
            finished = json.load(f).get("key") == shorter_key
        with open(os.path.join(source, RUN_KEY_FILE), encoding="utf-8") as f:
            kept_state = f.read() == shorter_key
    except FileNotFoundError:
        return False
    if not (finished and kept_state and task.can_continue(source)):
        return False
    if os.path.islink(out):
        os.remove(out)
    else:
        shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(os.path.realpath(source), out, ignore=shutil.ignore_patterns("result.json", "reported",
                                                                                  "diagnostics"))
    atomic_write(marker, lambda f: f.write(key.encode("utf-8")))
    print(f"[study] extending {source} to this budget in {out}", flush=True)
    return True


def work_setting(work: str) -> Optional[str]:
    """The ``study_setting`` whose runs ``work`` holds; None for a new folder. Run folders are
    named by model, rate and seed only, so a study of another setting (or budget) in the same
    folder would retrain over them."""
    path = os.path.join(work, SETTING_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class Lanes:
    """Runs independent jobs ``jobs`` at a time (threads, each waiting on a tool's subprocess)."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        set_tool_threads(max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None)

    def map(self, fns: List[Callable[[], dict]]) -> List[dict]:
        if self.jobs == 1 or len(fns) < 2:
            return [fn() for fn in fns]
        with ThreadPoolExecutor(self.jobs) as pool:
            return [f.result() for f in [pool.submit(fn) for fn in fns]]


def run_once(out: str, key: str, fresh: bool, fn: Callable[[], dict]) -> dict:
    """``fn()``'s result, saved as ``out/result.json`` (atomically) with ``key``; reused when a
    finished run with the same key is there (and ``fresh`` is off)."""
    path = os.path.join(out, "result.json")
    if not fresh and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)  # data only: numbers, strings, lists
        if saved.get("key") == key:
            print(f"[study] reusing {out}", flush=True)
            return saved
    result = dict(fn(), key=key)
    text = json.dumps(result, indent=1)
    os.makedirs(out, exist_ok=True)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return result


def run_study(task: StudyTask, args, models: Optional[List[ModelSpec]] = None) -> str:
    """Train, distil and evaluate every model; returns the Markdown report."""
    t0 = time.time()
    models = models if models is not None else getattr(args, "model_list", STUDY_MODELS)
    set_tool_device(getattr(args, "device", "cpu"))
    os.makedirs(args.work, exist_ok=True)  # a new --work (a task whose data is not copied makes none)
    task.prepare(args, args.work)
    lanes = Lanes(args.jobs)
    fresh = getattr(args, "fresh", False)
    resume = getattr(args, "resume", False)
    setting = task.describe(args)
    atomic_write(os.path.join(args.work, SETTING_FILE), lambda f: f.write(study_setting(task, args).encode("utf-8")))

    extend_from = None  # (folder, its budget); check() made sure it names one
    if getattr(args, "extend_from", ""):
        extend_from = (args.extend_from, setting_budget(work_setting(args.extend_from))[1])

    def elapsed() -> str:
        return f"{time.time() - t0:.0f}s"

    def train_job(model: ModelSpec, lr: float, seed: int, budget: int, init: Optional[dict] = None):
        out = os.path.join(args.work, f"{model.slug}_lr{lr:g}_s{seed}")
        # a model's warm-up joins the key only when it sets one, and the study's --warmup-updates is in
        # ``setting`` only when it is not the task's default, so earlier runs' keys stay valid
        def key_at(updates: int) -> str:
            return json.dumps([setting, model.name, model.options, model.depth_multiplier, model.start_fraction,
                               init["checkpoint"] if init else None, lr, seed, updates]
                              + ([model.warmup_updates] if model.warmup_updates else [])
                              + ([model.decoder_options] if model.decoder_options is not None else []),
                              sort_keys=True, default=str)
        key = key_at(budget)

        def fn():
            print(f"[study] {model.name}, lr {lr:g}, seed {seed} ({elapsed()})", flush=True)
            if extend_from and not fresh and not init and not model.start_fraction:
                adopt_shorter_run(task, os.path.join(extend_from[0], os.path.basename(out)), out, key,
                                  key_at(extend_from[1]))
            trained = task.train(model, lr, seed, budget, out, init["checkpoint"] if init else None,
                                 continue_run=open_run_folder(task, out, key, resume, fresh))
            return dict(checkpoint=trained.checkpoint, value=task.quality(trained.checkpoint),
                        curve=task.curve(trained), plan="", seed=seed, lr=lr, device=task.devices(trained))
        return lambda: run_once(out, key, fresh, fn)

    def distil_job(teacher: dict, model: ModelSpec, tau: float, seed: int):
        out = os.path.dirname(teacher["checkpoint"]) + f"_eiiet_{tau:g}"
        key = json.dumps([setting, teacher["key"], tau, args.distill_lr, args.distill_budget, seed], sort_keys=True)

        def fn():
            print(f"[study] E-IIET tau={tau:g} of {model.name}, seed {seed} ({elapsed()})", flush=True)
            student = task.distil(Trained(teacher["checkpoint"], ""), model, tau, args.distill_lr, seed,
                                  args.distill_budget, out, continue_run=open_run_folder(task, out, key, resume, fresh))
            return dict(checkpoint=student.checkpoint, value=task.quality(student.checkpoint),
                        curve=task.curve(student), plan=task.plan_of(student.log), seed=seed, lr=args.distill_lr,
                        device=task.devices(student))
        return lambda: run_once(out, key, fresh, fn)

    seeds, first = args.seed_list, args.seed_list[0]
    scratch = [m for m in models if not m.init_from]
    # 1. every rate on the first seed; 2. the other seeds at each model's chosen rate
    swept = lanes.map([train_job(m, lr, first, args.budget) for m in scratch for lr in args.lr_list])
    sweeps: Dict[str, Dict[float, float]] = {}
    chosen: Dict[str, float] = {}
    runs: Dict[str, List[dict]] = {}
    for i, m in enumerate(scratch):
        results = swept[i * len(args.lr_list):(i + 1) * len(args.lr_list)]
        sweeps[m.name] = {lr: r["value"] for lr, r in zip(args.lr_list, results)}
        chosen[m.name] = choose_rate(sweeps[m.name], task.higher_is_better)
        runs[m.name] = [results[args.lr_list.index(chosen[m.name])]]
    more = lanes.map([train_job(m, chosen[m.name], s, args.budget) for m in scratch for s in seeds[1:]])
    for i, m in enumerate(scratch):
        runs[m.name] += more[i * (len(seeds) - 1):(i + 1) * (len(seeds) - 1)]
    # 3. continued models and E-IIET students (each needs a finished run of step 1-2)
    by_key = {model_key(m): m for m in models}
    later, names = [], []
    for m in models:
        if m.init_from:
            start = by_key[m.init_from]
            chosen[m.name] = chosen[start.name]
            for k, s in enumerate(seeds):
                later.append(train_job(m, chosen[m.name], s, args.continue_budget, init=runs[start.name][k]))
                names.append(m.name)
    # IIAD plans the iterations of the (decoder's) IIET stack: a model whose decoder does not iterate has none
    teachers = [m for m in scratch if m.side_options("decoder").get("ode_solver", "iie") == "iie"
                and not m.start_fraction and args.distill_budget]
    for m in teachers:
        for tau in args.tau_list:
            name = f"E-IIET (IIAD tau={tau:g})" if len(teachers) == 1 else f"E-IIET of {m.name} (IIAD tau={tau:g})"
            chosen[name] = args.distill_lr
            for k, s in enumerate(seeds):
                later.append(distil_job(runs[m.name][k], m, tau, s))
                names.append(name)
    for name, result in zip(names, lanes.map(later)):
        runs.setdefault(name, []).append(result)
    if getattr(args, "train_only", False):
        return trained_only(task, runs, time.time() - t0)
    if task.report_metric:
        print(f"[study] {task.report_metric} ({elapsed()})", flush=True)
    for rs in runs.values():
        for r in rs:
            r["reported"] = reported_value(task, r, fresh, task.reported_on(args))
    print(f"[study] inference speeds ({elapsed()})", flush=True)
    speeds = task.speeds([r["checkpoint"] for rs in runs.values() for r in rs])
    specs = describe_runs(task, args, models, runs)
    write_curves(task, args, runs, specs)
    print(f"[study] diagnostics ({elapsed()})", flush=True)
    diagnostics = write_diagnostics(task, args, runs, [m.name for m in models], fresh)
    return report(task, args, runs, specs, chosen, sweeps, speeds, time.time() - t0, diagnostics)


def trained_only(task: StudyTask, runs: Dict[str, List[dict]], seconds: float) -> str:
    """``--train-only``'s report: each finished run's folder and selection metric, nothing measured
    after training (a later study without the flag reuses the runs and measures the rest)."""
    lines = [f"Trained ({seconds:.0f} s); --train-only: the {task.report_metric or 'held-out metric'}, speeds, "
             "curves and diagnostics are not measured. A study of the same setting without --train-only "
             "reuses these runs.", ""]
    for name, rs in runs.items():
        for r in rs:
            lines.append(f"- {name}, lr {r['lr']:g}, seed {r['seed']}: {task.metric} {r['value']} "
                         f"({os.path.dirname(r['checkpoint'])})")
    return "\n".join(lines)


def reported_value(task: StudyTask, run: dict, fresh: bool, split: str = "") -> float:
    """The run's ``task.report_metric`` on its held-out split (cached in ``FOLDER/reported``
    under the run's key and ``split``, the task's ``reported_on``: another test slice is measured
    anew); its selection metric when the task has no held-out split (one rate, nothing chosen)."""
    if not task.report_metric:
        return run["value"]
    folder = os.path.join(os.path.dirname(run["checkpoint"]), "reported")
    key = json.dumps([run["key"], split]) if split else run["key"]
    return run_once(folder, key, fresh, lambda: dict(value=task.report_quality(run["checkpoint"])))["value"]


def write_diagnostics(task: StudyTask, args, runs: Dict[str, List[dict]], names: List[str], fresh: bool) -> List[str]:
    """Diagnostics over training of each model's first-seed run (``diagnostics``), cached in the
    run's folder; ``WORK/diagnostics.png`` and ``diagnostics.json``; returns the summary table."""
    from .diagnostics import plot_diagnostics, summary_lines
    series = {}
    for name in names:
        run = runs[name][0]
        folder = os.path.dirname(run["checkpoint"])
        cached = os.path.join(folder, "diagnostics")
        found = run_once(cached, run["key"], fresh, lambda: dict(series=task.diagnose(folder)))["series"]
        if found:
            series[name] = found
        elif found is not None:  # asked for, but the run kept no checkpoints: not cached, so a retrained run counts
            shutil.rmtree(cached, ignore_errors=True)
            print(f"[study] no diagnostics for {name}: {folder} kept no checkpoints (it was trained without the "
                  f"interval option and reused; --fresh retrains it)", flush=True)
    if not series:
        return []
    text = json.dumps(series, indent=1)
    atomic_write(os.path.join(args.work, "diagnostics.json"), lambda f: f.write(text.encode("utf-8")))
    plot_diagnostics(series, os.path.join(args.work, "diagnostics.png"), f"{task.name} study, seed {args.seed_list[0]}",
                     task.diagnostics_loss)
    return summary_lines(series, task.diagnostics_loss)


def describe_runs(task: StudyTask, args, models: List[ModelSpec], runs: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Per reported name: evaluations per forward, updates before its own (teacher's or starting
    model's), and training FLOPs in all (its own and those before it; 0 when not estimated)."""
    by_name = {m.name: m for m in models}
    by_key = {model_key(m): m for m in models}
    specs: Dict[str, dict] = {}
    for m in models:
        if m.init_from:
            continue
        flops = task.total_flops(m, args.budget)
        specs[m.name] = dict(evaluations=task.evaluations(m), offset=0, offset_flops=0.0,
                             flops=flops, model=m)
    for m in models:
        if m.init_from:
            start = specs[by_key[m.init_from].name]
            own = task.total_flops(m, args.continue_budget)
            specs[m.name] = dict(evaluations=task.evaluations(m), offset=args.budget,
                                 offset_flops=start["flops"], flops=start["flops"] + own, model=m)
    for name, rs in runs.items():
        if name not in by_name:  # E-IIET: its plan, after the teacher's budget
            specs[name] = dict(evaluations=statistics.mean(plan_evaluations(r["plan"]) for r in rs),
                               offset=args.budget, offset_flops=None, flops=None, model=None)
    return specs


def write_curves(task: StudyTask, args, runs: Dict[str, List[dict]], specs: Dict[str, dict]) -> None:
    """``WORK/curves.json`` (every reported run's curve, vs updates and vs training FLOPs),
    ``WORK/curves.png`` and ``WORK/curves_flops.png`` (mean and seed band per model; continued
    and distilled runs start where their starting run ended; E-IIET is left out of the FLOPs
    picture, its distillation cost being the teacher's forward plus the student's step)."""
    from .plots import plot_curves
    curves, flops = {}, {}
    for name, rs in runs.items():
        spec = specs[name]
        curves[name] = [[(u + spec["offset"], v) for u, v in r["curve"]] for r in rs]
        if spec["model"] is not None and spec["flops"]:
            budget = args.continue_budget if spec["offset"] else args.budget
            flops[name] = [task.curve_flops(spec["model"], r["curve"], budget, spec["offset_flops"]) for r in rs]
    text = json.dumps({"metric": task.curve_metric, "curves": curves, "curves_vs_train_flops": flops}, indent=1)
    atomic_write(os.path.join(args.work, "curves.json"), lambda f: f.write(text.encode("utf-8")))
    title = f"{task.name} study, {args.budget} {task.budget}"
    plot_curves(curves, task.curve_metric, os.path.join(args.work, "curves.png"), title)
    if flops:
        plot_curves(flops, task.curve_metric, os.path.join(args.work, "curves_flops.png"), title,
                    xlabel="training FLOPs (estimated)")


def report(task, args, runs, specs, chosen, sweeps, speeds, seconds, diagnostics=()) -> str:
    vanilla = next(iter(runs))
    base = statistics.median(speeds[r["checkpoint"]] for r in runs[vanilla])
    base_flops = specs[vanilla]["flops"]
    selection = [f"{task.metric} (rates chosen on it)"] if task.report_metric else []
    header = [task.report_metric or task.metric] + selection
    reported_on = task.reported_on(args)
    note = task.setting_note([spec["model"] for spec in specs.values() if spec["model"] is not None])
    lines = [f"## {task.name.upper()} study: {task.describe(args)}, {args.budget} {task.budget}, seeds {args.seeds}"
             + "".join(f"; {text}" for text in (note, reported_on) if text),
             "", f"| model | {header[0]} (mean ± std) | {' | '.join(selection + [''])}best {task.curve_metric} on the "
                 f"curve | plateau (gain in last {PLATEAU_TAIL:.0%}) | lr | layer evaluations | train FLOPs / "
                 f"{vanilla} | speed / {vanilla} | E-IIET plans |",
             "|---|" + "---|" * (len(header) + 7)]
    for name, rs in runs.items():
        spec = specs[name]
        plans = " / ".join(sorted({r["plan"] for r in rs if r["plan"]}))
        speed = statistics.median(speeds[r["checkpoint"]] for r in rs) / base
        best = [(max if task.curve_higher_is_better else min)(v for _, v in r["curve"]) for r in rs if r["curve"]]
        best_cell = mean_std(best, task.digits) if best else "–"
        gains = [plateau_gain(r["curve"], task.curve_higher_is_better) for r in rs]
        gain = statistics.mean(gains) if gains else float("nan")
        plateau = "–" if gain != gain else f"{'yes' if gain < PLATEAU_GAIN else 'no'} ({gain:.1%})"
        flops = f"{spec['flops'] / base_flops:.2f}" if spec["flops"] and base_flops else "–"
        evaluations = task.evaluations_cell(spec["model"]) if spec["model"] else count_text(spec["evaluations"])
        metrics = [mean_std([r["reported"] for r in rs], task.digits)]
        if selection:
            metrics.append(mean_std([r["value"] for r in rs], task.digits))
        lines.append(f"| {name} | {' | '.join(metrics)} | {best_cell} | {plateau} | "
                     f"{chosen[name]:g} | {evaluations} | {flops} | {speed:.2f} | {plans} |")
    held_out = (f"; the reported {task.report_metric} is on a split no rate was chosen on" if task.report_metric
                else f"; {task.metric} is reported on the split it is measured on, so the grid has one rate")
    lines += ["", f"Learning rate per model: chosen on seed {args.seed_list[0]} by {task.metric} from the grid "
                  f"{args.lrs}{held_out}; continued models train {args.continue_budget} {task.budget} more at their starting "
                  f"model's rate; E-IIET distils at {args.distill_lr:g} for {args.distill_budget} {task.budget} "
                  f"after its teacher's {args.budget}. Plateau: the best {task.curve_metric} improved by less than "
                  f"{PLATEAU_GAIN:.0%} over the last {PLATEAU_TAIL:.0%} of the updates (mean over seeds).", "",
              sweep_table(sweeps, chosen, args.seed_list[0], task.metric, "{:.%df}" % task.digits), ""]
    if diagnostics:
        lines += [f"Diagnostics (seed {args.seed_list[0]}, {os.path.join(args.work, 'diagnostics.png')}): the fixed-point "
                  "residual ||y(i) - y(i-1)|| / ||y(i) - y|| of each layer's last iteration, the held-out loss "
                  f"({task.diagnostics_loss}) when every layer stops after iteration i, and gradient norms per "
                  f"layer, on {task.diagnostics_batches}"
                  + ("; a model marked [encoder] iterates in its encoder only, and these are its encoder's layers "
                     "(the loss is the decoder's either way)" if any("[encoder]" in row for row in diagnostics) else "")
                  + ".", "", *diagnostics, ""]
    lines += [
              f"Learning curves ({task.curve_metric} at every validation, mean and seed band): "
              f"{os.path.join(args.work, 'curves.png')}, vs training FLOPs: "
              f"{os.path.join(args.work, 'curves_flops.png')} (data: curves.json).",
              f"machine: {machine_line()}",
              f"trained on: {trained_on(runs)}",
              f"command: iiet-study {args.command}  "
              f"({time.strftime('%Y-%m-%d')}, {seconds:.0f} s)"]
    return "\n".join(lines)


def trained_on(runs: Dict[str, List[dict]]) -> str:
    """Where the reported runs trained (their records' ``device``), grouped: ``cpu`` when all on
    one device, else each device with its runs, e.g. ``cpu: vanilla (seed 1); cuda: NVIDIA H200:
    vanilla (seeds 2, 3) and IIET r=2 (seed 2)``."""
    groups: Dict[str, Dict[str, List[int]]] = {}
    for name, rs in runs.items():
        for r in rs:
            groups.setdefault(r.get("device") or "not recorded", {}).setdefault(name, []).append(r["seed"])
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{device}: " + " and ".join(f"{name} (seed{'s' if len(seeds) > 1 else ''} "
                                                  f"{', '.join(map(str, seeds))})" for name, seeds in names.items())
                     for device, names in groups.items())


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in TASKS:
        given = repr(argv[0]) if argv else "nothing"
        sys.exit(f"iiet-study: error: the first argument is the task, one of {', '.join(TASKS)} (got {given})")
    task = TASKS[argv[0]]()
    p = parser_for(task)
    args = p.parse_args(argv[1:])
    args.command = " ".join(argv)
    check(p, args, task)
    text = run_study(task, args)
    print("\n" + text, flush=True)
    if args.out:
        atomic_write(args.out, lambda f: f.write((text + "\n").encode("utf-8")))


if __name__ == "__main__":
    main()
