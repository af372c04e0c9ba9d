"""End to end on real text: fairseq-preprocess, -train, -eval-lm, -generate, -interactive,
-hydra-train with the plugin's iiet_lm_tiny, on a slice of the WEB Bible."""
import os
import re

import pytest
import torch

from conftest import ROOT
from fairseq_helpers import TRAIN_FLAGS, USER_DIR, run_cli


@pytest.fixture(scope="module")
def iiet_checkpoint(lm_data):
    save = lm_data / "iiet"
    out = run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny",
                  "--ode-solver", "iie", "--iie-iters", "1", "--max-update", "30", "--save-dir", str(save),
                  *TRAIN_FLAGS)
    losses = [float(x) for x in re.findall(r"\| loss ([0-9.]+) \|", out)]
    assert losses, out[-2000:]
    return save / "checkpoint_last.pt"


def _ppl(out):
    match = re.search(r"Perplexity: ([0-9.]+)", out)
    assert match, out[-2000:]
    return float(match.group(1))


def test_train_learns_and_eval_lm(lm_data, iiet_checkpoint):
    data = str(lm_data / "bin")
    plain = _ppl(run_cli("fairseq-eval-lm", data, "--user-dir", USER_DIR, "--path", str(iiet_checkpoint),
                         "--tokens-per-sample", "64", "--max-tokens", "2048", "--cpu"))
    windowed = _ppl(run_cli("fairseq-eval-lm", data, "--user-dir", USER_DIR, "--path", str(iiet_checkpoint),
                            "--tokens-per-sample", "64", "--context-window", "32", "--max-tokens", "2048", "--cpu"))
    vocab = sum(1 for _ in open(lm_data / "bin" / "dict.txt"))
    assert 1 < plain < vocab / 2, plain  # clearly better than uniform after 30 updates
    assert 1 < windowed < vocab / 2, windowed


def test_generate_beam_and_sampling(lm_data, iiet_checkpoint):
    common = [str(lm_data / "bin"), "--task", "language_modeling", "--user-dir", USER_DIR, "--path",
              str(iiet_checkpoint), "--cpu", "--gen-subset", "valid", "--sample-break-mode", "eos",
              "--tokens-per-sample", "64", "--skip-invalid-size-inputs-valid-test", "--max-len-b", "8",
              "--batch-size", "8", "--max-sentences", "8"]
    beam = run_cli("fairseq-generate", *common, "--beam", "3")
    sampled = run_cli("fairseq-generate", *common, "--beam", "1", "--sampling", "--sampling-topk", "10", "--seed", "2")
    for out in (beam, sampled):
        assert re.search(r"^H-\d+\t", out, re.M), out[-2000:]


def test_interactive(lm_data, iiet_checkpoint):
    out = run_cli("fairseq-interactive", str(lm_data / "bin"), "--task", "language_modeling", "--user-dir", USER_DIR,
                  "--path", str(iiet_checkpoint), "--cpu", "--beam", "2", "--max-len-b", "6",
                  stdin="In the beginning God\nThe earth was\n")
    hyps = re.findall(r"^H-(\d+)\t", out, re.M)
    assert sorted(hyps) == ["0", "1"], out[-2000:]


def test_hydra_train(lm_data, tmp_path):
    out = run_cli("fairseq-hydra-train", "--config-dir", os.path.join(ROOT, "examples", "lm", "config"),
                  "--config-name", "iiet_lm_tiny", f"task.data={lm_data / 'bin'}", f"common.user_dir={USER_DIR}",
                  "optimization.max_update=5", f"checkpoint.save_dir={tmp_path / 'ck'}",
                  f"hydra.run.dir={tmp_path / 'hydra'}", cwd=str(tmp_path))
    assert "done training" in out, out[-2000:]
    assert (tmp_path / "ck" / "checkpoint_last.pt").exists()


def _unsafe_globals_without_allow_list(path):
    """The checkpoint's globals outside torch's built-in allow-list (the plugin's list removed)."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        return set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    finally:
        torch.serialization.add_safe_globals(saved)


def _allowed():
    from iiet_plugin.seq.safe_globals import SAFE_GLOBALS
    return {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}


def test_checkpoint_unsafe_globals_are_allow_listed(iiet_checkpoint):
    allowed = _allowed()
    unsafe = _unsafe_globals_without_allow_list(iiet_checkpoint)
    assert unsafe <= allowed, unsafe - allowed
    state = torch.load(str(iiet_checkpoint), weights_only=True)
    assert state["cfg"]["model"]["_name"] == "iiet_lm_tiny"
    assert state["cfg"]["model"]["ode_solver"] == "iie"


def test_legacy_namespace_checkpoint_loads_weights_only(tmp_path):
    """Older fairseq checkpoints pickle argparse.Namespace (``args``) and omegaconf containers (``cfg``)."""
    import argparse

    from omegaconf import OmegaConf
    path = tmp_path / "legacy.pt"
    cfg = OmegaConf.create({"model": {"_name": "iiet_lm", "layers": [1, 2], "x": None}})
    torch.save({"args": argparse.Namespace(arch="iiet_lm_tiny", ode_solver="iie"), "cfg": cfg, "model": {}}, path)
    unsafe = _unsafe_globals_without_allow_list(path)
    assert "argparse.Namespace" in unsafe and "omegaconf.dictconfig.DictConfig" in unsafe
    assert _allowed() >= unsafe, unsafe - _allowed()
    state = torch.load(path, weights_only=True)
    assert state["args"].ode_solver == "iie" and state["cfg"].model.layers[1] == 2
