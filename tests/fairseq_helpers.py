"""Shared helpers for the fairseq tests: tiny models built in-process (the library's builders) and the CLIs."""
import gzip
import os
import subprocess
import sys

import iiet_plugin
# the one builder of tiny models, shared with the benchmarks
from iiet_plugin.experiments.builders import build_lm, build_mt, dictionary  # noqa: F401

USER_DIR = os.path.dirname(iiet_plugin.__file__)
BIN = os.path.dirname(sys.executable)
TRAIN_FLAGS = ["--task", "language_modeling", "--tokens-per-sample", "64", "--max-tokens", "1024",
               "--optimizer", "adam", "--lr", "0.002", "--log-format", "simple", "--log-interval", "5",
               "--no-epoch-checkpoints", "--cpu", "--seed", "1", "--num-workers", "0",
               "--share-decoder-input-output-embed"]
# fairseq-train of the tiny translation model on the real en-de slice (conftest's mt_data)
MT_TRAIN_FLAGS = ["--task", "translation", "--arch", "iiet_transformer_tiny", "--share-all-embeddings",
                  "--optimizer", "adam", "--lr", "0.003", "--max-tokens", "2048", "--criterion",
                  "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--cpu", "--log-format", "simple",
                  "--log-interval", "10", "--no-epoch-checkpoints", "--seed", "1", "--num-workers", "0",
                  "--skip-invalid-size-inputs-valid-test"]


def run_cli(tool, *args, cwd=None, stdin=None, timeout=300):
    """Run a fairseq console tool from this environment; return its combined output."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([os.path.join(BIN, tool), *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=env)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"{tool} failed ({proc.returncode}):\n{out[-4000:]}")
    return out


def write_slice(src_gz, dst, lines):
    with gzip.open(src_gz, "rt", encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        for i, line in enumerate(f):
            if i >= lines:
                break
            out.write(line)
