"""Train the IIET teacher whose IIAD plans bench/inference.py measures.

    python bench/teacher_lm.py [--updates 300] [--work runs/bench_teacher]

An iiet_lm_tiny widened to the inference bench's size (256-d, 1024 FFN, 4 layers, 4 heads),
IIET with r = 2, trained on a WEB Bible slice (lm/bible_web under --data or $IIET_DATA).  Prints the checkpoint path on
the last line; the checkpoint's task config points at the binarized slice, which
bench/inference.py uses for calibration.
"""
import argparse
import os
import shutil

from iiet_plugin.experiments.builders import LM_BENCH_SIZES
from iiet_plugin.experiments.corpora import binarize_lm_slice
from iiet_plugin.experiments.data import corpus_dir
from iiet_plugin.experiments.runner import run_tool, user_dir

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=os.path.join(os.path.dirname(HERE), "runs", "bench_teacher"))
    p.add_argument("--updates", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--train-lines", type=int, default=20000)
    p.add_argument("--data", default=None, help="the data root (default: $IIET_DATA)")
    args = p.parse_args(argv)
    data = binarize_lm_slice(corpus_dir("lm", args.data), args.work, args.train_lines, 1000, vocab=8000)
    save = os.path.join(args.work, "iiet_r2")
    shutil.rmtree(save, ignore_errors=True)
    run_tool("fairseq-train", data, "--task", "language_modeling", "--user-dir", user_dir(), "--arch", "iiet_lm_tiny",
        *LM_BENCH_SIZES, "--ode-solver", "iie", "--iie-iters", "2", "--share-decoder-input-output-embed",
        "--tokens-per-sample", "128", "--max-tokens", "2048", "--optimizer", "adam", "--adam-betas", "(0.9,0.98)",
        "--lr", args.lr, "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "100", "--clip-norm", "1.0",
        "--dropout", "0.1", "--max-update", args.updates, "--log-format", "simple", "--log-interval", "50",
        "--no-epoch-checkpoints", "--cpu", "--num-workers", "0", "--no-save-optimizer-state", "--seed", "1",
        "--save-dir", save, progress=r"\| (train_inner|valid) \|")
    print(os.path.join(save, "checkpoint_last.pt"))


if __name__ == "__main__":
    main()
