"""Shared helpers for the fairseq tests: building models in-process and running the CLIs."""
import gzip
import os
import subprocess
import sys

import iiet_plugin

USER_DIR = os.path.dirname(iiet_plugin.__file__)
BIN = os.path.dirname(sys.executable)
TRAIN_FLAGS = ["--task", "language_modeling", "--tokens-per-sample", "64", "--max-tokens", "1024",
               "--optimizer", "adam", "--lr", "0.002", "--log-format", "simple", "--log-interval", "5",
               "--no-epoch-checkpoints", "--cpu", "--seed", "1", "--num-workers", "0",
               "--share-decoder-input-output-embed"]


def dictionary(num_words=40):
    from fairseq.data import Dictionary
    d = Dictionary()
    for i in range(num_words):
        d.add_symbol(f"w{i}")
    return d


def build_lm(*flags, arch="iiet_lm_tiny", num_words=40):
    """An ``iiet_lm`` built in-process from command-line flags."""
    from fairseq import options
    from fairseq.tasks.language_modeling import LanguageModelingTask
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser, ["unused-data", "--task", "language_modeling", "--arch", arch, "--user-dir", USER_DIR,
                 "--tokens-per-sample", "64", "--cpu", *flags])
    d = dictionary(num_words)
    task = LanguageModelingTask(args, d, d)
    return task.build_model(args), task, args


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


def build_mt(*flags, arch="iiet_transformer_tiny", num_words=40):
    """An ``iiet_transformer`` built in-process (joined toy dictionary)."""
    from fairseq import options
    from fairseq.tasks.translation import TranslationTask
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser, ["unused-data", "--task", "translation", "--arch", arch, "--user-dir", USER_DIR,
                 "--source-lang", "en", "--target-lang", "de", "--cpu", *flags])
    d = dictionary(num_words)
    task = TranslationTask(args, d, d)
    return task.build_model(args), task, args
