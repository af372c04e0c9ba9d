"""The README's main job: a real, CPU-sized comparison on the WEB Bible.

1. corpus: lm/bible_web under --data or $IIET_DATA, else built offline from Debian
   packages by prepare_bible.py (``apt-get``);
2. fairseq-preprocess of a slice;
3. fairseq-train iiet_lm_tiny as vanilla (euler) and as IIET (iie, r = 2), equal updates; IIET
   with the paper's two-stage recipe (vanilla updates first, iterations from half the budget:
   the LM study found it well ahead of iterations from the start, see the README);
4. IIAD: influence of the IIET model's iterations, a plan from a threshold, and a short
   distillation into E-IIET (the iiad_language_modeling task + iiad_distillation criterion);
5. fairseq-eval-lm on the test slice: perplexity; then the speeds of all three models,
   measured interleaved in this process (round-robin, median of rounds), relative to vanilla.

    python examples/lm/main_job.py [--updates 600] [--work runs/main]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

from iiet_plugin.experiments.corpora import binarize_lm_slice
from iiet_plugin.experiments.data import corpus_dir
from iiet_plugin.experiments.models import layer_evaluations
from iiet_plugin.experiments.protocol import plan_evaluations, warmup_refusal
from iiet_plugin.experiments.runner import ToolFailed, run_tool, user_dir
from iiet_plugin.experiments.speed import checkpoint_speeds
from iiet_plugin.experiments.timing import machine_line

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(tool, *args, log_every=None):
    try:
        return run_tool(tool, *args, progress=log_every)
    except ToolFailed as e:
        sys.exit(str(e))


def corpus_source(data, work):
    """The WEB Bible folder: ``--data``/``$IIET_DATA``'s lm/bible_web, else built offline."""
    source = corpus_dir("lm", data, required=False)
    if source is not None:
        return source
    built = os.path.join(work, "bible_web")
    if not os.path.exists(os.path.join(built, "train.txt")):
        print("[main] no --data or $IIET_DATA: building the WEB Bible corpus from Debian packages", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, "prepare_bible.py"), built, "--install"], check=True)
    return built


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="the data root (default: $IIET_DATA; without one the corpus is "
                                                "built from Debian packages)")
    p.add_argument("--work", default=os.path.join(ROOT, "runs", "main"))
    p.add_argument("--updates", type=int, default=600)
    p.add_argument("--distill-updates", type=int, default=150)
    p.add_argument("--threshold", type=float, default=0.3, help="IIAD threshold on the update score")
    p.add_argument("--iie-start-update", type=int, default=None,
                   help="the paper's two-stage recipe: IIET trains as vanilla until this update, with its "
                        "iterations after (default: half of --updates, what the LM study supports; 0: "
                        "iterations from the start)")
    p.add_argument("--warmup-updates", type=int, default=50,
                   help="learning-rate warm-up of every model (inverse-sqrt), as iiet-study's --warmup-updates")
    p.add_argument("--train-lines", type=int, default=8000)
    p.add_argument("--eval-lines", type=int, default=600)
    p.add_argument("--speed-rounds", type=int, default=7, help="rounds of the interleaved speed measurement")
    args = p.parse_args(argv)
    if args.iie_start_update is None:
        args.iie_start_update = args.updates // 2
    if not 0 <= args.iie_start_update < args.updates:
        p.error(f"--iie-start-update must be in [0, --updates={args.updates}), got {args.iie_start_update}")
    if warmup_refusal(args.warmup_updates):
        p.error(warmup_refusal(args.warmup_updates))
    print(f"[main] preprocessing {args.train_lines} training verses", flush=True)
    source = corpus_source(args.data, args.work)
    data = binarize_lm_slice(source, args.work, args.train_lines, args.eval_lines)  # a rerun rebuilds from scratch
    common = ["--task", "language_modeling", "--user-dir", user_dir(), "--arch", "iiet_lm_tiny",
              "--share-decoder-input-output-embed", "--tokens-per-sample", "128", "--max-tokens", "2048",
              "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", "0.003", "--lr-scheduler",
              "inverse_sqrt", "--warmup-updates", args.warmup_updates, "--clip-norm", "1.0", "--dropout", "0.1",
              "--log-format", "simple", "--log-interval", "50",
              "--no-epoch-checkpoints", "--cpu", "--seed", "1", "--num-workers", "0"]

    def train(name, flags, updates):
        tag = re.sub(r"\W+", "_", name).strip("_")
        shutil.rmtree(os.path.join(args.work, tag), ignore_errors=True)  # no silent resume from an old run
        print(f"[main] training {name} for {updates} updates", flush=True)
        log = run("fairseq-train", data, *common, "--max-update", updates, *flags,
                  "--save-dir", os.path.join(args.work, tag), log_every=r"\| (train_inner|valid) \||iiad_task \| IIAD")
        return os.path.join(args.work, tag, "checkpoint_last.pt"), log

    def score(name, checkpoint, evals):
        out = run("fairseq-eval-lm", data, "--user-dir", user_dir(), "--path", checkpoint, "--gen-subset", "test",
                  "--tokens-per-sample", "128", "--max-tokens", "4096", "--cpu")
        ppl = float(re.search(r"Perplexity: ([0-9.]+)", out).group(1))
        rows.append((name, checkpoint, ppl, evals))

    rows = []
    vanilla, _ = train("vanilla (euler)", ["--ode-solver", "euler"], args.updates)
    score("vanilla (euler)", vanilla, layer_evaluations(dict(ode_solver="euler"), 2))
    recipe = ["--iie-start-update", args.iie_start_update] if args.iie_start_update else []
    iiet_name = "IIET r=2" + (f" (iterations from update {args.iie_start_update})" if recipe else "")
    iiet, _ = train(iiet_name, ["--ode-solver", "iie", "--iie-iters", "2", *recipe], args.updates)
    score(iiet_name, iiet, layer_evaluations(dict(ode_solver="iie", iie_iters=2), 2))
    print("[main] IIAD: influence of each iteration of the IIET model", flush=True)
    print(run("iiet-influence", "--path", iiet, "--data", data, "--batches", "8", "--scores", "update",
              "--thresholds", f"0,{args.threshold},1e9", "--json", os.path.join(args.work, "influence.json"),
              "--heatmap", os.path.join(args.work, "influence.png")).split("teacher plan", 1)[-1].split("DEBUG")[0])
    eiiet, log = train(f"E-IIET (IIAD tau={args.threshold:g})",
                               ["--task", "iiad_language_modeling", "--ode-solver", "iie", "--iie-iters", "2",
                                "--teacher-path", iiet,
                                "--iiad-threshold", args.threshold, "--criterion", "iiad_distillation",
                                "--kd-weight", "0.5", "--lr", "0.0005"],
                               args.distill_updates)
    plan = re.search(r"IIAD student plan ([0-9,]+)", log).group(1)
    score(f"E-IIET (IIAD tau={args.threshold:g}, plan {plan})", eiiet, plan_evaluations(plan))
    print("[main] speeds: every model in turn, round after round, on the same test batches", flush=True)
    speeds = checkpoint_speeds([r[1] for r in rows], data, subset="test", rounds=args.speed_rounds)
    base = speeds[rows[0][1]]
    print(f"\n## WEB Bible, iiet_lm_tiny (2 layers), {args.updates} updates each "
          f"(+{args.distill_updates} distillation updates for E-IIET), warm-up {args.warmup_updates} updates, "
          f"test slice ({args.eval_lines} verses)\n")
    print("| model | test ppl | layer evaluations | train step time / vanilla | scoring speed / vanilla |")
    print("|---|---|---|---|---|")
    for name, checkpoint, ppl, evals in rows:
        mine = speeds[checkpoint]
        print(f"| {name} | {ppl:.1f} | {evals} ({evals / 2:.1f}x) | {mine['train_step_s'] / base['train_step_s']:.2f} | "
              f"{mine['score_tokens_s'] / base['score_tokens_s']:.2f} |")
    print(f"\nSpeeds: medians of {args.speed_rounds} rounds, the models interleaved in one process "
          "(iiet_plugin.experiments.speed); a train step is forward + backward of the model's own loss "
          "(E-IIET without its teacher).")
    print(f"machine: {machine_line()}")
    print(f"command: python examples/lm/main_job.py --updates {args.updates} --distill-updates "
          f"{args.distill_updates} --threshold {args.threshold:g} --train-lines {args.train_lines} "
          f"--iie-start-update {args.iie_start_update} --warmup-updates {args.warmup_updates}")


if __name__ == "__main__":
    main()
