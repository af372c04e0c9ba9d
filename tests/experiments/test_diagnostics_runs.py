"""Diagnostics over training (experiments.diagnostics on seq.diagnostics): a tiny IIET LM that
keeps a checkpoint every 2 updates, diagnosed on real validation batches."""
import torch

from fairseq_helpers import MT_TRAIN_FLAGS, TRAIN_FLAGS, USER_DIR, run_cli
from iiet_plugin.experiments.diagnostics import kept_checkpoints, plot_diagnostics, run_diagnostics, summary_lines


def test_every_kept_checkpoint_is_diagnosed(lm_data, tmp_path):
    save = tmp_path / "iiet"
    run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny", *TRAIN_FLAGS,
            "--ode-solver", "iie", "--iie-iters", "2", "--max-update", "4", "--save-interval-updates", "2",
            "--keep-interval-updates", "-1", "--save-dir", str(save), "--no-save-optimizer-state")
    assert [u for u, _ in kept_checkpoints(str(save))] == [2, 4]
    series = run_diagnostics(str(save), str(lm_data / "bin"), batches=2)
    assert [p["updates"] for p in series] == [2, 4]
    last = series[-1]
    assert len(last["residual"]) == 2 and all(len(row) == 2 and all(0 < r < 10 for r in row) for row in last["residual"])
    assert len(last["loss_by_iteration"]) == 3 and len(last["gradient_norms"]) == 2
    assert all(g > 0 for g in last["gradient_norms"])

    # the full-plan loss equals the model's own valid NLL on the same batches
    from iiet_plugin.seq.checkpoints import load_checkpoint
    from iiet_plugin.seq.influence import calibration_batches
    models, _, task = load_checkpoint(kept_checkpoints(str(save))[-1][1], arg_overrides={"data": str(lm_data / "bin")})
    model = models[0].eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for sample in calibration_batches(task, "valid", 2, 2048):
            lprobs = model.get_normalized_probs(model(**sample["net_input"]), log_probs=True)
            keep = sample["target"].ne(task.target_dictionary.pad())
            total -= lprobs[keep].gather(-1, sample["target"][keep].unsqueeze(-1)).sum().item()
            count += int(keep.sum())
    assert abs(last["loss_by_iteration"][-1] - total / count) < 1e-4

    plot_diagnostics({"IIET r=2": series}, str(tmp_path / "d.png"))
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    rows = summary_lines({"IIET r=2": series})
    assert len(rows) == 3 and "(update 2) →" in rows[2] and "(update 4)" in rows[2]


def test_a_pcformer_run_has_losses_and_gradients_but_no_residuals(lm_data, tmp_path):
    save = tmp_path / "pc"
    run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny", *TRAIN_FLAGS,
            "--ode-solver", "pc", "--max-update", "2", "--save-interval-updates", "2", "--keep-interval-updates", "-1",
            "--save-dir", str(save), "--no-save-optimizer-state")
    (point,) = run_diagnostics(str(save), str(lm_data / "bin"), batches=1)
    assert point["residual"] == [[], []] and len(point["loss_by_iteration"]) == 1
    assert all(g > 0 for g in point["gradient_norms"])
    assert summary_lines({"pc": [point]})[2].startswith("| pc | – |")


def test_translation_task_sizes_keeps_checkpoints_and_reports_test_bleu(tmp_path):
    """The MT study task end to end on a small real slice: --layers/--dim reach both sides, the
    kept checkpoints are diagnosed (decoder), and the reported BLEU is on the test split."""
    from conftest import shared_data
    from iiet_plugin.experiments import study
    from iiet_plugin.experiments.models import MODEL_CHOICES
    from iiet_plugin.experiments.tasks import TASKS
    from iiet_plugin.seq.checkpoints import load_checkpoint
    shared_data("mt", "en-de")
    task = TASKS["mt"]()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(tmp_path), "--train-lines", "1500", "--eval-lines", "40", "--layers", "1",
                         "--dim", "96", "--curve-interval", "3"])
    study.check(p, args, task)
    task.prepare(args, str(tmp_path))
    model = MODEL_CHOICES["iiet-r2"]
    trained = task.train(model, 0.01, 1, 6, str(tmp_path / "run"))
    models, _, _ = load_checkpoint(trained.checkpoint, arg_overrides={"data": task.data})
    built = models[0]
    assert [len(built.encoder.layers), len(built.decoder.layers)] == [1, 1]
    assert built.decoder.embed_dim == 96 and built.encoder.layers[0].fc1.out_features == 4 * 96
    assert built.encoder.layers[0].self_attn.num_heads == 3 and built.decoder.plan().to_string() == "2"
    assert [u for u, _ in task.curve(trained)] == [3, 6]
    series = task.diagnose(str(tmp_path / "run"))
    assert [point["updates"] for point in series] == [3, 6] and len(series[0]["residual"][0]) == 2
    test_bleu = task.report_quality(trained.checkpoint)
    assert 0.0 <= test_bleu <= 100.0 and (tmp_path / "run" / "checkpoint_last.pt.test.txt").exists()
    assert task.update_flops(model) == 3 * task.update_flops(model, iterations_on=False) \
        - 2 * 3.0 * task.MAX_TOKENS * (2 * 96 * task.vocab_size + 4 * 96 * 96)  # output layer and cross k/v once


def test_a_translation_model_iterating_in_its_encoder_only_is_diagnosed_on_its_encoder(mt_data, tmp_path):
    """``iiet-r2-encoder`` (IIET r=2 encoder, vanilla decoder): the residuals, the stop-early
    losses and the gradient norms are the encoder's; a model iterating in both is measured on
    its decoder."""
    from iiet_plugin.seq.checkpoints import load_checkpoint
    from iiet_plugin.seq.diagnostics import iterating_side, model_diagnostics
    from iiet_plugin.seq.influence import calibration_batches
    save = tmp_path / "enc"
    run_cli("fairseq-train", str(mt_data / "bin"), "--user-dir", USER_DIR, *MT_TRAIN_FLAGS, "--encoder-ode-solver", "iie",
            "--encoder-iie-iters", "2", "--decoder-ode-solver", "euler", "--max-update", "4",
            "--save-interval-updates", "2", "--keep-interval-updates", "-1", "--save-dir", str(save),
            "--no-save-optimizer-state")
    series = run_diagnostics(str(save), str(mt_data / "bin"), batches=2)
    assert [p["updates"] for p in series] == [2, 4] and all(p["side"] == "encoder" for p in series)
    last = series[-1]
    models, _, task = load_checkpoint(kept_checkpoints(str(save))[-1][1], arg_overrides={"data": str(mt_data / "bin")})
    model = models[0].eval()
    assert len(last["residual"]) == len(model.encoder.layers) and all(len(row) == 2 for row in last["residual"])
    assert len(last["gradient_norms"]) == len(model.encoder.layers) and all(g > 0 for g in last["gradient_norms"])
    assert len(last["loss_by_iteration"]) == 3

    # stopping after iteration 0 is the encoder run as vanilla: the decoder's NLL with that plan
    samples = calibration_batches(task, "valid", 2, 2048)
    model.encoder.set_plan(type(model.encoder.plan())((0,) * len(model.encoder.layers)))
    total, count = 0.0, 0
    with torch.no_grad():
        for sample in samples:
            lprobs = model.get_normalized_probs(model(**sample["net_input"]), log_probs=True)
            keep = sample["target"].ne(task.target_dictionary.pad())
            total -= lprobs[keep].gather(-1, sample["target"][keep].unsqueeze(-1)).sum().item()
            count += int(keep.sum())
    assert abs(last["loss_by_iteration"][0] - total / count) < 1e-4
    assert abs(last["loss_by_iteration"][0] - last["loss_by_iteration"][-1]) > 1e-6  # the iterations count

    assert summary_lines({"IIET r=2 encoder": series})[2].startswith("| IIET r=2 encoder [encoder] | ")
    model.encoder.set_plan(model.encoder.configured_plan)
    assert iterating_side(model) == "encoder" and model_diagnostics(model, task, samples[:1], "decoder")["side"] == "decoder"
    both = tmp_path / "both"
    run_cli("fairseq-train", str(mt_data / "bin"), "--user-dir", USER_DIR, *MT_TRAIN_FLAGS, "--encoder-ode-solver", "iie",
            "--decoder-ode-solver", "iie", "--max-update", "1", "--save-dir", str(both), "--no-save-optimizer-state")
    models, _, _ = load_checkpoint(str(both / "checkpoint_last.pt"), arg_overrides={"data": str(mt_data / "bin")})
    assert iterating_side(models[0]) == "decoder"
