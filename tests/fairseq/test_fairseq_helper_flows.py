"""The flows fairseq's own test helpers run (in-process train.main / generate.main with
--print-alignment / interactive.main), on the plugin's tiny presets with toy letter data."""
import io
import os
import random
import re
import sys

import pytest

from fairseq_helpers import USER_DIR


def _letters(path, n=60, maxlen=12, seed=0):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            f.write(" ".join(chr(97 + rng.randrange(26)) for _ in range(rng.randint(1, maxlen))) + "\n")


def _preprocess(flags):
    from fairseq import options
    from fairseq_cli import preprocess
    preprocess.main(options.get_preprocessing_parser().parse_args(flags))


@pytest.fixture
def toy_translation(tmp_path):
    for i, split in enumerate(("train", "valid", "test")):
        _letters(tmp_path / f"{split}.in", seed=2 * i)
        _letters(tmp_path / f"{split}.out", seed=2 * i + 1)
    _preprocess(["--source-lang", "in", "--target-lang", "out", "--trainpref", str(tmp_path / "train"),
                 "--validpref", str(tmp_path / "valid"), "--testpref", str(tmp_path / "test"),
                 "--thresholdtgt", "0", "--thresholdsrc", "0", "--destdir", str(tmp_path)])
    return tmp_path


def _train(data_dir, arch, task, extra):
    from fairseq import options
    from fairseq_cli import train
    args = options.parse_args_and_arch(options.get_training_parser(), [
        "--task", task, str(data_dir), "--save-dir", str(data_dir), "--arch", arch, "--optimizer", "nag",
        "--lr", "0.05", "--max-tokens", "500", "--max-epoch", "1", "--no-progress-bar",
        "--distributed-world-size", "1", "--num-workers", "0", "--user-dir", USER_DIR, *extra])
    train.main(args)


def _generate_and_interact(data_dir, extra, stdin_text):
    from fairseq import options
    from fairseq_cli import generate, interactive
    args = options.parse_args_and_arch(options.get_generation_parser(), [
        str(data_dir), "--path", os.path.join(data_dir, "checkpoint_last.pt"), "--beam", "3", "--batch-size", "64",
        "--max-len-b", "5", "--gen-subset", "valid", "--no-progress-bar", "--user-dir", USER_DIR, *extra])
    generate.main(args)
    args.buffer_size, args.input, args.max_sentences, args.batch_size = 0, "-", None, None
    stdin, sys.stdin = sys.stdin, io.StringIO(stdin_text)
    try:
        interactive.main(args)
    finally:
        sys.stdin = stdin


@pytest.mark.parametrize("flags", [
    ["--decoder-ode-solver", "iie", "--decoder-iie-iters", "2"],
    ["--encoder-ode-solver", "pc", "--decoder-ode-solver", "rk2", "--decoder-ode-coef", "gated"],
])
def test_translation_helper_flow(toy_translation, flags, capsys):
    _train(toy_translation, "iiet_transformer_tiny", "translation",
           ["--source-lang", "in", "--target-lang", "out", *flags])
    _generate_and_interact(toy_translation, ["--print-alignment"], "h e l l o\n")
    out = capsys.readouterr().out
    assert re.search(r"^A-\d+\t", out, re.M)  # alignments come from the cross-attention weights
    assert "H-0" in out


def test_language_model_helper_flow(tmp_path, capsys):
    for i, split in enumerate(("train", "valid", "test")):
        _letters(tmp_path / f"{split}.out", seed=i)
    _preprocess(["--only-source", "--trainpref", str(tmp_path / "train.out"), "--validpref",
                 str(tmp_path / "valid.out"), "--testpref", str(tmp_path / "test.out"), "--destdir", str(tmp_path)])
    _train(tmp_path, "iiet_lm_tiny", "language_modeling", ["--ode-solver", "iie", "--tokens-per-sample", "32"])
    from fairseq import options
    from fairseq_cli import eval_lm, validate
    eval_lm.main(options.parse_args_and_arch(options.get_eval_lm_parser(), [
        str(tmp_path), "--path", str(tmp_path / "checkpoint_last.pt"), "--no-progress-bar", "--num-workers", "0",
        "--user-dir", USER_DIR, "--context-window", "8", "--tokens-per-sample", "32"]))
    validate.main(options.parse_args_and_arch(options.get_validation_parser(), [
        "--task", "language_modeling", str(tmp_path), "--path", str(tmp_path / "checkpoint_last.pt"),
        "--valid-subset", "valid", "--max-tokens", "500", "--no-progress-bar", "--num-workers", "0",
        "--user-dir", USER_DIR, "--tokens-per-sample", "32"]))
