"""Real-data study, language modeling: vanilla vs RK2 vs PCformer vs IIET vs E-IIET.

    python bench/study_lm.py [--updates 200] [--seeds 1,2,3] [--thresholds 0.3,0.6] [--lrs 0.003,0.01,0.02]

WEB Bible (a slice: --train-lines verses), iiet_lm_tiny at equal updates for every model and
seed, each model at its own learning rate from --lrs chosen on the first seed (bench/protocol.py); E-IIET = IIAD distillation of each seed's IIET (r = 2) model at two thresholds (default 0.3 and 0.6) of the
`update` influence score, for --distill-updates more updates.  Reports validation perplexity
(mean +- std over seeds), parameters, layer evaluations and measured scoring speed
relative to vanilla (fairseq-eval-lm tokens/s, median over seeds).
"""
import argparse
import os
import re
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples", "lm"))
from main_job import binarize_slice, run, user_dir  # noqa: E402
from protocol import (add_protocol_args, floats, mean_std, plan_evaluations, sweep_table,  # noqa: E402
                      sweep_then_seeds)

MODELS = [("vanilla (euler)", ["--ode-solver", "euler"]), ("ODE Transformer RK2 (gated)", ["--ode-solver", "rk2",
          "--ode-coef", "gated"]), ("PCformer (rk2 predictor)", ["--ode-solver", "pc"]),
          ("IIET r=2", ["--ode-solver", "iie", "--iie-iters", "2"])]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=os.path.join(os.path.dirname(HERE), "runs", "study_lm"))
    p.add_argument("--updates", type=int, default=200)
    p.add_argument("--distill-updates", type=int, default=60)
    p.add_argument("--train-lines", type=int, default=8000)
    p.add_argument("--eval-lines", type=int, default=600)
    add_protocol_args(p, lrs="0.003,0.01,0.02", distill_lr=0.0005)
    args = p.parse_args(argv)
    lrs = floats(args.lrs)
    seeds = [int(s) for s in args.seeds.split(",")]
    taus = [float(t) for t in args.thresholds.split(",")]
    data = binarize_slice(args.work, args.train_lines, args.eval_lines)
    common = ["--task", "language_modeling", "--user-dir", user_dir(), "--arch", "iiet_lm_tiny",
              "--share-decoder-input-output-embed", "--tokens-per-sample", "128", "--max-tokens", "2048",
              "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr-scheduler", "inverse_sqrt",
              "--warmup-updates", "50", "--clip-norm", "1.0", "--dropout", "0.1", "--log-format", "simple",
              "--log-interval", "100", "--no-epoch-checkpoints", "--cpu", "--num-workers", "0", "--no-save-optimizer-state"]
    results, chosen, sweeps = {}, {}, {}

    def evaluate(ckpt):
        out = run("fairseq-eval-lm", data, "--user-dir", user_dir(), "--path", ckpt, "--gen-subset", "valid",
                  "--tokens-per-sample", "128", "--max-tokens", "4096", "--cpu")
        ppl = float(re.search(r"Perplexity: ([0-9.]+)", out).group(1))
        tok_s = float(re.search(r"\(([0-9.]+) tokens/s\)", out).group(1))
        return ppl, tok_s

    t0 = time.time()
    for name, flags in MODELS:
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower())

        def train_eval(lr, seed):
            save = os.path.join(args.work, f"{slug}_lr{lr:g}_s{seed}")
            shutil.rmtree(save, ignore_errors=True)
            print(f"[study] {name}, lr {lr:g}, seed {seed} ({time.time() - t0:.0f}s)", flush=True)
            log = run("fairseq-train", data, *common, *flags, "--lr", lr, "--seed", seed,
                      "--max-update", args.updates, "--save-dir", save)
            n = re.search(r"num\. shared model params: ([0-9,]+)", log) or re.search(r"model params: ([0-9,]+)", log)
            ppl, tok_s = evaluate(os.path.join(save, "checkpoint_last.pt"))
            return ppl, dict(speed=tok_s, extra=int(n.group(1).replace(",", "")) if n else "",
                             ckpt=os.path.join(save, "checkpoint_last.pt"), seed=seed)

        chosen[name], runs, sweeps[name] = sweep_then_seeds(lrs, seeds, train_eval, higher_is_better=False)
        results[name] = [(ppl, info["speed"], info["extra"]) for ppl, info in runs]
        if not name.startswith("IIET"):
            continue
        for tau in taus:
            ename = f"E-IIET (IIAD tau={tau:g})"
            for _, info in runs:
                esave = f"{info['ckpt'][:-len('/checkpoint_last.pt')]}_eiiet_{tau:g}"
                shutil.rmtree(esave, ignore_errors=True)
                print(f"[study] {ename}, seed {info['seed']}", flush=True)
                elog = run("fairseq-train", data, *common, "--task", "iiad_language_modeling", "--ode-solver",
                           "iie", "--iie-iters", "2", "--teacher-path", info["ckpt"], "--iiad-threshold", tau,
                           "--criterion", "iiad_distillation", "--kd-weight", "0.5", "--lr", args.distill_lr,
                           "--seed", info["seed"], "--max-update", args.distill_updates, "--save-dir", esave)
                plan = re.search(r"IIAD student plan ([0-9,]+)", elog).group(1)
                ppl, tok_s = evaluate(os.path.join(esave, "checkpoint_last.pt"))
                results.setdefault(ename, []).append((ppl, tok_s, plan))
            chosen[ename] = args.distill_lr
    base_speed = statistics.median(r[1] for r in results["vanilla (euler)"])
    print(f"\n## LM study: WEB Bible ({args.train_lines} training verses), iiet_lm_tiny (2 layers, 64-d), "
          f"{args.updates} updates, seeds {args.seeds}\n")
    print("| model | valid ppl (mean ± std) | lr | params / E-IIET plans | layer evaluations | scoring speed / vanilla |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        extra = rows[0][2]
        if name.startswith("E-IIET"):
            plans = sorted({r[2] for r in rows})
            evals = statistics.mean(plan_evaluations(r[2]) for r in rows)
            extra = "plans " + " / ".join(plans)
        else:
            evals = {"vanilla": 2, "ODE": 4, "PCformer": 6, "IIET": 6}[name.split(" ")[0]]
        speed = statistics.median(r[1] for r in rows) / base_speed
        print(f"| {name} | {mean_std([r[0] for r in rows])} | {chosen[name]:g} | {extra} | {evals:g} | "
              f"{speed:.2f} |")
    print(f"\nLearning rate per model: chosen on seed {seeds[0]} by valid ppl from the grid {args.lrs} "
          f"(inverse_sqrt, 50 warmup updates); E-IIET distils at {args.distill_lr:g}.\n")
    print(sweep_table(sweeps, chosen, seeds[0], "valid ppl"))
    print(f"\nE-IIET models add {args.distill_updates} distillation updates to their teacher's {args.updates}.")
    print(f"command: python bench/study_lm.py --updates {args.updates} --distill-updates {args.distill_updates} "
          f"--seeds {args.seeds} --thresholds {args.thresholds} --train-lines {args.train_lines} --lrs {args.lrs}  "
          f"({time.strftime('%Y-%m-%d')}, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
