"""examples/vision/train.py on real Fashion-MNIST slices: learns, resumes, runs under torchrun."""
import json
import os
import subprocess
import sys

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
    assert "--epochs 2 -> 3: the learning-rate schedule is rebuilt" in stdout, stdout
    final = torch.load(out / "last.pt", weights_only=True)
    assert final["epoch"] == 2 and final["step"] == 3 * 93
    assert final["history"][:2] == first["history"]  # earlier metrics restored, not recomputed
    # cosine over 3 epochs at step 187 of 279: about a quarter of --lr (the old 2-epoch schedule had ended: 0)
    assert 0.1e-3 < final["history"][2]["lr_start"] < 0.5e-3, final["history"][2]
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


def test_iiad_distillation_recipe(tmp_path):
    data = shared_data("vision", "fashion-mnist")
    teacher_flags = [*SMALL_VIT[:-1], "2"]  # SMALL_VIT ends with --iie-iters 1: the teacher runs 2
    _run("--data", data, "--train-limit", "512", "--eval-limit", "128", "--epochs", "1",
         "--output", str(tmp_path / "t"), *teacher_flags)
    out = _run("--data", data, "--train-limit", "512", "--eval-limit", "128", "--epochs", "1", "--no-progress",
               "--batch-size", "32", "--teacher", str(tmp_path / "t" / "last.pt"), "--iiad-threshold", "0",
               "--output", str(tmp_path / "s"))
    assert "IIAD student plan 2,2,2 (teacher 2,2,2)" in out  # tau = 0 keeps every iteration
    out = _run("--data", data, "--train-limit", "512", "--eval-limit", "128", "--epochs", "1", "--no-progress",
               "--batch-size", "32", "--teacher", str(tmp_path / "t" / "last.pt"), "--iiad-plan", "1,0,0",
               "--kd-weight", "0.9", "--output", str(tmp_path / "s2"))
    assert "IIAD student plan 1,0,0 (teacher 2,2,2)" in out
    state = torch.load(tmp_path / "s2" / "last.pt", weights_only=True)
    assert state["args"]["iie_layer_iters"] == "1,0,0"  # the checkpoint recreates the E-IIET student


def test_vit_influence_scores_and_plans():
    import timm

    from iiet_plugin.ode import plan_from_scores
    from iiet_plugin.vision.influence import measure
    model = timm.create_model("iiet_vit_tiny_patch4_28", iie_iters=2, depth=3, embed_dim=32, num_heads=2)
    batches = [(torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))) for _ in range(2)]
    report = measure(model, batches)
    assert [len(r) for r in report.update] == [2, 2, 2] and [len(r) for r in report.loss] == [2, 2, 2]
    assert all(v >= 0 for r in report.update + report.loss for v in r)
    assert plan_from_scores(report.update, 0.0, report.teacher_plan).to_string() == "2,2,2"
    assert plan_from_scores(report.update, float("inf"), report.teacher_plan).to_string() == "0,0,0"
    assert model.plan().to_string() == "2,2,2"  # measuring left the model's plan as it was


def test_compiled_and_mixed_precision_training(tmp_path):
    """--compile (timm's --torchcompile) and --amp --amp-dtype bfloat16: the run learns, the
    checkpoint holds the plain model's weights, and emulated bf16 is said, not hidden.
    (aot_eager: TorchDynamo's capture without minutes of CPU code generation.)"""
    from iiet_plugin.precision import native_low_precision
    data = shared_data("vision", "fashion-mnist")
    out = tmp_path / "run"
    stdout = _run("--data", data, "--train-limit", "1000", "--eval-limit", "300", "--output", str(out), "--epochs", "1",
                  *SMALL_VIT, "--compile", "aot_eager", "--amp", "--amp-dtype", "bfloat16")
    native = native_low_precision(torch.bfloat16, torch.device("cpu"))
    assert ("no native bfloat16 matmul" in stdout) == (not native), stdout
    state = torch.load(out / "last.pt", weights_only=True)
    assert not any(k.startswith("_orig_mod") for k in state["model"])  # the uncompiled module's names
    assert state["history"][-1]["top1"] > 20.0, state["history"]  # chance is 10 % (31 updates)


def test_a_validation_split_is_held_out_of_the_training_images(tmp_path):
    from iiet_plugin.vision.idx_dataset import FILES, _find, read_idx
    from iiet_plugin.vision.train import build_datasets, parse_args
    data = shared_data("vision", "fashion-mnist")
    train_set, valid_set, eval_set = build_datasets(parse_args(
        ["--data", data, "--train-limit", "256", "--valid-images", "128", "--eval-limit", "64"]))
    everything = read_idx(_find(data, FILES["train"][0]))
    assert (len(train_set), len(valid_set), len(eval_set)) == (256, 128, 64)
    assert (valid_set.images == everything[-128:]).all() and (train_set.images == everything[:256]).all()
    # without --train-limit the training split stops where the validation split starts
    train_all, valid_all, _ = build_datasets(parse_args(["--data", data, "--valid-images", "1000"]))
    assert len(train_all) + len(valid_all) == len(everything) and (train_all.images[-1] == everything[-1001]).all()

    out = tmp_path / "run"
    _run("--data", data, "--train-limit", "256", "--valid-images", "128", "--eval-limit", "64", "--epochs", "2",
         "--output", str(out), *SMALL_VIT)
    state = torch.load(out / "last.pt", weights_only=True)
    history = state["history"]
    assert all({"valid_top1", "valid_loss", "top1", "loss"} <= set(h) for h in history)
    assert all(0 <= h["valid_top1"] <= 100 for h in history)
    # best.pt is chosen on the validation split, not on the reported eval images
    assert state["best_top1"] == max(h["valid_top1"] for h in history)
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["history"][-1]["valid_top1"] == state["best_top1"]
