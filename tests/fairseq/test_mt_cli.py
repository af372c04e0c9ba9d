"""End to end on real English->German pairs: train (with training-time BLEU), beam search,
sacreBLEU scoring, the hydra config, weights-only loading of the checkpoint."""
import os
import re
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from fairseq_helpers import MT_TRAIN_FLAGS, USER_DIR, run_cli

BLEU_FLAGS = ["--eval-bleu", "--eval-bleu-detok", "space", "--eval-bleu-remove-bpe", "sentencepiece",
              "--eval-bleu-args", '{"beam": 2, "max_len_a": 1.2, "max_len_b": 5}',
              "--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric"]


@pytest.fixture(scope="module")
def mt_checkpoint(mt_data):
    save = mt_data / "iiet"
    out = run_cli("fairseq-train", str(mt_data / "bin"), "--user-dir", USER_DIR, *MT_TRAIN_FLAGS, *BLEU_FLAGS,
                  "--encoder-ode-solver", "iie", "--decoder-ode-solver", "iie", "--decoder-iie-iters", "1",
                  "--max-update", "40", "--save-dir", str(save))
    assert re.search(r"valid on 'valid' subset .*\| bleu [0-9.]+", out), out[-3000:]
    return save / "checkpoint_best.pt"


def test_generate_beam_and_sacrebleu(mt_data, mt_checkpoint, tmp_path):
    out = run_cli("fairseq-generate", str(mt_data / "bin"), "--user-dir", USER_DIR, "--path", str(mt_checkpoint),
                  "--beam", "5", "--post-process", "sentencepiece", "--scoring", "sacrebleu", "--cpu",
                  "--max-tokens", "4000", "--max-len-a", "1.2", "--max-len-b", "5")
    assert re.search(r"Generate test with beam=5: BLEU = [0-9.]+", out), out[-2000:]
    gen = tmp_path / "gen.txt"
    gen.write_text(out)
    score = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mt", "score.py"), str(gen),
                            "--ref", str(mt_data / "test.de")], capture_output=True, text=True, check=True).stdout
    assert re.search(r"BLEU = [0-9.]+", score)
    assert re.search(r"sacreBLEU signature: nrefs:1\|case:mixed\|eff:no\|tok:13a\|smooth:exp\|version:", score), score
    assert "(60 sentences)" in score or re.search(r"\((5\d|60) sentences\)", score)


@pytest.mark.parametrize("solver", ["rk2", "pc"])
def test_other_decoder_solvers_train_and_translate(mt_data, tmp_path, solver):
    run_cli("fairseq-train", str(mt_data / "bin"), "--user-dir", USER_DIR, *MT_TRAIN_FLAGS, "--decoder-ode-solver",
            solver, "--encoder-ode-solver", "euler", "--max-update", "5", "--save-dir", str(tmp_path))
    out = run_cli("fairseq-generate", str(mt_data / "bin"), "--user-dir", USER_DIR, "--path",
                  str(tmp_path / "checkpoint_last.pt"), "--beam", "3", "--post-process", "sentencepiece",
                  "--scoring", "sacrebleu", "--cpu", "--max-len-b", "5", "--max-tokens", "4000")
    assert "BLEU" in out


def test_hydra_config_trains(mt_data, tmp_path):
    out = run_cli("fairseq-hydra-train", "--config-dir", os.path.join(ROOT, "examples", "mt", "config"),
                  "--config-name", "iiet_transformer_tiny", f"task.data={mt_data / 'bin'}",
                  f"common.user_dir={USER_DIR}", "optimization.max_update=5",
                  f"checkpoint.save_dir={tmp_path / 'ck'}", f"hydra.run.dir={tmp_path / 'hydra'}", cwd=str(tmp_path))
    assert "done training" in out
    assert (tmp_path / "ck" / "checkpoint_best.pt").exists()


def test_checkpoint_loads_weights_only(mt_checkpoint):
    from iiet_plugin.seq.safe_globals import SAFE_GLOBALS
    allowed = {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(mt_checkpoint)))
    finally:
        torch.serialization.add_safe_globals(saved)
    assert "argparse.Namespace" in unsafe  # legacy-args model, as fairseq's transformer
    assert unsafe <= allowed, unsafe - allowed
    state = torch.load(str(mt_checkpoint), weights_only=True)
    assert state["cfg"]["model"].decoder_ode_solver == "iie"  # the legacy args Namespace


def test_iiad_translation_distils_the_decoder_plan(mt_data, mt_checkpoint, tmp_path):
    flags = [f for f in MT_TRAIN_FLAGS if f not in ("--task", "translation")]
    out = run_cli("fairseq-train", str(mt_data / "bin"), "--user-dir", USER_DIR, *flags, "--task", "iiad_translation",
                  "--teacher-path", str(mt_checkpoint), "--criterion", "iiad_distillation", "--label-smoothing", "0.1",
                  "--encoder-ode-solver", "iie", "--decoder-ode-solver", "iie", "--decoder-iie-iters", "1",
                  "--iiad-threshold", "0.05", "--iiad-calibration-batches", "2", "--max-update", "3",
                  "--save-dir", str(tmp_path))
    plan = re.search(r"IIAD student plan ([0-9,]+) \(teacher 1,1\)", out)
    assert plan, out[-3000:]
    state = torch.load(str(tmp_path / "checkpoint_last.pt"), weights_only=True)
    assert state["cfg"]["model"].decoder_iie_layer_iters == plan.group(1)
    gen = run_cli("fairseq-generate", str(mt_data / "bin"), "--user-dir", USER_DIR, "--path",
                  str(tmp_path / "checkpoint_last.pt"), "--beam", "3", "--post-process", "sentencepiece",
                  "--scoring", "sacrebleu", "--cpu", "--max-len-b", "5", "--max-tokens", "4000")
    assert "BLEU" in gen
