"""Diagnostics over training for iiet_vit (vision.diagnostics on the core): iiet-vit-train keeps
weights every N steps, and each kept checkpoint is diagnosed on real Fashion-MNIST test images."""
import json

import torch
import torch.nn.functional as F

from conftest import shared_data
from test_vision_train import SMALL_VIT, _run


def test_kept_steps_are_diagnosed_and_the_losses_are_the_models_own(tmp_path):
    from iiet_plugin.experiments.diagnostics import kept_checkpoints, run_vision_diagnostics
    from iiet_plugin.vision.checkpoints import model_from_checkpoint, read_checkpoint
    from iiet_plugin.vision.diagnostics import vit_diagnostics
    data = shared_data("vision", "fashion-mnist")
    out = tmp_path / "run"
    _run("--data", data, "--train-limit", "256", "--eval-limit", "128", "--output", str(out), *SMALL_VIT,
         "--epochs", "2", "--save-interval-steps", "3")
    # 256 // 32 = 8 steps per epoch: kept at steps 3, 6 (epoch 0) and 9, 12, 15 (epoch 1)
    assert [s for s, _ in kept_checkpoints(str(out))] == [3, 6, 9, 12, 15]
    series = run_vision_diagnostics(str(out), data, eval_limit=128, batches=2, batch_size=32)
    assert [p["updates"] for p in series] == [3, 6, 9, 12, 15]
    last = series[-1]
    assert len(last["residual"]) == 3 and all(len(r) == 1 and 0 < r[0] < 10 for r in last["residual"])
    assert len(last["loss_by_iteration"]) == 2 and len(last["gradient_norms"]) == 3
    assert all(g > 0 for g in last["gradient_norms"])

    # the losses are the model's own cross-entropy, with every block stopping after iteration i
    model = model_from_checkpoint(read_checkpoint(kept_checkpoints(str(out))[-1][1], "checkpoint"), 10, 1).eval()
    images, labels = torch.randn(40, 1, 28, 28), torch.randint(0, 10, (40,))
    batches = [(images[:24], labels[:24]), (images[24:], labels[24:])]
    found = vit_diagnostics(model, batches)
    with torch.no_grad():
        full = F.cross_entropy(model(images), labels).item()
        model.set_plan("0,0,0")
        explicit = F.cross_entropy(model(images), labels).item()
        model.set_plan("1,1,1")
    assert abs(found["loss_by_iteration"][1] - full) < 1e-5 and abs(found["loss_by_iteration"][0] - explicit) < 1e-5
    assert found["loss_by_iteration"][0] != found["loss_by_iteration"][1]
    assert model.plan().iters == (1, 1, 1)  # the plan is restored
    assert all(p.grad is None for p in model.parameters())  # no gradients left behind


def test_a_vanilla_vit_has_losses_and_gradients_but_no_residuals():
    import timm

    import iiet_plugin  # noqa: F401
    from iiet_plugin.vision.diagnostics import vit_diagnostics
    model = timm.create_model("iiet_vit_tiny_patch4_28", **json.loads(SMALL_VIT[SMALL_VIT.index("--model-kwargs") + 1]),
                              num_classes=10, in_chans=1, ode_solver="euler")
    found = vit_diagnostics(model, [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))])
    assert found["residual"] == [[], [], []] and len(found["loss_by_iteration"]) == 1
    assert len(found["gradient_norms"]) == 3 and all(g > 0 for g in found["gradient_norms"])
