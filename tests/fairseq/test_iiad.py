"""IIAD: influence scores, threshold plans, the distillation criterion, and the end-to-end
fairseq flow (teacher trained here on real text -> distilled E-IIET -> standalone evaluation)."""
import math
import os
import re
import shutil

import pytest
import torch

from fairseq_helpers import TRAIN_FLAGS, USER_DIR, build_lm, run_cli
from iiet_plugin.ode import IterationPlan, ODEConfig, Recorder, measure_update_scores, plan_from_scores
from iiet_plugin.ode.reference import ReferenceStack


def test_threshold_plans_keep_a_prefix():
    teacher = IterationPlan((3, 3, 2))
    scores = [[0.5, 0.05, 0.4], [0.01, 0.9, 0.9], [0.3, 0.2]]
    assert plan_from_scores(scores, 0.0, teacher).iters == (3, 3, 2)  # tau = 0 keeps everything
    assert plan_from_scores(scores, math.inf, teacher).iters == (0, 0, 0)  # vanilla cost
    assert plan_from_scores(scores, 0.1, teacher).iters == (1, 0, 2)  # a prefix: 0.4 after 0.05 is dropped
    assert plan_from_scores(scores, 0.1, teacher).relative_cost(teacher) == pytest.approx(6 / 11)
    with pytest.raises(ValueError, match="iiad_threshold"):
        plan_from_scores(scores, -1, teacher)


def test_update_scores_match_their_definition():
    torch.manual_seed(0)
    stack = ReferenceStack(ODEConfig(solver="iie", iters=2), num_layers=2).eval()
    x = torch.randn(3, 5, 16)
    solvers = [layer.ode for layer in stack.layers]
    scores = measure_update_scores(stack, solvers, [x], lambda batch, rec: stack(batch))
    rec = Recorder()
    stack(x, recorder=rec)
    for layer in range(2):
        y, its = rec.inputs[layer], rec.outputs[layer]
        for i in (1, 2):
            expected = ((its[i] - its[i - 1]).norm(dim=-1) / (its[i] - y).norm(dim=-1)).mean().item()
            assert scores[layer][i - 1] == pytest.approx(expected, rel=1e-5)


def test_kl_is_zero_when_student_equals_teacher():
    from iiet_plugin.seq.iiad_criterion import IIADDistillationCriterion
    model, task, _ = build_lm("--ode-solver", "iie", "--iie-iters", "2", "--dropout", "0")
    model.eval()
    teacher = build_lm("--ode-solver", "iie", "--iie-iters", "2", "--dropout", "0")[0].eval()
    teacher.load_state_dict(model.state_dict())
    task.teacher_on = lambda device: teacher
    crit = IIADDistillationCriterion(task, 0.1, 0.5, 2.0, 0.1, False)
    tokens = torch.randint(4, 40, (2, 9))
    sample = {"net_input": {"src_tokens": tokens[:, :-1], "src_lengths": torch.tensor([8, 8])},
              "target": tokens[:, 1:], "ntokens": 16}
    _, _, log = crit(model, sample)
    assert abs(float(log["kl"])) < 1e-5 and abs(float(log["hidden_mse"])) < 1e-8
    model.set_plan("0,0")  # a student with fewer iterations disagrees with the teacher
    _, _, log = crit(model, sample)
    assert float(log["kl"]) > 1e-4


# ---------------------------------------------------------------- end to end on real text
DISTILL = ["--task", "iiad_language_modeling", "--arch", "iiet_lm_tiny", "--ode-solver", "iie",
           "--criterion", "iiad_distillation", "--kd-weight", "0.7", "--kd-temperature", "1",
           "--iiad-calibration-batches", "2"]
LM_FLAGS = [f for f in TRAIN_FLAGS if f not in ("--task", "language_modeling")]


@pytest.fixture(scope="module")
def teacher(lm_data):
    save = lm_data / "iiad_teacher"
    run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--task", "language_modeling",
            "--arch", "iiet_lm_tiny", "--ode-solver", "iie", "--iie-iters", "2", "--max-update", "40",
            "--save-dir", str(save), *LM_FLAGS)
    return save / "checkpoint_last.pt"


def _kl_to_teacher(student_path, teacher_path, data, plan=None):
    """Mean per-token KL(teacher || student) over the valid split, computed here independently."""
    from fairseq import checkpoint_utils

    from iiet_plugin.seq.influence import calibration_batches
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([str(student_path)], arg_overrides={"data": data})
    student = models[0].eval()
    if plan is not None:
        student.set_plan(plan)
    teach = checkpoint_utils.load_model_ensemble([str(teacher_path)], task=task)[0][0].eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for b in calibration_batches(task, "valid", 4):
            keep = b["target"].ne(task.target_dictionary.pad())
            ls = student.get_normalized_probs(student(**b["net_input"]), log_probs=True)[keep]
            lt = teach.get_normalized_probs(teach(**b["net_input"]), log_probs=True)[keep]
            total += (lt.exp() * (lt - ls)).sum().item()
            count += int(keep.sum())
    return total / count


def test_distillation_lowers_kl_and_checkpoint_stands_alone(lm_data, teacher, tmp_path):
    data = str(lm_data / "bin")
    out = run_cli("fairseq-train", data, "--user-dir", USER_DIR, *DISTILL, "--teacher-path", str(teacher),
                  "--iiad-plan", "1,0", "--kd-weight", "1.0", "--dropout", "0", "--max-update", "30", "--lr", "0.0005",
                  "--save-dir", str(tmp_path / "s"),
                  *[f for f in LM_FLAGS if f not in ("--lr", "0.002")])
    assert "IIAD student plan 1,0 (teacher 2,2)" in out, out[-3000:]
    assert re.search(r"valid on 'valid' subset .*\| ce [0-9.]+ .*\| kl [0-9.]+", out)
    distilled = tmp_path / "s" / "checkpoint_last.pt"
    state = torch.load(distilled, weights_only=True)
    assert state["cfg"]["model"]["iie_layer_iters"] == "1,0"
    # the teacher's weights with the student's plan, before any distillation
    before = _kl_to_teacher(teacher, teacher, data, plan="1,0")
    after = _kl_to_teacher(distilled, teacher, data)
    assert before > 0 and after < before, (before, after)
    # stand-alone: move the teacher away, evaluate with only --user-dir
    hidden = tmp_path / "teacher_moved.pt"
    shutil.copy(teacher, hidden)
    os.rename(teacher, str(teacher) + ".away")
    try:
        ev = run_cli("fairseq-eval-lm", data, "--user-dir", USER_DIR, "--path", str(distilled),
                     "--tokens-per-sample", "64", "--cpu")
        assert re.search(r"Perplexity: [0-9.]+", ev)
        gen = run_cli("fairseq-generate", data, "--user-dir", USER_DIR, "--path", str(distilled), "--task",
                      "language_modeling", "--beam", "2", "--max-len-b", "5", "--sample-break-mode", "eos",
                      "--tokens-per-sample", "64", "--skip-invalid-size-inputs-valid-test", "--cpu",
                      "--gen-subset", "valid", "--batch-size", "8")
        assert re.search(r"^H-\d+\t", gen, re.M)
        inter = run_cli("fairseq-interactive", data, "--user-dir", USER_DIR, "--path", str(distilled), "--task",
                        "language_modeling", "--beam", "2", "--max-len-b", "5", "--cpu", stdin="And God said\n")
        assert re.search(r"^H-0\t", inter, re.M)
    finally:
        os.rename(str(teacher) + ".away", teacher)


def test_threshold_plan_from_influence(lm_data, teacher, tmp_path):
    out = run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, *DISTILL, "--teacher-path",
                  str(teacher), "--iiad-threshold", "1e9", "--max-update", "1", "--save-dir", str(tmp_path), *LM_FLAGS)
    assert "IIAD student plan 0,0 (teacher 2,2)" in out  # a threshold above every score: vanilla cost
    out = run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, *DISTILL, "--teacher-path",
                  str(teacher), "--iiad-threshold", "0", "--max-update", "1", "--save-dir", str(tmp_path / "b"),
                  *LM_FLAGS)
    assert "IIAD student plan 2,2 (teacher 2,2)" in out  # tau = 0 keeps every iteration


def test_influence_console_tool(lm_data, teacher, tmp_path):
    import json
    out = run_cli("iiet-influence", "--path", str(teacher), "--data", str(lm_data / "bin"), "--batches", "2",
                  "--thresholds", "0,0.05,1e9", "--json", str(tmp_path / "r.json"), "--heatmap", str(tmp_path / "h.png"))
    assert "| update | 0 | 2,2 | 6 | 1.000 | 3.000 |" in out
    assert "| update | 1e+09 | 0,0 | 2 | 0.333 | 1.000 |" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["update"]) == 2 and len(report["loss"][0]) == 2
    assert (tmp_path / "h.png").stat().st_size > 1000


@pytest.mark.parametrize("extra,match", [
    (["--iiad-plan", "1,0,0"], r"iiad_plan: the plan has 3 entries but the model has 2 layers"),
    (["--iiad-plan", "3,0"], r"iiad_plan: layer 0 asks for 3 iterations but the teacher runs 2"),
    (["--iiad-plan", "1,0", "--decoder-layers", "3"], r"--teacher-path: .* different architecture"),
    (["--iiad-plan", "1,0", "--teacher-path", "/nonexistent/teacher.pt"], r"--teacher-path: /nonexistent/teacher.pt does not exist"),
])
def test_bad_input_fails_at_build(lm_data, teacher, tmp_path, extra, match):
    args = ["--teacher-path", str(teacher), *extra] if "--teacher-path" not in extra else extra
    with pytest.raises(AssertionError, match=match):
        run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, *DISTILL, *args, "--max-update", "1",
                "--save-dir", str(tmp_path), *LM_FLAGS)
    assert not (tmp_path / "checkpoint_last.pt").exists()  # failed before training wrote anything
