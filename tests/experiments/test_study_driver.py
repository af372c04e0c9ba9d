"""The one study driver (iiet_plugin.experiments.study): its protocol and table with a task
whose runs are arithmetic, and a real tiny vision study through iiet-vit-train."""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import shared_data
from iiet_plugin.experiments import study
from iiet_plugin.experiments.models import STUDY_MODELS, VANILLA, ModelSpec, iiet, layer_evaluations
from iiet_plugin.experiments.tasks import TASKS, StudyTask, Trained
from iiet_plugin.ode.errors import ConfigError


class ArithmeticTask(StudyTask):
    """Quality = a function of (model, lr, seed); speed = 100 / layer evaluations."""
    name, metric, higher_is_better, budget = "arith", "score", True, "updates"
    report_metric = "held-out score"
    curve_metric = "score"
    default_budget, default_distill_budget, default_lrs = 10, 2, "0.1,0.2"
    num_layers = 2

    def __init__(self):
        self.calls = []
        self.value, self.evals = {}, {}

    def prepare(self, args, work):
        self.prepared = work

    def train(self, model, lr, seed, budget, out, init=None, continue_run=False):
        self.calls.append(("train", model.name, lr, seed, budget, init))
        best = 0.2 if model.solver == "iie" else 0.1
        checkpoint = os.path.join(out, "model.pt")
        self.value[checkpoint] = 10 - abs(lr - best) * 10 + seed + (self.value[init] + 1 if init else 0)
        self.evals[checkpoint] = layer_evaluations(model.options, self.num_layers * model.depth_multiplier)
        return Trained(checkpoint, "")

    def distil(self, teacher, model, tau, lr, seed, budget, out, continue_run=False):
        self.calls.append(("distil", teacher.checkpoint, tau, lr, seed, budget))
        plan = "1,0" if tau < 0.5 else "0,0"
        checkpoint = os.path.join(out, "model.pt")
        self.value[checkpoint] = self.value[teacher.checkpoint] - tau
        self.evals[checkpoint] = 3 if plan == "1,0" else 2
        return Trained(checkpoint, f"iiad_task | IIAD student plan {plan} (threshold {tau})")

    def update_flops(self, model, iterations_on=True):
        layers = self.num_layers * model.depth_multiplier
        return 10.0 * (layer_evaluations(model.options, layers) if iterations_on else layers)

    def quality(self, checkpoint):
        return self.value[checkpoint]

    def report_quality(self, checkpoint):
        self.calls.append(("report", checkpoint))
        return self.value[checkpoint] - 0.25

    def curve(self, trained):
        final = self.value[trained.checkpoint]
        return [(5, final - 1.0), (10, final + 0.5), (15, final)]  # the best point is not the last

    def speeds(self, checkpoints):
        return {c: 100.0 / self.evals[c] for c in checkpoints}


def test_protocol_rows_and_table(tmp_path, capsys):
    task = ArithmeticTask()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(tmp_path), "--seeds", "1,2", "--thresholds", "0.3,0.6"])
    args.command = "arith --seeds 1,2"
    study.check(p, args)
    models = [VANILLA, iiet(2)]
    text = study.run_study(task, args, models)
    trains = [c for c in task.calls if c[0] == "train"]
    # every rate on seed 1 (all models), then seed 2 at each model's chosen rate (vanilla 0.1, IIET 0.2)
    assert [(c[1], c[2], c[3]) for c in trains] == [
        ("vanilla (euler)", 0.1, 1), ("vanilla (euler)", 0.2, 1), ("IIET r=2", 0.1, 1), ("IIET r=2", 0.2, 1),
        ("vanilla (euler)", 0.1, 2), ("IIET r=2", 0.2, 2)]
    distils = [c for c in task.calls if c[0] == "distil"]
    assert [(c[2], c[4]) for c in distils] == [(0.3, 1), (0.3, 2), (0.6, 1), (0.6, 2)]
    assert all(c[1].endswith(("_lr0.2_s1/model.pt", "_lr0.2_s2/model.pt")) for c in distils)  # the chosen IIET runs
    main_table = text.split("\n\n")[1]  # the heading, then the result table, then the sweep table
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in main_table.splitlines() if line.startswith("| ")}
    assert len({line.count("|") for line in main_table.splitlines()}) == 1  # header, rule and rows: same cells
    assert main_table.splitlines()[0].startswith("| model | held-out score (mean ± std) | score (rates chosen on it) |")
    assert rows["vanilla (euler)"][1] == "11.2 ± 0.7"  # reported: the held-out split
    assert rows["vanilla (euler)"][2] == "11.5 ± 0.7" and rows["vanilla (euler)"][5] == "0.1"  # the selection metric
    assert rows["vanilla (euler)"][3] == "12.0 ± 0.7"  # the best point of each seed's curve
    assert rows["vanilla (euler)"][4] == "yes (0.0%)"  # the best point (update 10) lies before the last 20 %
    assert rows["IIET r=2"][2] == "11.5 ± 0.7" and rows["IIET r=2"][6] == "6"  # 2 layers x (r + 1)
    assert rows["IIET r=2"][7] == "3.00"  # training FLOPs: 6 vs 2 evaluations
    assert rows["IIET r=2"][8] == "0.33"  # 100/6 vs 100/2
    assert rows["E-IIET (IIAD tau=0.3)"][6] == "3" and rows["E-IIET (IIAD tau=0.3)"][9].strip(" |") == "1,0"
    assert rows["E-IIET (IIAD tau=0.6)"][2] == "10.9 ± 0.7"
    reported = [c[1] for c in task.calls if c[0] == "report"]
    assert len(reported) == 8  # 2 seeds x (vanilla, IIET, 2 E-IIET): the chosen rates' runs only
    assert not [c for c in reported if "vanilla" in c and "_lr0.2_" in c or "iiet" in c and "_lr0.1_" in c]
    assert "machine: cpu " in text and "command: iiet-study arith --seeds 1,2" in text
    assert "\ntrained on: cpu\n" in text  # every run's record: the tools' device
    saved = json.loads((tmp_path / "curves.json").read_text())
    assert saved["metric"] == "score" and len(saved["curves"]["IIET r=2"]) == 2
    assert saved["curves"]["E-IIET (IIAD tau=0.3)"][0][0][0] == 5 + 10  # after the teacher's budget
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved["curves_vs_train_flops"]["IIET r=2"][0][0] == [5 * 60.0, 10.0 - 1.0 + 1]  # 60 FLOPs per update
    assert "E-IIET (IIAD tau=0.3)" not in saved["curves_vs_train_flops"]
    # a rerun reuses every finished run; --fresh retrains
    task.calls.clear()
    assert study.run_study(task, args, models).split("\n\n")[1] == main_table and task.calls == []
    args.fresh = True
    study.run_study(task, args, models)
    assert len([c for c in task.calls if c[0] != "report"]) == 10


def test_compute_matched_recipe_and_continued_models(tmp_path):
    task = ArithmeticTask()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(tmp_path), "--seeds", "1", "--lrs", "0.1", "--budget", "10",
                         "--models", "vanilla,vanilla-x3,iiet-r2-recipe,iiet-r2-from-vanilla", "--jobs", "2"])
    args.command = "arith"
    study.check(p, args, task)
    assert args.continue_budget == 2  # budget / 4
    text = study.run_study(task, args)
    trains = {c[1]: c for c in task.calls if c[0] == "train"}
    vanilla_checkpoint = str(tmp_path / "vanilla__euler_lr0.1_s1" / "model.pt")
    assert trains["IIET r=2 from trained vanilla"][4:] == (2, vanilla_checkpoint)  # continued for 2 updates
    assert not [c for c in task.calls if c[0] == "distil"]  # the recipe run is no E-IIET teacher
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.split("\n\n")[1].splitlines()[2:]}
    assert rows["vanilla, 3x layers (FLOPs of IIET r=2)"][6:8] == ["6", "3.00"]
    assert rows["IIET r=2, paper recipe (iterations from 50% of updates)"][7] == "2.00"  # 5 x 20 + 5 x 60 vs 10 x 20
    assert rows["IIET r=2 from trained vanilla"][7] == "1.60"  # vanilla's 200 + 2 x 60
    saved = json.loads((tmp_path / "curves.json").read_text())
    assert saved["curves"]["IIET r=2 from trained vanilla"][0][0][0] == 5 + 10  # after vanilla's budget


def test_evaluations_come_from_the_core():
    assert [layer_evaluations(m.options, 2) for m in STUDY_MODELS] == [2, 4, 6, 6]
    assert layer_evaluations(dict(ode_solver="iie", iie_layer_iters="2,0,1"), 3) == 3 + 3
    assert layer_evaluations(dict(ode_solver="rk4"), 3) == 12
    assert ModelSpec("ODE Transformer RK2 (gated)").slug == "ode_transformer_rk2__gated"


@pytest.mark.parametrize("argv,message", [
    (["nope"], "the first argument is the task, one of lm, mt, vision (got 'nope')"),
    (["lm", "--models", "vanilla,iiet-r9"], "--models: unknown iiet-r9; allowed: vanilla, vanilla-x2"),
    (["lm", "--models", "iiet-r2-from-vanilla"], "continues from vanilla, which must be in the list too"),
    (["lm", "--models", "vanilla,iiet-r2-from-vanilla-warmup-300"],
     "continues from vanilla-warmup-300, which must be in the list too"),
    (["vision", "--models", "vanilla,iiet-r2-recipe"], "iiet-vit-train has no two-stage schedule"),
    (["vision", "--models", "iiet-r2-warmup-300"], "per-model warm-up in updates (fairseq tasks only)"),
    (["lm", "--models", "vanilla,iiet-r2-encoder"],
     "IIET r=2 in the encoder only (vanilla decoder): only the mt task has an encoder and a decoder"),
    (["vision", "--models", "iiet-r2-decoder"], "only the mt task has an encoder and a decoder with solvers"),
    (["lm", "--dim", "100"], "--dim a multiple of 32"),
    (["vision", "--diagnostics-interval", "-1"], "--diagnostics-interval must be >= 0 (0: none), got -1"),
    (["lm", "--curve-interval", "-5"], "--curve-interval must be >= 0 (0: each epoch), got -5"),
    (["mt", "--warmup-updates", "0"], "--warmup-updates must be >= 1 (fairseq's inverse-sqrt divides by it), got 0"),
    (["mt", "--layers", "0"], "--layers must be >= 1 and --dim a multiple of 32, got 0 and 64"),
    (["mt", "--test-lines", "-1"], "--test-lines must be >= 0 (0: --eval-lines), got -1"),
    (["lm", "--jobs", "0"], "--jobs must be >= 1"),
    (["lm", "--budget", "0"], "--budget must be >= 1"),
    (["vision", "--lrs", "x"], "--seeds/--lrs/--thresholds"),
    (["vision", "--lrs", "0.001,0.003"], "--lrs: the vision task reports top-1 on the split a rate would be chosen on"),
    (["mt", "--out", "/no/such/dir/table.md"], "--out: folder /no/such/dir does not exist"),
    (["lm", "--corpus", "/no/such/corpus"], "--corpus: /no/such/corpus is not a folder (expected train.txt, valid.txt"),
])
def test_bad_options_fail_before_any_work(argv, message, tmp_path):
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "iiet-study"), *argv, "--work",
                           str(tmp_path / "w")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and message in proc.stderr
    assert not (tmp_path / "w").exists()


def test_missing_data_setting_is_named(tmp_path, monkeypatch):
    from iiet_plugin.experiments.data import corpus_dir
    from iiet_plugin.ode import ConfigError
    monkeypatch.delenv("IIET_DATA", raising=False)
    with pytest.raises(ConfigError, match="pass --data or set IIET_DATA"):
        corpus_dir("vision")
    assert corpus_dir("lm", required=False) is None
    with pytest.raises(ConfigError, match=f"--data: {tmp_path} has no mt/en-de"):
        corpus_dir("mt", str(tmp_path))


def test_tiny_vision_study_runs_the_real_tools(tmp_path):
    shared_data("vision", "fashion-mnist")
    task = TASKS["vision"]()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(tmp_path), "--budget", "1", "--distill-budget", "1", "--seeds", "1",
                         "--lrs", "0.001", "--thresholds", "0.3", "--train-limit", "256", "--eval-limit", "128",
                         "--diagnostics-interval", "4"])
    args.command = "vision (test)"
    study.check(p, args)
    text = study.run_study(task, args, [VANILLA, iiet(1)])
    rows = [line for line in text.split("\n\n")[1].splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0][2:] for r in rows] == ["vanilla (euler)", "IIET r=1", "E-IIET (IIAD tau=0.3)"]
    top1 = [float(r.split(" | ")[1].split(" ±")[0]) for r in rows]
    assert all(10.0 < t <= 100.0 for t in top1)  # above chance (10 classes) after one epoch
    assert rows[1].split(" | ")[5] == "6"  # 3 blocks x 2 evaluations
    assert (tmp_path / "curves.png").exists()
    # diagnostics over the steps iiet-vit-train kept (256 // 32 = 8 steps: 4 and 8)
    diagnosed = json.loads((tmp_path / "diagnostics.json").read_text())
    assert [p["updates"] for p in diagnosed["IIET r=1"]] == [4, 8]
    assert all(len(r) == 1 for r in diagnosed["IIET r=1"][-1]["residual"])
    assert diagnosed["vanilla (euler)"][-1]["residual"] == [[], [], []]
    assert (tmp_path / "diagnostics.png").exists() and "| IIET r=1 |" in text
    assert "| test loss (nats/image) stopping after iteration 0, 1, ... (final) |" in text
    assert (tmp_path / "setting.txt").read_text(encoding="utf-8") == study.study_setting(task, args)


def test_fairseq_valid_curve_reads_fairseq_train_logs():
    from iiet_plugin.experiments.tasks import fairseq_valid_curve
    log = "\n".join([
        "2026-11-29 08:54:04 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 8.155 | ppl 284.97 | wps 22523.3 "
        "| wpb 1893.9 | bsz 14.9 | num_updates 106",
        "2026-11-29 08:54:10 | INFO | train_inner | epoch 002:     50 / 106 loss=7.9, ppl=238.6, num_updates=156",
        "2026-11-29 09:00:59 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 3.273 | ce 6.527 | nll_loss 6.527 "
        "| kl 0.0189 | ppl 92.21 | wps 4064.8 | wpb 1893.9 | bsz 14.9 | num_updates 212 | best_loss 3.273",
    ])
    assert fairseq_valid_curve(log) == [(106, 284.97), (212, 92.21)]
    # a run continued after a stop may validate an update again: it counts once, with the later value
    again = log + "\n" + log.splitlines()[0].replace("ppl 284.97", "ppl 280.00")
    assert fairseq_valid_curve(again) == [(106, 280.0), (212, 92.21)]


def _attempt(gpu=None, resumed_at=None):
    """The lines of one fairseq-train attempt that say where it ran and where it started."""
    lines = ["2026-11-30 23:43:00 | INFO | fairseq_cli.train | {'_name': None, 'common': {}}"]
    if gpu:
        lines += ["2026-11-30 23:43:01 | INFO | fairseq.utils | *****CUDA enviroments for all 1 workers*****",
                  f"2026-11-30 23:43:01 | INFO | fairseq.utils | rank   0: capabilities =  9.0  ; total memory = "
                  f"139.801 GB ; name = {gpu}                             "]
    lines.append("2026-11-30 23:43:01 | INFO | fairseq_cli.train | training on 1 devices (GPUs/TPUs)")
    lines.append("2026-11-30 23:52:05 | INFO | fairseq.trainer | " + (
        f"Loaded checkpoint out/checkpoint_last.pt (epoch 22 @ {resumed_at} updates)" if resumed_at is not None
        else "No existing checkpoint found out/checkpoint_last.pt"))
    return "\n".join(lines) + "\n"


def test_fairseq_devices_name_where_each_attempt_of_a_run_trained():
    from iiet_plugin.experiments.tasks import fairseq_devices
    assert fairseq_devices(_attempt()) == "cpu"
    assert fairseq_devices(_attempt("NVIDIA H200")) == "cuda: NVIDIA H200"
    assert fairseq_devices(_attempt() + _attempt(resumed_at=4200)) == "cpu"  # continued on the same device
    assert fairseq_devices(_attempt("NVIDIA H200") + _attempt(resumed_at=8700)) == \
        "cuda: NVIDIA H200 to 8700 updates, then cpu"
    assert fairseq_devices(_attempt() + _attempt("NVIDIA H200", 300) + _attempt("NVIDIA H200", 900)
                           + _attempt(resumed_at=1500)) == \
        "cpu to 300 updates, then cuda: NVIDIA H200 to 1500 updates, then cpu"
    assert fairseq_devices("") == ""


def test_the_report_says_where_the_runs_trained():
    runs = {"vanilla": [dict(seed=1, device="cpu"), dict(seed=2, device="cuda: NVIDIA H200"),
                        dict(seed=3, device="cuda: NVIDIA H200")],
            "IIET r=2": [dict(seed=1, device="cpu"),
                         dict(seed=2, device="cuda: NVIDIA H200 to 8700 updates, then cpu")]}
    assert study.trained_on(runs) == ("cpu: vanilla (seed 1) and IIET r=2 (seed 1); cuda: NVIDIA H200: vanilla "
                                      "(seeds 2, 3); cuda: NVIDIA H200 to 8700 updates, then cpu: IIET r=2 (seed 2)")
    assert study.trained_on({"vanilla": [dict(seed=1, device="cpu")], "IIET": [dict(seed=1)]}) == \
        "cpu: vanilla (seed 1); not recorded: IIET (seed 1)"  # a record older than the field
    assert study.trained_on({"vanilla": [dict(seed=1, device="cpu"), dict(seed=2, device="cpu")]}) == "cpu"


def test_lm_training_flops_per_update_count_every_layer_evaluation():
    from types import SimpleNamespace

    from iiet_plugin.experiments.models import MODEL_CHOICES
    task = TASKS["lm"]()
    task.args = SimpleNamespace(dim=128, layers=4)
    task.num_layers, task.vocab_size = 4, 8004
    per_eval = 2 * (4 * 128 ** 2 + 2 * 128 * 512) + 4 * 128 * 128  # projections + attention over 128 tokens
    head = 2 * 128 * 8004
    vanilla = task.update_flops(MODEL_CHOICES["vanilla"])
    assert vanilla == 3.0 * 2048 * (4 * per_eval + head)
    assert task.update_flops(MODEL_CHOICES["iiet-r2"]) == 3.0 * 2048 * (12 * per_eval + head)
    assert task.update_flops(MODEL_CHOICES["vanilla-x3"]) == task.update_flops(MODEL_CHOICES["iiet-r2"])
    assert task.update_flops(MODEL_CHOICES["iiet-r2-recipe"], iterations_on=False) == vanilla


def test_mt_models_may_iterate_one_side_and_their_flops_and_evaluations_count_each_side():
    """iiet-r2-encoder / iiet-r2-decoder: the ODE block on one side only (the ODE Transformer and
    PCformer MT releases iterate the encoder); fairseq's own parser reads each side's solver from
    the flags, training FLOPs add each side's own evaluations, and the report counts the
    decoder's (what decoding repeats), each side's where they differ, and says so in its heading."""
    from types import SimpleNamespace

    from fairseq import options

    from iiet_plugin.experiments.models import MODEL_CHOICES
    from iiet_plugin.experiments.runner import user_dir
    task = TASKS["mt"]()
    task.args = SimpleNamespace(dim=128, layers=3)
    task.num_layers, task.vocab_size = 3, 4004
    sides = {}
    relaxation = {}
    for key in ("vanilla", "iiet-r2", "iiet-r2-encoder", "iiet-r2-decoder", "iiet-r2-decoder-relaxed"):
        argv = ["data-bin", "--task", "translation", "--user-dir", user_dir(), "--arch", "iiet_transformer_tiny",
                *task._sides(MODEL_CHOICES[key])]
        a = options.parse_args_and_arch(options.get_training_parser(), argv)
        sides[key] = (a.encoder_ode_solver, a.encoder_iie_iters, a.decoder_ode_solver, a.decoder_iie_iters)
        relaxation[key] = (a.encoder_iie_relaxation, a.decoder_iie_relaxation)
    assert sides["iiet-r2-decoder-relaxed"] == sides["iiet-r2-decoder"]
    assert relaxation["iiet-r2-decoder-relaxed"] == (1.0, 0.5) and relaxation["iiet-r2-decoder"] == (1.0, 1.0)
    assert task.update_flops(MODEL_CHOICES["iiet-r2-decoder-relaxed"]) == task.update_flops(
        MODEL_CHOICES["iiet-r2-decoder"])
    assert sides["vanilla"][0::2] == ("euler", "euler")
    assert sides["iiet-r2"] == ("iie", 2, "iie", 2)
    assert sides["iiet-r2-encoder"][0:3] == ("iie", 2, "euler")
    assert sides["iiet-r2-decoder"][0::2] == ("euler", "iie") and sides["iiet-r2-decoder"][3] == 2
    d, f, L, tokens = 128, 512, task.SENTENCE_TOKENS, task.MAX_TOKENS
    encoder_eval = 2 * (4 * d * d + 2 * d * f) + 4 * L * d
    decoder_eval = 2 * (6 * d * d + 2 * d * f) + 8 * L * d
    vanilla = task.update_flops(MODEL_CHOICES["vanilla"])
    assert task.update_flops(MODEL_CHOICES["iiet-r2-encoder"]) == pytest.approx(vanilla + 3.0 * tokens * 6 * encoder_eval)
    assert task.update_flops(MODEL_CHOICES["iiet-r2-decoder"]) == pytest.approx(vanilla + 3.0 * tokens * 6 * decoder_eval)
    assert task.update_flops(MODEL_CHOICES["iiet-r2"]) == pytest.approx(
        vanilla + 3.0 * tokens * 6 * (encoder_eval + decoder_eval))
    assert task.update_flops(MODEL_CHOICES["iiet-r2-encoder"], iterations_on=False) == vanilla
    assert [task.evaluations(MODEL_CHOICES[k]) for k in ("vanilla", "iiet-r2", "iiet-r2-encoder", "iiet-r2-decoder")] \
        == [3, 9, 3, 9]
    assert [task.evaluations_cell(MODEL_CHOICES[k]) for k in ("vanilla", "iiet-r2", "iiet-r2-encoder", "iiet-r2-decoder")] \
        == ["3", "9", "9 encoder, 3 decoder", "3 encoder, 9 decoder"]
    assert task.setting_note([MODEL_CHOICES["vanilla"], MODEL_CHOICES["iiet-r2"]]) == ""
    assert "named for one side iterates on that side only" in task.setting_note(
        [MODEL_CHOICES["vanilla"], MODEL_CHOICES["iiet-r2-decoder"]])


class TwoSidedArithmeticTask(ArithmeticTask):
    has_sides = True


def test_only_a_model_whose_decoder_iterates_is_an_e_iiet_teacher(tmp_path):
    """IIAD plans the decoder's iterations: an IIET encoder under a vanilla decoder has none to
    plan; the decoder's options are part of a side-specific model's run key."""
    task = TwoSidedArithmeticTask()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(tmp_path), "--seeds", "1", "--lrs", "0.1", "--thresholds", "0.3",
                         "--models", "vanilla,iiet-r2-encoder,iiet-r2-decoder"])
    args.command = "arith"
    study.check(p, args, task)
    study.run_study(task, args)
    teachers = [c[1] for c in task.calls if c[0] == "distil"]
    assert len(teachers) == 1 and "in_the_decoder_only" in teachers[0]
    saved = json.loads((tmp_path / "iiet_r_2_in_the_encoder_only__vanilla_decoder_lr0.1_s1" / "result.json").read_text())
    key = json.loads(next(v for v in saved.values() if isinstance(v, str) and v.startswith("[")))
    assert key[2] == {"iie_iters": 2, "ode_solver": "iie"} and key[-1] == {"ode_solver": "euler"}  # encoder, decoder


@pytest.mark.parametrize("name,default_warmup,study_warmup", [("lm", 50, None), ("mt", 100, None), ("lm", 200, 200),
                                                                 ("mt", 200, 200)])
def test_a_model_schedule_reaches_fairseq_train(name, default_warmup, study_warmup, tmp_path, monkeypatch):
    """The recipe's start and a model's own warm-up end up in the fairseq-train command, as
    fairseq's own parser reads it (the model's --warmup-updates overrides the task's or the
    study's --warmup-updates)."""
    from fairseq import options

    from iiet_plugin.experiments import tasks
    from iiet_plugin.experiments.models import MODEL_CHOICES
    shared_data(*{"lm": ("lm", "bible_web"), "mt": ("mt", "en-de")}[name])
    task = TASKS[name]()
    p = study.parser_for(task)
    lines = {"lm": "200", "mt": "1500"}[name]  # MT: enough pairs for the subword model's vocabulary
    args = p.parse_args(["--work", str(tmp_path), "--train-lines", lines, "--eval-lines", "20"]
                        + (["--warmup-updates", str(study_warmup)] if study_warmup else []))
    task.prepare(args, str(tmp_path))
    # the setting (every run key) names a warm-up that is not the task's default, and only then
    assert ("warm-up" in task.describe(args)) == bool(study_warmup)
    if study_warmup:
        assert task.describe(args).endswith(f", warm-up {study_warmup} updates")
    commands = []
    monkeypatch.setattr(tasks, "run_tool", lambda tool, *argv, **kw: commands.append([str(a) for a in argv]) or "")
    for key in ("iiet-r2", "iiet-r2-warmup-300", "iiet-r2-recipe", "vanilla-warmup-300", "iiet-r2-recipe-warmup-300",
                "vanilla-x3-warmup-300"):
        task.train(MODEL_CHOICES[key], 0.005, 1, 1200, str(tmp_path / key))
    parsed = [options.parse_args_and_arch(options.get_training_parser(), argv) for argv in commands]
    assert [a.warmup_updates for a in parsed] == [default_warmup, 300, default_warmup, 300, 300, 300]
    layers = [getattr(a, "decoder_layers") for a in parsed]
    assert layers[-1] == 3 * layers[0]  # the compute-matched vanilla keeps its extra layers
    start = [getattr(a, "iie_start_update", None) or getattr(a, "decoder_iie_start_update", None) for a in parsed]
    assert start[2] == start[4] == 600 and not any(start[:2] + start[3:4])
    solvers = [getattr(a, "ode_solver", None) or a.decoder_ode_solver for a in parsed]
    assert solvers == ["iie", "iie", "iie", "euler", "iie", "euler"]
    # continued from a trained vanilla at warm-up 300: its weights, a fresh schedule warming up over 300 updates
    start_checkpoint = str(tmp_path / "vanilla-warmup-300" / "checkpoint_last.pt")
    for key in ("vanilla-warmup-300-continued", "iiet-r2-from-vanilla-warmup-300"):
        task.train(MODEL_CHOICES[key], 0.005, 1, 600, str(tmp_path / key), start_checkpoint)
    continued = [options.parse_args_and_arch(options.get_training_parser(), argv) for argv in commands[-2:]]
    assert [a.warmup_updates for a in continued] == [300, 300]
    assert [a.restore_file for a in continued] == [start_checkpoint] * 2
    assert all(a.reset_lr_scheduler and a.reset_optimizer for a in continued)
    assert [getattr(a, "ode_solver", None) or a.decoder_ode_solver for a in continued] == ["euler", "iie"]


def test_a_new_nested_work_folder_is_created(tmp_path):
    """--work may name a folder that does not exist yet, even for a task whose prepare writes
    nothing there (vision reads its images in place): the study makes it and writes its setting."""
    task = ArithmeticTask()
    work = tmp_path / "runs" / "new_study"
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(work), "--seeds", "1", "--lrs", "0.1", "--thresholds", ""])
    args.command = "arith"
    study.check(p, args)
    study.run_study(task, args, [VANILLA])
    assert (work / "setting.txt").read_text(encoding="utf-8") == study.study_setting(task, args)
    saved = json.loads((work / "vanilla__euler_lr0.1_s1" / "result.json").read_text())
    assert (saved["value"], saved["device"]) == (11.0, "cpu")


def test_train_only_trains_and_a_later_study_reuses_the_runs(tmp_path, monkeypatch):
    """--train-only trains every run (rate sweep, seeds, E-IIET) and stops before the held-out
    metric, the speeds, the curves and the diagnostics; a study without it then reuses them all."""
    task = ArithmeticTask()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(tmp_path), "--seeds", "1,2", "--thresholds", "0.3", "--train-only"])
    args.command = "arith --train-only"
    study.check(p, args)
    monkeypatch.setattr(task, "speeds", lambda checkpoints: pytest.fail("--train-only measured speeds"))
    text = study.run_study(task, args, [VANILLA, iiet(2)])
    assert [c[0] for c in task.calls] == ["train"] * 6 + ["distil"] * 2  # no "report": no held-out split
    assert not (tmp_path / "curves.json").exists() and not (tmp_path / "diagnostics.json").exists()
    assert "--train-only" in text and "- IIET r=2, lr 0.2, seed 2: score 12.0" in text
    monkeypatch.undo()
    task.calls.clear()
    args.train_only = False
    table = study.run_study(task, args, [VANILLA, iiet(2)])
    assert [c[0] for c in task.calls] == ["report"] * 6  # nothing retrained
    assert "| IIET r=2 | 11.2 ± 0.7 |" in table and (tmp_path / "curves.json").exists()


def test_the_device_reaches_every_tool_and_cuda_without_a_gpu_is_refused(tmp_path, monkeypatch, capsys):
    """--device cpu (the default) gives fairseq --cpu and hides CUDA from every tool; --device
    cuda drops --cpu; asking for cuda where torch finds none is one error before any work."""
    import torch

    from iiet_plugin.experiments import runner, tasks
    task = TASKS["lm"]()
    task.data = str(tmp_path)
    commands = []
    monkeypatch.setattr(tasks, "run_tool", lambda tool, *a, **k: commands.append(a) or "Perplexity: 12.5")
    try:
        for device in ("cpu", "cuda"):
            runner.set_tool_device(device)
            assert task.quality("model.pt") == 12.5
        said = runner.run_tool("python", "-c", "import os; print(repr(os.environ.get('CUDA_VISIBLE_DEVICES')))")
    finally:
        runner.set_tool_device("cpu")
    assert "--cpu" in commands[0] and "--cpu" not in commands[1]
    assert said.strip() == "None"  # cuda: the tools see the machine's GPUs
    assert runner.run_tool("python", "-c", "import os; print(repr(os.environ['CUDA_VISIBLE_DEVICES']))").strip() \
        == "''"
    with pytest.raises(ConfigError, match="device: 'tpu' is not one of cpu, cuda"):
        runner.set_tool_device("tpu")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    work = tmp_path / "w"
    proc_args = ["--work", str(work), "--device", "cuda"]
    p = study.parser_for(task)
    with pytest.raises(SystemExit):
        study.check(p, p.parse_args(proc_args), task)
    assert "--device cuda: torch finds no CUDA device on this machine; allowed here: cpu" in capsys.readouterr().err
    assert not work.exists()


def test_the_setting_text_in_every_run_key_keeps_its_wording():
    """A study's setting text is part of every run's key (and of ``setting.txt``): reworded, it
    would make a rerun with ``--resume`` empty and retrain every earlier run of that setting (it
    did once, for an MT run).  Say more in the report, never in this text."""
    task = TASKS["mt"]()
    args = study.parser_for(task).parse_args(["--layers", "3", "--dim", "128", "--train-lines", "30000",
                                              "--warmup-updates", "300"])
    assert task.describe(args) == (
        "English->German (30000 training pairs of <= 15 words a side, sacreBLEU on 300 valid / test pairs), "
        "iiet_transformer 3+3 layers x 128-d, the same solver in encoder and decoder, warm-up 300 updates")


def test_a_work_folder_of_another_setting_is_refused(tmp_path):
    """Run folders are named by model, rate and seed only: a study of another setting (here
    another warm-up) in a folder that holds runs would retrain over them, so it is refused
    before any work, and the folder is left as it was."""
    task = TASKS["lm"]()
    work = tmp_path / "w"
    work.mkdir()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(work)])
    study.check(p, args, task)
    setting = study.study_setting(task, args)
    assert setting == f"{task.describe(args)}; budgets 200 updates, 50 continued, 60 distilled"
    (work / "setting.txt").write_text(setting, encoding="utf-8")
    iiet_study = os.path.join(os.path.dirname(sys.executable), "iiet-study")
    for other, named in ((["--warmup-updates", "300"], "warm-up 300 updates; budgets 200"),
                         (["--budget", "400"], "budgets 400 updates, 100 continued")):
        proc = subprocess.run([iiet_study, "lm", "--work", str(work), *other], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode != 0
        assert f"--work {work} holds the runs of another setting ({setting})" in proc.stderr
        assert named in proc.stderr and "give it its own --work" in proc.stderr
    assert sorted(os.listdir(work)) == ["setting.txt"] and (work / "setting.txt").read_text() == setting


def test_a_reused_run_without_kept_checkpoints_is_reported_not_cached(tmp_path, capsys):
    """A run trained without the interval option and reused by a study that asks for diagnostics
    has none: the study says so and caches nothing, so the run is diagnosed once retrained."""
    from types import SimpleNamespace

    answers = {"kept": [], "none": None, "series": [dict(updates=5, residual=[[0.5]], loss_by_iteration=[2.0],
                                                          gradient_norms=[1.0])]}

    class Task:
        name, diagnostics_loss = "lm", "valid loss (nats/token)"

        def diagnose(self, folder):
            return answers[os.path.basename(folder)]

    runs = {}
    for name in answers:
        (tmp_path / name).mkdir()
        runs[name] = [dict(checkpoint=str(tmp_path / name / "checkpoint_last.pt"), key=f"key {name}")]
    args = SimpleNamespace(work=str(tmp_path), seed_list=[1])
    study.write_diagnostics(Task(), args, runs, list(answers), fresh=False)
    said = capsys.readouterr().out
    assert f"no diagnostics for kept: {tmp_path / 'kept'} kept no checkpoints" in said and "for none" not in said
    assert not (tmp_path / "kept" / "diagnostics").exists()
    assert (tmp_path / "none" / "diagnostics" / "result.json").exists()
    assert json.loads((tmp_path / "diagnostics.json").read_text()) == {"series": answers["series"]}


def test_a_corpus_folder_replaces_the_data_root(tmp_path, monkeypatch):
    """--corpus names the corpus folder itself (here a held-out English text that is not in the
    shared data: this project's README), with no data root set; the setting names it."""
    monkeypatch.delenv("IIET_DATA", raising=False)
    corpus = tmp_path / "held_out"
    corpus.mkdir()
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")
    with open(readme, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    for split, part in (("train", lines[:200]), ("valid", lines[200:240]), ("test", lines[240:280])):
        (corpus / f"{split}.txt").write_text("".join(part), encoding="utf-8")
    task = TASKS["lm"]()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(tmp_path / "w"), "--corpus", str(corpus), "--train-lines", "200",
                         "--eval-lines", "40"])
    study.check(p, args, task)
    task.prepare(args, str(tmp_path / "w"))
    assert task.describe(args).startswith(f"{corpus} (200 training verses, 6000 words), iiet_lm 2 layers")
    with open(os.path.join(task.data, "dict.txt"), encoding="utf-8") as f:
        words = {line.split()[0] for line in f}
    assert {"IIET", "vanilla", "fairseq"} <= words


def test_a_vision_validation_split_lets_the_study_choose_rates(tmp_path):
    shared_data("vision", "fashion-mnist")
    task = TASKS["vision"]()
    p = study.parser_for(task)
    args = p.parse_args(["--work", str(tmp_path), "--budget", "1", "--seeds", "1", "--lrs", "0.0003,0.003",
                         "--thresholds", "", "--train-limit", "256", "--eval-limit", "128", "--valid-images", "256"])
    args.command = "vision (test)"
    study.check(p, args, task)
    assert (task.metric, task.report_metric) == ("valid top-1", "test top-1")
    text = study.run_study(task, args, [VANILLA])
    assert "| model | test top-1 (mean ± std) | valid top-1 (rates chosen on it) |" in text
    assert "rates chosen on the last 256 training images" in (tmp_path / "setting.txt").read_text(encoding="utf-8")
    # the chosen rate is the one with the better validation top-1, read back from both runs
    from iiet_plugin.vision.checkpoints import read_checkpoint
    valid = {lr: read_checkpoint(str(tmp_path / f"vanilla__euler_lr{lr}_s1" / "last.pt"), "t")["history"][-1]
             for lr in (0.0003, 0.003)}
    best = max(valid, key=lambda lr: valid[lr]["valid_top1"])
    assert f"**{best:g}: {valid[best]['valid_top1']:.1f}**" in text, text
    row = [line for line in text.splitlines() if line.startswith("| vanilla (euler) |")][0]
    assert float(row.split(" | ")[1].split(" ±")[0]) == pytest.approx(valid[best]["top1"], abs=0.05)
    assert float(row.split(" | ")[2].split(" ±")[0]) == pytest.approx(valid[best]["valid_top1"], abs=0.05)

    # too many held-out images for the file is refused before any work
    args = p.parse_args(["--work", str(tmp_path / "w2"), "--valid-images", "59000", "--train-limit", "3000"])
    with pytest.raises(SystemExit):
        study.check(p, args, TASKS["vision"]())
    assert not (tmp_path / "w2").exists()


class ContinuableTask(ArithmeticTask):
    """An ArithmeticTask whose run folders can be continued when they hold ``model.pt``."""

    def can_continue(self, out):
        return os.path.exists(os.path.join(out, "model.pt"))


@pytest.mark.parametrize("resume,fresh,marked_key,has_checkpoint,continues", [
    (True, False, "k", True, True),         # the same run, stopped: continued
    (True, False, "other", True, False),    # another run's checkpoint: starts over
    (True, False, None, True, False),       # trained without --resume (no marker, no optimizer state): starts over
    (True, False, "k", False, False),       # stopped before its first checkpoint: starts over
    (False, False, "k", True, False),       # without --resume nothing is continued
    (True, True, "k", True, False),         # --fresh --resume: retrained, and continuable again
])
def test_open_run_folder_continues_only_the_same_unfinished_run(resume, fresh, marked_key, has_checkpoint,
                                                                 continues, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.pt").write_text("weights") if has_checkpoint else None
    if marked_key is not None:
        (out / study.RUN_KEY_FILE).write_text(marked_key, encoding="utf-8")
    assert study.open_run_folder(ContinuableTask(), str(out), "k", resume, fresh) is continues
    assert (out / "model.pt").exists() is continues  # a run that starts over starts in an empty folder
    marker = out / study.RUN_KEY_FILE
    assert (marker.read_text(encoding="utf-8") if marker.exists() else None) == ("k" if resume else None)


def test_a_linked_run_that_starts_over_leaves_the_linked_folder_alone(tmp_path):
    """Run folders linked in from another work folder (how --train-only studies are joined):
    a run that starts over replaces the link by its own folder and never empties the other."""
    other = tmp_path / "other_work" / "run"
    other.mkdir(parents=True)
    (other / "model.pt").write_text("the other study's run")
    out = tmp_path / "work" / "run"
    out.parent.mkdir()
    out.symlink_to(other)
    assert study.open_run_folder(ContinuableTask(), str(out), "k", True) is False
    assert not out.is_symlink() and out.is_dir() and list(out.iterdir()) == [out / study.RUN_KEY_FILE]
    assert (other / "model.pt").read_text() == "the other study's run"


def _lm_study(work, *extra):
    """An iiet-study lm command line for a tiny real LM (vanilla, 2 x 64-d) of 24 updates, a
    checkpoint every 6 (about 3 s of training)."""
    return [os.path.join(os.path.dirname(sys.executable), "iiet-study"), "lm", "--work", str(work),
            "--models", "vanilla", "--train-lines", "2000", "--eval-lines", "60", "--vocab", "2000", "--budget", "24",
            "--curve-interval", "6", "--seeds", "1", "--lrs", "0.005", "--thresholds", "", "--train-only", *extra]


def test_a_killed_lm_run_continues_under_resume_to_the_uninterrupted_run(tmp_path):
    """A study under --resume killed during training (the whole process group, SIGKILL) and run
    again continues the run from its last checkpoint, and ends with the same weights and the
    same curve as a run that was never stopped (fairseq restores the Adam moments, the schedule
    and the data position, and seeds each update by its number)."""
    import signal
    import time

    import torch

    from iiet_plugin.seq import allow_fairseq_checkpoint_globals
    shared_data("lm", "bible_web")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run(_lm_study(tmp_path / "whole"), check=True, capture_output=True, env=env)

    work = tmp_path / "stopped"
    run = work / "vanilla__euler_lr0.005_s1"
    proc = subprocess.Popen(_lm_study(work, "--resume"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    deadline = time.time() + 120
    while not (run / "checkpoint_last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log = (run / "tool.log").read_text(encoding="utf-8")
    assert "done training" not in log and not (run / "result.json").exists()  # it was stopped mid-run

    again = subprocess.run(_lm_study(work, "--resume"), check=True, capture_output=True, text=True, env=env)
    assert f"continuing the unfinished run in {run}" in again.stdout
    restored = re.search(r"Loaded checkpoint \S+checkpoint_last.pt \(epoch \d+ @ (\d+) updates\)",
                         (run / "tool.log").read_text(encoding="utf-8"))
    assert restored and 6 <= int(restored.group(1)) < 24  # fairseq went on from the stopped run's checkpoint

    allow_fairseq_checkpoint_globals()
    whole, stopped = [json.loads((w / "vanilla__euler_lr0.005_s1" / "result.json").read_text())
                      for w in (tmp_path / "whole", work)]
    assert stopped["curve"] == whole["curve"] and [u for u, _ in whole["curve"]] == [6, 12, 18, 24]
    assert stopped["value"] == whole["value"]
    assert stopped["device"] == whole["device"] == "cpu"  # two attempts on one device, read from the real log
    a, b = [torch.load(w / "vanilla__euler_lr0.005_s1" / "checkpoint_last.pt", weights_only=True)
            for w in (tmp_path / "whole", work)]
    assert a["optimizer_history"][-1]["num_updates"] == b["optimizer_history"][-1]["num_updates"] == 24
    assert "last_optimizer_state" in b and a.get("last_optimizer_state") is None  # only --resume keeps it
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, rtol=0, atol=1e-6, msg=name)


def test_extend_from_trains_a_shorter_study_s_run_on_to_the_run_of_the_larger_budget(tmp_path):
    """--extend-from: a finished 12-update run (under --resume) copied and trained on to 24 updates
    ends with the same weights and curve as a 24-update run from scratch; the shorter study's
    run is left as it was."""
    import torch

    from iiet_plugin.seq import allow_fairseq_checkpoint_globals
    shared_data("lm", "bible_web")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    run = "vanilla__euler_lr0.005_s1"
    subprocess.run(_lm_study(tmp_path / "whole"), check=True, capture_output=True, env=env)
    subprocess.run(_lm_study(tmp_path / "short", "--resume", "--budget", "12"), check=True, capture_output=True,
                   env=env)
    short_result = (tmp_path / "short" / run / "result.json").read_text()
    longer = subprocess.run(_lm_study(tmp_path / "long", "--resume", "--extend-from", str(tmp_path / "short")),
                            check=True, capture_output=True, text=True, env=env)
    assert f"extending {tmp_path / 'short' / run} to this budget" in longer.stdout

    allow_fairseq_checkpoint_globals()
    whole, extended = [json.loads((tmp_path / w / run / "result.json").read_text()) for w in ("whole", "long")]
    assert extended["curve"] == whole["curve"] and [u for u, _ in whole["curve"]] == [6, 12, 18, 24]
    assert extended["value"] == whole["value"]
    a, b = [torch.load(tmp_path / w / run / "checkpoint_last.pt", weights_only=True) for w in ("whole", "long")]
    assert b["optimizer_history"][-1]["num_updates"] == 24
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, rtol=0, atol=1e-6, msg=name)
    kept = [sorted(p.name for p in (tmp_path / w / run).glob("checkpoint_*_*.pt")) for w in ("whole", "long")]
    assert kept[0] == kept[1] and "checkpoint_1_6.pt" in kept[1]  # the shorter run's came along (diagnostics)
    assert (tmp_path / "short" / run / "result.json").read_text() == short_result
    short = torch.load(tmp_path / "short" / run / "checkpoint_last.pt", weights_only=True)
    assert short["optimizer_history"][-1]["num_updates"] == 12
    # a rerun reuses the extended run
    again = subprocess.run(_lm_study(tmp_path / "long", "--resume", "--extend-from", str(tmp_path / "short")),
                           check=True, capture_output=True, text=True, env=env)
    assert "reusing" in again.stdout and "extending" not in again.stdout


def test_extend_from_is_refused_before_any_work_unless_it_can_give_the_longer_run(tmp_path, capsys):
    task = TASKS["lm"]()
    p = study.parser_for(task)
    base = ["--work", str(tmp_path / "long"), "--budget", "24", "--seeds", "1", "--lrs", "0.005", "--thresholds", "",
            "--train-lines", "2000", "--vocab", "2000"]
    shorter = p.parse_args(base + ["--budget", "12"])
    study.check(p, shorter, task)
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / study.SETTING_FILE).write_text(study.study_setting(task, shorter), encoding="utf-8")

    def refused(argv, what, task=task):
        parser = study.parser_for(task)
        with pytest.raises(SystemExit):
            study.check(parser, parser.parse_args(argv), task)
        assert what in capsys.readouterr().err

    extend = ["--extend-from", str(tmp_path / "short")]
    refused(base + extend, "needs --resume")
    refused(base + extend + ["--resume", "--budget", "12"], "its budget 12 is not smaller than --budget 12")
    refused(base + extend + ["--resume", "--vocab", "3000"], "holds another setting")
    refused(base + ["--resume", "--extend-from", str(tmp_path / "none")], "holds no study (setting.txt missing)")
    refused(base + ["--resume", "--extend-from", str(tmp_path / "long")], "is --work itself")
    refused(["--work", str(tmp_path / "v"), "--resume", "--seeds", "1", "--lrs", "0.001", "--thresholds", ""] + extend,
            "the vision task's schedule depends on the budget", TASKS["vision"]())
    args = p.parse_args(base + extend + ["--resume"])
    study.check(p, args, task)  # the same setting at a smaller budget: allowed
    assert not (tmp_path / "long").exists()


def test_continued_runs_get_the_tools_own_resume_and_keep_the_earlier_output(tmp_path, monkeypatch):
    """What each task hands its tool for a new and for a continued run: fairseq restores from
    its save dir (no --restore-file of the starting model again, optimizer state kept only
    under --resume, nothing run once the log says training finished); iiet-vit-train gets
    --resume OUT/last.pt.  The earlier attempts' output (e.g. the IIAD plan) stays in the log."""
    from types import SimpleNamespace

    from iiet_plugin.experiments import tasks
    calls = []

    def tool(name, *argv, log_path=None, **kw):
        calls.append((name, [str(a) for a in argv]))
        output = outputs.pop(0)
        with open(log_path, "a", encoding="utf-8") as f:  # what run_tool does with log_path
            f.write(output)
        return output
    monkeypatch.setattr(tasks, "run_tool", tool)

    lm = TASKS["lm"]()
    lm.args = SimpleNamespace(resume=True)
    out = tmp_path / "lm"
    outputs = ["| valid on 'valid' subset | loss 6.5 | ppl 90.5 | wps 1 | num_updates 300\n",
               "| valid on 'valid' subset | loss 6.3 | ppl 80.5 | wps 1 | num_updates 600\n| done training in 9.0 seconds\n"]
    lm.fairseq_train(str(out), ["data"], init=str(tmp_path / "start.pt"))
    assert "--restore-file" in calls[-1][1] and "--no-save-optimizer-state" not in calls[-1][1]
    (out / "checkpoint_last.pt").write_text("a run")
    with pytest.raises(ValueError, match="holds a run"):
        lm.fairseq_train(str(out), ["data"])  # a new run never lands on a run's checkpoint
    trained = lm.fairseq_train(str(out), ["data"], init=str(tmp_path / "start.pt"), continue_run=True)
    assert "--restore-file" not in calls[-1][1] and calls[-1][1][-2:] == ["--save-dir", str(out)]
    assert lm.curve(trained) == [(300, 90.5), (600, 80.5)]
    assert lm.fairseq_train(str(out), ["data"], continue_run=True).log == trained.log and len(calls) == 2
    lm.args.resume = False
    outputs.append("")
    lm.fairseq_train(str(tmp_path / "lm2"), ["data"])
    assert "--no-save-optimizer-state" in calls[-1][1]

    vision = TASKS["vision"]()
    vision.common = ["--data", "images"]
    out = tmp_path / "vit"
    outputs += ["IIAD student plan 1,0 (threshold 0.3)\nepoch 1\n", "resumed\nepoch 2\n"]
    vision.distil(Trained("teacher.pt", ""), iiet(1), 0.3, 0.001, 1, 2, str(out))
    assert "--resume" not in calls[-1][1] and calls[-1][1][-2:] == ["--output", str(out)]
    (out / "last.pt").write_text("a run")
    assert vision.can_continue(str(out))
    student = vision.distil(Trained("teacher.pt", ""), iiet(1), 0.3, 0.001, 1, 2, str(out), continue_run=True)
    assert calls[-1][1][-4:] == ["--resume", str(out / "last.pt"), "--output", str(out)]
    assert vision.plan_of(student.log) == "1,0" and student.log.endswith("epoch 2\n")


def test_a_report_on_another_test_slice_is_measured_anew_and_cached(tmp_path):
    """``reported`` caches the held-out metric under the run's key and the test slice: the same
    slice is reused, another one (``--test-lines``) is measured again, never read from the cache."""
    task = ArithmeticTask()
    checkpoint = str(tmp_path / "run" / "model.pt")
    task.value[checkpoint] = 5.0
    run = dict(checkpoint=checkpoint, key="the run's key", value=5.0)
    for split, measured in (("", 1), ("", 1), ("held-out score on the first 700 test items", 2),
                            ("held-out score on the first 700 test items", 2), ("", 3)):
        assert study.reported_value(task, run, False, split) == 4.75
        assert len([c for c in task.calls if c[0] == "report"]) == measured


@pytest.mark.parametrize("name", ["lm", "mt"])
def test_test_lines_change_the_test_slice_and_nothing_a_model_reads(name, tmp_path):
    """--test-lines: only the test split grows (to what the corpus has); the dictionaries (and the
    MT subword model) come from the training lines, so a model trained before reads the same
    inputs; the report names the count and the run keys (describe) do not change."""
    shared_data(*{"lm": ("lm", "bible_web"), "mt": ("mt", "en-de")}[name])
    lines = {"lm": "200", "mt": "1500"}[name]
    built = {}
    for test_lines in ("0", "60", "100000"):
        task = TASKS[name]()
        p = study.parser_for(task)
        args = p.parse_args(["--work", str(tmp_path / test_lines), "--train-lines", lines, "--eval-lines", "20",
                             "--test-lines", test_lines])
        assert task.check_args(args) is None
        task.prepare(args, str(tmp_path / test_lines))
        data = tmp_path / test_lines / "data"
        model_inputs = sorted(f for f in os.listdir(data / "bin") if f.startswith("dict")) + \
            (["../spm.vocab"] if name == "mt" else [])  # (spm.model also records its input's path)
        test_file = {"lm": "test.txt", "mt": "test.de"}[name]
        built[test_lines] = dict(describe=task.describe(args), reported_on=task.reported_on(args),
                                 count=task.test_count, test=len((data / test_file).read_text().splitlines()),
                                 valid=(data / test_file.replace("test", "valid")).read_text(),
                                 inputs=[(data / "bin" / f).read_bytes() for f in model_inputs])
    default, sixty, everything = built["0"], built["60"], built["100000"]
    assert (default["count"], default["test"], default["reported_on"]) == (20, 20, "")
    assert (sixty["count"], sixty["test"]) == (60, 60)
    assert sixty["reported_on"] == f"{task.report_metric} on the first 60 test {task.eval_unit} (--test-lines 60)"
    assert 60 < everything["count"] == everything["test"] < 100000  # the whole (length-filtered) split
    for other in (sixty, everything):
        assert other["describe"] == default["describe"] and other["valid"] == default["valid"]
        assert other["inputs"] == default["inputs"]
