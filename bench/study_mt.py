"""Real-data study, translation: vanilla vs RK2 vs PCformer vs IIET vs E-IIET on English->German.

    python bench/study_mt.py [--updates 600] [--seeds 1,2,3] [--thresholds 0.3,0.6]

The en-de pairs (a slice: --train-lines), sentencepiece + fairseq-preprocess
(examples/mt/prepare_ende.py), iiet_transformer_tiny with the same solver in encoder and
decoder at equal updates; E-IIET = IIAD distillation (iiad_translation: the decoder's plan) of
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
    p.add_argument("--updates", type=int, default=600)
    p.add_argument("--distill-updates", type=int, default=150)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--thresholds", default="0.3,0.6")
    p.add_argument("--train-lines", type=int, default=20000)
    p.add_argument("--eval-lines", type=int, default=300)
    args = p.parse_args(argv)
    import iiet_plugin
    user_dir = os.path.dirname(iiet_plugin.__file__)
    prep = os.path.join(args.work, "prep")
    shutil.rmtree(prep, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mt", "prepare_ende.py"), args.raw, prep,
                    "--vocab", "4000", "--train-lines", str(args.train_lines), "--eval-lines", str(args.eval_lines)],
                   check=True, capture_output=True)
    data = os.path.join(prep, "bin")
    common = ["--user-dir", user_dir, "--arch", "iiet_transformer_tiny", "--share-all-embeddings", "--optimizer",
              "adam", "--adam-betas", "(0.9,0.98)", "--lr", "0.003", "--lr-scheduler", "inverse_sqrt",
              "--warmup-updates", "100", "--clip-norm", "1.0", "--dropout", "0.1", "--criterion",
              "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--max-tokens", "4096", "--cpu",
              "--log-format", "simple", "--no-epoch-checkpoints", "--num-workers", "0", "--no-save-optimizer-state",
              "--skip-invalid-size-inputs-valid-test"]
    results = {}

    def evaluate(name, ckpt, evals, plan=""):
        out = run("fairseq-generate", data, "--user-dir", user_dir, "--path", ckpt, "--gen-subset", "valid",
                  "--beam", "4", "--max-len-a", "1.2", "--max-len-b", "10", "--post-process", "sentencepiece",
                  "--cpu", "--max-tokens", "8000")
        gen = ckpt + ".valid.txt"
        with open(gen, "w") as f:
            f.write(out)
        result, signature, _ = score(gen, os.path.join(prep, "valid.de"))
        speed = float(re.search(r"sentences/s, ([0-9.]+) tokens/s", out).group(1))
        results.setdefault(name, []).append((result.score, speed, evals, plan, signature))

    t0 = time.time()
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name, (solver, *extra) in MODELS:
            save = os.path.join(args.work, f"{re.sub(r'[^a-z0-9]+', '_', name.lower())}_s{seed}")
            shutil.rmtree(save, ignore_errors=True)
            print(f"[study] seed {seed}: {name} ({time.time() - t0:.0f}s)", flush=True)
            run("fairseq-train", data, "--task", "translation", *common, "--encoder-ode-solver", solver,
                "--decoder-ode-solver", solver, *extra, "--seed", seed, "--max-update", args.updates,
                "--save-dir", save)
            ckpt = os.path.join(save, "checkpoint_last.pt")
            evals = {"euler": 2, "rk2": 4, "pc": 6, "iie": 6}[solver]
            evaluate(name, ckpt, evals)
            if solver == "iie":
                for tau in [float(t) for t in args.thresholds.split(",")]:
                    ename = f"E-IIET (IIAD tau={tau:g})"
                    esave = f"{save}_eiiet_{tau:g}"
                    shutil.rmtree(esave, ignore_errors=True)
                    print(f"[study] seed {seed}: {ename}", flush=True)
                    log = run("fairseq-train", data, "--task", "iiad_translation", *common, "--encoder-ode-solver",
                              "iie", "--decoder-ode-solver", "iie", "--encoder-iie-iters", "2",
                              "--decoder-iie-iters", "2", "--teacher-path", ckpt, "--iiad-threshold", tau,
                              "--criterion", "iiad_distillation", "--kd-weight", "0.5", "--lr", "0.0005",
                              "--seed", seed, "--max-update", args.distill_updates, "--save-dir", esave)
                    plan = re.search(r"IIAD student plan ([0-9,]+)", log).group(1)
                    evaluate(ename, os.path.join(esave, "checkpoint_last.pt"),
                             sum(int(r) + 1 for r in plan.split(",")), plan)
    base = statistics.median(r[1] for r in results["vanilla (euler)"])
    print(f"\n## MT study: English->German ({args.train_lines} training pairs, sacreBLEU on {args.eval_lines} valid "
          f"pairs), iiet_transformer_tiny, {args.updates} updates, seeds {args.seeds}\n")
    print("| model | sacreBLEU (mean ± std) | decoder layer evaluations | generation tokens/s / vanilla | E-IIET plans |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        bleu = [r[0] for r in rows]
        std = statistics.stdev(bleu) if len(bleu) > 1 else 0.0
        plans = " / ".join(sorted({r[3] for r in rows if r[3]}))
        print(f"| {name} | {statistics.mean(bleu):.2f} ± {std:.2f} | {statistics.mean(r[2] for r in rows):g} | "
              f"{statistics.median(r[1] for r in rows) / base:.2f} | {plans} |")
    print(f"\nsacreBLEU signature: {results['vanilla (euler)'][0][4]}")
    print(f"E-IIET models add {args.distill_updates} distillation updates to their teacher's {args.updates}.")
    print(f"command: python bench/study_mt.py --updates {args.updates} --distill-updates {args.distill_updates} "
          f"--seeds {args.seeds} --thresholds {args.thresholds} --train-lines {args.train_lines}  "
          f"({time.strftime('%Y-%m-%d')}, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
