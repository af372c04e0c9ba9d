"""examples/vision/train.py on real Fashion-MNIST slices: learns, resumes, runs under torchrun."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, shared_data

SCRIPT = os.path.join(ROOT, "examples", "vision", "train.py")
SMALL_VIT = ["--model", "iiet_vit_tiny_patch4_28", "--model-kwargs",
             json.dumps({"embed_dim": 64, "depth": 3, "num_heads": 2, "patch_size": 7, "global_pool": "avg"}),
             "--batch-size", "32", "--lr", "1e-3", "--warmup-epochs", "0", "--smoothing", "0",
             "--weight-decay", "0", "--no-progress", "--ode-solver", "iie", "--iie-iters", "1"]


def _run(*args, launcher=(sys.executable,)):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([*launcher, SCRIPT, *args], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_short_run_beats_chance_and_resumes(tmp_path):
    data = shared_data("vision", "fashion-mnist")
    out = tmp_path / "run"
    common = ["--data", data, "--train-limit", "3000", "--eval-limit", "500", "--output", str(out), *SMALL_VIT]
    _run(*common, "--epochs", "2", "--model-ema")
    first = torch.load(out / "last.pt", weights_only=True)
    assert first["epoch"] == 1 and first["step"] == 2 * 93  # 3000 // 32 updates per epoch (drop_last)
    stdout = _run(*common, "--epochs", "3", "--model-ema", "--resume", str(out / "last.pt"))
    assert "resumed from" in stdout and "epoch 1, step 186" in stdout
    final = torch.load(out / "last.pt", weights_only=True)
    assert final["epoch"] == 2 and final["step"] == 3 * 93
    assert final["history"][:2] == first["history"]  # earlier metrics restored, not recomputed
    assert final["history"][-1]["top1"] > 40.0, final["history"]  # chance is 10 %
    assert final["ema"] is not None and final["model_name"] == "iiet_vit_tiny_patch4_28"


def test_torchrun_two_processes(tmp_path):
    data = shared_data("vision", "fashion-mnist")
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    _run("--data", data, "--train-limit", "512", "--eval-limit", "128", "--epochs", "1",
         "--output", str(tmp_path), *SMALL_VIT,
         launcher=(torchrun, "--standalone", "--nproc_per_node", "2"))
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == 8  # 512 images / 2 ranks / batch 32
