"""Real-data study, translation: vanilla vs RK2 vs PCformer vs IIET vs E-IIET on English->German.

    python bench/study_mt.py [--updates 400] [--seeds 1,2,3] [--thresholds 0.3,0.6] [--lrs 0.01,0.02]

The en-de pairs (--train-lines pairs spread evenly over the corpus, which is grouped by source;
pairs of at most --max-words words a side, so that a tiny model learns something measurable in
a few hundred CPU updates), sentencepiece + fairseq-preprocess (examples/mt/prepare_ende.py),
iiet_transformer_tiny with the same solver in encoder and decoder at equal updates, each model
at its own learning rate from --lrs chosen on the first seed (bench/protocol.py); E-IIET = IIAD distillation (iiad_translation: the decoder's plan) of
each seed's IIET (r = 2) model at two thresholds of the `update` score.  Reports sacreBLEU on
the valid split (beam 4, detokenized, mean +- std over seeds), decoder layer evaluations and
measured generation speed (fairseq-generate tokens/s) relative to vanilla.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "mt", "en-de")
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "examples", "mt"))
from score import score  # noqa: E402
from protocol import (add_protocol_args, floats, mean_std, plan_evaluations, sweep_table,  # noqa: E402
                      sweep_then_seeds)

MODELS = [("vanilla (euler)", ["euler"]), ("ODE Transformer RK2 (gated)", ["rk2", "--encoder-ode-coef", "gated",
          "--decoder-ode-coef", "gated"]), ("PCformer (rk2 predictor)", ["pc"]),
          ("IIET r=2", ["iie", "--encoder-iie-iters", "2", "--decoder-iie-iters", "2"])]


def run(tool, *args):
    proc = subprocess.run([os.path.join(BIN, tool), *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    out = proc.stdout + proc.stderr
    if proc.returncode:
        sys.exit(out[-4000:] + f"\n{tool} failed")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw", default=SHARED)
    p.add_argument("--work", default=os.path.join(ROOT, "runs", "study_mt"))
    p.add_argument("--updates", type=int, default=400)
    p.add_argument("--distill-updates", type=int, default=100)
    p.add_argument("--train-lines", type=int, default=30000)
    p.add_argument("--eval-lines", type=int, default=300)
    p.add_argument("--max-words", type=int, default=15,
                   help="keep pairs of at most this many words a side (every split; 0 keeps all)")
    add_protocol_args(p, lrs="0.01,0.02", distill_lr=0.0005)
    args = p.parse_args(argv)
    import iiet_plugin
    user_dir = os.path.dirname(iiet_plugin.__file__)
    prep = os.path.join(args.work, "prep")
    shutil.rmtree(prep, ignore_errors=True)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mt", "prepare_ende.py"), args.raw, prep,
                           "--vocab", "4000", "--train-lines", str(args.train_lines), "--train-pick", "spread",
                           "--eval-lines", str(args.eval_lines),
                           *(["--max-words", str(args.max_words)] if args.max_words else [])],
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-3000:] + "\nprepare_ende.py failed")
    data = os.path.join(prep, "bin")
    common = ["--user-dir", user_dir, "--arch", "iiet_transformer_tiny", "--share-all-embeddings", "--optimizer",
              "adam", "--adam-betas", "(0.9,0.98)", "--lr-scheduler", "inverse_sqrt",
              "--warmup-updates", "100", "--clip-norm", "1.0", "--dropout", "0.1", "--criterion",
              "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--max-tokens", "4096", "--cpu",
              "--log-format", "simple", "--no-epoch-checkpoints", "--num-workers", "0", "--no-save-optimizer-state",
              "--skip-invalid-size-inputs-valid-test"]
    results = {}

    def evaluate(ckpt, evals, plan=""):
        out = run("fairseq-generate", data, "--user-dir", user_dir, "--path", ckpt, "--gen-subset", "valid",
                  "--beam", "4", "--max-len-a", "1.2", "--max-len-b", "10", "--post-process", "sentencepiece",
                  "--cpu", "--max-tokens", "8000")
        gen = ckpt + ".valid.txt"
        with open(gen, "w") as f:
            f.write(out)
        result, signature, _ = score(gen, os.path.join(prep, "valid.de"))
        speed = float(re.search(r"sentences/s, ([0-9.]+) tokens/s", out).group(1))
        return result.score, speed, evals, plan, signature

    chosen, sweeps = {}, {}
    seeds = [int(x) for x in args.seeds.split(",")]
    t0 = time.time()
    for name, (solver, *extra) in MODELS:
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower())
        evals = {"euler": 2, "rk2": 4, "pc": 6, "iie": 6}[solver]

        def train_eval(lr, seed):
            save = os.path.join(args.work, f"{slug}_lr{lr:g}_s{seed}")
            shutil.rmtree(save, ignore_errors=True)
            print(f"[study] {name}, lr {lr:g}, seed {seed} ({time.time() - t0:.0f}s)", flush=True)
            run("fairseq-train", data, "--task", "translation", *common, "--encoder-ode-solver", solver,
                "--decoder-ode-solver", solver, *extra, "--lr", lr, "--seed", seed, "--max-update", args.updates,
                "--save-dir", save)
            ckpt = os.path.join(save, "checkpoint_last.pt")
            row = evaluate(ckpt, evals)
            return row[0], dict(row=row, ckpt=ckpt, seed=seed)

        chosen[name], runs, sweeps[name] = sweep_then_seeds(floats(args.lrs), seeds, train_eval,
                                                             higher_is_better=True)
        results[name] = [info["row"] for _, info in runs]
        if solver != "iie":
            continue
        for tau in floats(args.thresholds):
            ename = f"E-IIET (IIAD tau={tau:g})"
            chosen[ename] = args.distill_lr
            for _, info in runs:
                esave = f"{os.path.dirname(info['ckpt'])}_eiiet_{tau:g}"
                shutil.rmtree(esave, ignore_errors=True)
                print(f"[study] {ename}, seed {info['seed']}", flush=True)
                log = run("fairseq-train", data, "--task", "iiad_translation", *common, "--encoder-ode-solver",
                          "iie", "--decoder-ode-solver", "iie", "--encoder-iie-iters", "2",
                          "--decoder-iie-iters", "2", "--teacher-path", info["ckpt"], "--iiad-threshold", tau,
                          "--criterion", "iiad_distillation", "--kd-weight", "0.5", "--lr", args.distill_lr,
                          "--seed", info["seed"], "--max-update", args.distill_updates, "--save-dir", esave)
                plan = re.search(r"IIAD student plan ([0-9,]+)", log).group(1)
                results.setdefault(ename, []).append(evaluate(os.path.join(esave, "checkpoint_last.pt"),
                                                              plan_evaluations(plan), plan))
    base = statistics.median(r[1] for r in results["vanilla (euler)"])
    words = f" of <= {args.max_words} words a side" if args.max_words else ""
    print(f"\n## MT study: English->German ({args.train_lines} training pairs{words} spread over the corpus, "
          f"sacreBLEU on {args.eval_lines} valid pairs{words}), iiet_transformer_tiny, {args.updates} updates, seeds {args.seeds}\n")
    print("| model | sacreBLEU (mean ± std) | lr | decoder layer evaluations | generation tokens/s / vanilla | "
          "E-IIET plans |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        plans = " / ".join(sorted({r[3] for r in rows if r[3]}))
        print(f"| {name} | {mean_std([r[0] for r in rows], 2)} | {chosen[name]:g} | "
              f"{statistics.mean(r[2] for r in rows):g} | "
              f"{statistics.median(r[1] for r in rows) / base:.2f} | {plans} |")
    print(f"\nsacreBLEU signature: {results['vanilla (euler)'][0][4]}")
    print(f"Learning rate per model: chosen on seed {seeds[0]} by valid BLEU from the grid {args.lrs} (inverse_sqrt, "
          f"100 warmup updates); E-IIET distils at {args.distill_lr:g}.\n")
    print(sweep_table(sweeps, chosen, seeds[0], "valid BLEU", '{:.2f}'))
    print(f"\nE-IIET models add {args.distill_updates} distillation updates to their teacher's {args.updates}.")
    print(f"command: python bench/study_mt.py --updates {args.updates} --distill-updates {args.distill_updates} "
          f"--seeds {args.seeds} --thresholds {args.thresholds} --train-lines {args.train_lines} "
          f"--max-words {args.max_words} --lrs {args.lrs}  "
          f"({time.strftime('%Y-%m-%d')}, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
