"""Real-data study, vision: vanilla vs RK2 vs PCformer vs IIET vs E-IIET on Fashion-MNIST.

    python bench/study_vision.py [--epochs 3] [--seeds 1,2,3] [--thresholds 0.3,0.6] [--lrs 0.0005,0.001,0.003]

examples/vision/train.py on a Fashion-MNIST slice (--train-limit images, evaluation on the first
--eval-limit test images), a small iiet_vit (64-d, 3 blocks, patch 7, avg pool) at equal epochs, each
model at its own learning rate from --lrs chosen on the first seed (bench/protocol.py);
E-IIET = IIAD distillation of each seed's IIET (r = 2) model at two thresholds of the `update`
score for --distill-epochs.  Reports top-1 (mean +- std over seeds), layer evaluations and
images/s relative to vanilla (batch 64, every final model timed round-robin at the end).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol import add_protocol_args, floats, mean_std, sweep_table, sweep_then_seeds  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TRAIN = os.path.join(ROOT, "examples", "vision", "train.py")
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "vision", "fashion-mnist")
KWARGS = {"embed_dim": 64, "depth": 3, "num_heads": 2, "patch_size": 7, "global_pool": "avg"}
MODELS = [("vanilla (euler)", ["--ode-solver", "euler"]), ("ODE Transformer RK2 (gated)", ["--ode-solver", "rk2",
          "--ode-coef", "gated"]), ("PCformer (rk2 predictor)", ["--ode-solver", "pc"]),
          ("IIET r=2", ["--ode-solver", "iie", "--iie-iters", "2"])]


def run(*args):
    proc = subprocess.run([sys.executable, TRAIN, *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if proc.returncode:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-3000:])
    return proc.stdout


def load_model(checkpoint):
    from iiet_plugin.vision.checkpoints import model_from_checkpoint, read_checkpoint
    return model_from_checkpoint(read_checkpoint(checkpoint, "checkpoint"), num_classes=10, in_chans=1).eval()


def images_per_second(checkpoints, rounds=7, batch=64):
    """Median images/s per checkpoint, timed round-robin (every model once per round), so
    that drifts of the machine's speed fall on all models alike."""
    models = {path: load_model(path) for path in checkpoints}
    x = torch.randn(batch, 1, 28, 28)
    times = {path: [] for path in checkpoints}
    with torch.no_grad():
        for model in models.values():
            model(x)
        for _ in range(rounds):
            for path, model in models.items():
                t0 = time.perf_counter()
                model(x)
                times[path].append(time.perf_counter() - t0)
    return {path: batch / statistics.median(t) for path, t in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=SHARED)
    p.add_argument("--work", default=os.path.join(ROOT, "runs", "study_vision"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--distill-epochs", type=int, default=1)
    p.add_argument("--train-limit", type=int, default=3000)
    p.add_argument("--eval-limit", type=int, default=1000)
    add_protocol_args(p, lrs="0.0005,0.001,0.003", distill_lr=3e-4)
    args = p.parse_args(argv)
    common = ["--data", args.data, "--model", "iiet_vit_tiny_patch4_28", "--model-kwargs", json.dumps(KWARGS),
              "--batch-size", "32", "--warmup-epochs", "0", "--smoothing", "0", "--weight-decay", "0",
              "--train-limit", args.train_limit, "--eval-limit", args.eval_limit, "--no-progress",
              "--overwrite"]  # a rerun replaces the earlier one
    results, chosen, sweeps = {}, {}, {}
    seeds = [int(x) for x in args.seeds.split(",")]
    t0 = time.time()
    for name, flags in MODELS:
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower())

        def train_eval(lr, seed):
            out = os.path.join(args.work, f"{slug}_lr{lr:g}_s{seed}")
            print(f"[study] {name}, lr {lr:g}, seed {seed} ({time.time() - t0:.0f}s)", flush=True)
            run(*common, *flags, "--lr", lr, "--epochs", args.epochs, "--seed", seed, "--output", out)
            top1 = torch.load(os.path.join(out, "last.pt"), weights_only=True)["history"][-1]["top1"]
            return top1, dict(ckpt=os.path.join(out, "last.pt"), out=out, seed=seed)

        chosen[name], runs, sweeps[name] = sweep_then_seeds(floats(args.lrs), seeds, train_eval,
                                                             higher_is_better=True)
        results[name] = [(top1, info["ckpt"], "") for top1, info in runs]
        if not name.startswith("IIET"):
            continue
        for tau in floats(args.thresholds):
            ename = f"E-IIET (IIAD tau={tau:g})"
            chosen[ename] = args.distill_lr
            for _, info in runs:
                eout = f"{info['out']}_eiiet_{tau:g}"
                print(f"[study] {ename}, seed {info['seed']}", flush=True)
                log = run(*common, "--teacher", info["ckpt"], "--iiad-threshold", tau, "--kd-weight", "0.5",
                          "--lr", args.distill_lr, "--epochs", args.distill_epochs, "--seed", info["seed"],
                          "--output", eout)
                plan = re.search(r"IIAD student plan ([0-9,]+)", log).group(1)
                top1 = torch.load(os.path.join(eout, "last.pt"), weights_only=True)["history"][-1]["top1"]
                results.setdefault(ename, []).append((top1, os.path.join(eout, "last.pt"), plan))
    print(f"[study] timing every final model round-robin ({time.time() - t0:.0f}s)", flush=True)
    speed = images_per_second([r[1] for rows in results.values() for r in rows])
    evaluations = {path: load_model(path).evaluations() for rows in results.values() for _, path, _ in rows}
    base = statistics.median(speed[r[1]] for r in results["vanilla (euler)"])
    print(f"\n## Vision study: Fashion-MNIST ({args.train_limit} training images, top-1 on {args.eval_limit} test "
          f"images), iiet_vit 64-d x 3 blocks, {args.epochs} epochs, seeds {args.seeds}\n")
    print("| model | top-1 % (mean ± std) | lr | layer evaluations | images/s / vanilla | E-IIET plans |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        plans = " / ".join(sorted({r[2] for r in rows if r[2]}))
        print(f"| {name} | {mean_std([r[0] for r in rows])} | {chosen[name]:g} | "
              f"{statistics.mean(evaluations[r[1]] for r in rows):.3g} | "
              f"{statistics.median(speed[r[1]] for r in rows) / base:.2f} | {plans} |")
    print(f"\nLearning rate per model: chosen on seed {seeds[0]} by top-1 from the grid {args.lrs} (AdamW, cosine, "
          f"no warmup); the chosen seed's run is one of the reported ones and is scored on the same "
          f"{args.eval_limit} test images.  E-IIET distils at {args.distill_lr:g}.\n")
    print(sweep_table(sweeps, chosen, seeds[0], "top-1"))
    print(f"\nE-IIET models add {args.distill_epochs} distillation epoch(s) to their teacher's {args.epochs}.")
    print(f"command: python bench/study_vision.py --epochs {args.epochs} --distill-epochs {args.distill_epochs} "
          f"--seeds {args.seeds} --thresholds {args.thresholds} --lrs {args.lrs}  ({time.strftime('%Y-%m-%d')}, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
