"""Bad input is refused before any work, as one error line naming the option or file; what
would be silently wrong (ignored options, mismatched dictionaries, IDX count mismatches,
empty tasks, a reused output folder) is refused instead."""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
import timm
import torch

from conftest import ROOT, shared_data
from fairseq_helpers import BIN, TRAIN_FLAGS, USER_DIR, build_lm, build_mt, run_cli
from iiet_plugin.ode import ConfigError, ODEConfig

VISION = os.path.join(ROOT, "examples", "vision", "train.py")


def run_tool(*cmd, stdin=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    proc = subprocess.run(list(cmd), input=stdin, capture_output=True, text=True, timeout=300, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def assert_one_error_line(status, out, *needles):
    assert status != 0, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    errors = [line for line in out.splitlines() if "error:" in line]
    assert len(errors) == 1, out[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


# -- options a solver ignores ----------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(solver="iie", coef="bogus"), r"ode_coef \(for solver iie\): unknown value 'bogus'; allowed values: standard"),
    (dict(solver="euler", coef="ema"), r"ode_coef \(for solver euler\)"),
    (dict(solver="rk2", iters=3), r"ode_solver=rk2 ignores iie_iters=3"),
    (dict(solver="pc", layer_iters="1,0"), r"ode_solver=pc ignores iie_layer_iters=1,0"),
    (dict(solver="iie", pc_predictor="rk4"), r"ode_solver=iie ignores pc_predictor=rk4"),
    (dict(solver="rk4", iie_relaxation=0.5), r"ode_solver=rk4 ignores iie_relaxation=0.5"),
    (dict(solver="iie", iie_relaxation="x"), r"iie_relaxation must be a number"),
])
def test_core_refuses_ignored_and_bad_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ODEConfig(**kwargs).validated(2)


def test_defaults_stay_accepted_with_every_solver():
    """Checkpoints store the defaults (iie_iters=1, pc_predictor=rk2) whatever the solver."""
    for solver in ("euler", "rk2", "rk4", "pc", "iie"):
        ODEConfig(solver=solver).validated(2)
        ODEConfig(solver=solver, iters=0).validated(2)


def test_hosts_refuse_ignored_options_in_their_own_names():
    with pytest.raises(ConfigError, match=r"ode_coef \(for solver iie\): unknown value 'bogus'"):
        timm.create_model("iiet_vit_tiny_patch4_28", ode_coef="bogus")
    with pytest.raises(ConfigError, match=r"^iie_layer_iters: the plan has 2 entries"):  # a timm kwarg now
        timm.create_model("iiet_vit_tiny_patch4_28", layer_iters="1,1")  # its earlier name still works
    with pytest.raises(ConfigError, match=r"ode_coef \(for solver iie\)"):
        build_lm("--ode-solver", "iie", "--ode-coef", "bogus")
    with pytest.raises(ConfigError, match=r"encoder_ode_solver=euler ignores encoder_iie_iters=2"):
        build_mt("--encoder-ode-solver", "euler", "--encoder-iie-iters", "2")
    with pytest.raises(ConfigError, match=r"iie_start_update=5 schedules IIET iterations, but ode_solver=rk2"):
        build_lm("--ode-solver", "rk2", "--iie-start-update", "5")
    with pytest.raises(ConfigError, match="iie_layer_iters: the plan has 3 entries"):
        build_lm("--iie-layer-iters", "1,1,1")


def test_fairseq_train_refuses_at_parse_time_in_one_line(lm_data):
    status, out = run_tool(os.path.join(BIN, "fairseq-train"), str(lm_data / "bin"), "--user-dir", USER_DIR,
                           "--arch", "iiet_lm_tiny", "--ode-coef", "bogus", *TRAIN_FLAGS)
    assert_one_error_line(status, out, "ode_coef (for solver iie): unknown value 'bogus'")
    assert len(out.splitlines()) < 15, out  # no config dump before the error


@pytest.mark.parametrize("flag", ["--bf16", "--fp16"])
def test_fairseq_half_precision_on_cpu_is_named(lm_data, flag):
    status, out = run_tool(os.path.join(BIN, "fairseq-train"), str(lm_data / "bin"), "--user-dir", USER_DIR,
                           "--arch", "iiet_lm", "--decoder-layers", "1", flag, *TRAIN_FLAGS)
    assert_one_error_line(status, out, f"{flag}:", "fp32")
    assert "xla_device" not in out


# -- IIAD plan choice: one function for every host -----------------------------------------------
def test_vision_iiad_uses_the_core_checks():
    from iiet_plugin.vision.influence import choose_plan
    teacher = timm.create_model("iiet_vit_tiny_patch4_28", iie_iters=1, depth=2, embed_dim=16, num_heads=2)
    never = lambda: pytest.fail("calibration data must not be read for a refused request")  # noqa: E731
    with pytest.raises(ConfigError, match=r"iiad_plan: layer 0 asks for 2 iterations but the teacher runs 1"):
        choose_plan(teacher, never, explicit="2,1")
    vanilla = timm.create_model("iiet_vit_tiny_patch4_28", ode_solver="euler", depth=2, embed_dim=16, num_heads=2)
    with pytest.raises(ConfigError, match=r"IIAD needs an IIET teacher \(ode_solver=iie\); layer 0 uses EulerSolver"):
        choose_plan(vanilla, never, explicit="0,0")
    with pytest.raises(ConfigError, match="iiad_threshold must be a number >= 0"):
        choose_plan(teacher, never, threshold=-1.0)
    with pytest.raises(ConfigError, match="give one of them, not both"):
        choose_plan(teacher, never, threshold=0.1, explicit="1,0")
    from timm.models.vision_transformer import VisionTransformer
    with pytest.raises(ConfigError, match="IIAD needs an IIET teacher"):
        choose_plan(VisionTransformer(img_size=28, patch_size=7, in_chans=1, embed_dim=16, depth=1, num_heads=2),
                    never, explicit="0")
    plan, report = choose_plan(teacher, never, explicit="1,0")
    assert plan.to_string() == "1,0" and report is None


def test_fairseq_iiad_non_iiet_model_is_named():
    from iiet_plugin.seq.influence import decoder_solvers
    euler, _, _ = build_lm("--ode-solver", "euler")
    with pytest.raises(ConfigError, match="IIAD needs an IIET teacher"):
        decoder_solvers(euler)
    with pytest.raises(ConfigError, match="IIAD needs an IIET model .* holds Linear"):
        decoder_solvers(torch.nn.Linear(2, 2))


# -- dictionaries -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm_ckpt_and_other_dict(lm_data, tmp_path_factory):
    save = lm_data / "safety_inputs_lm"
    run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny",
            "--ode-solver", "iie", "--iie-iters", "1", "--max-update", "2", "--save-dir", str(save), *TRAIN_FLAGS)
    other = tmp_path_factory.mktemp("other_dict")
    for name in os.listdir(lm_data / "bin"):
        shutil.copy(lm_data / "bin" / name, other / name)
    lines = (other / "dict.txt").read_text(encoding="utf-8").splitlines()
    (other / "dict.txt").write_text("\n".join(lines[1:] + lines[:1]) + "\n", encoding="utf-8")  # same size
    return save / "checkpoint_last.pt", other


def test_mismatched_dictionary_is_refused(lm_ckpt_and_other_dict, lm_data):
    from iiet_plugin.seq.checkpoints import load_checkpoint
    ckpt, other = lm_ckpt_and_other_dict
    models, _, _ = load_checkpoint(str(ckpt), arg_overrides={"data": str(lm_data / "bin")})  # its own: fine
    with pytest.raises(ConfigError, match=r"dictionary mismatch: .* pass the data-bin whose dict.txt"):
        load_checkpoint(str(ckpt), arg_overrides={"data": str(other)})
    status, out = run_tool(os.path.join(BIN, "iiet-influence"), "--path", str(ckpt), "--data", str(other))
    assert_one_error_line(status, out, "dictionary mismatch")


def test_checkpoint_without_fingerprint_loads_with_a_warning(lm_ckpt_and_other_dict, tmp_path, caplog):
    from iiet_plugin.seq.checkpoints import load_checkpoint
    ckpt, _ = lm_ckpt_and_other_dict
    state = torch.load(ckpt, weights_only=True)
    del state["model"]["decoder.dictionary_fingerprint"]
    torch.save(state, tmp_path / "old.pt")
    with caplog.at_level("WARNING"):
        load_checkpoint(str(tmp_path / "old.pt"))
    assert "has no dictionary fingerprint" in caplog.text


# -- plugin CLIs check their arguments before loading -----------------------------------------------------
@pytest.mark.parametrize("args,needle", [
    (["--thresholds", "bogus"], "--thresholds: expected comma-separated numbers >= 0"),
    (["--thresholds", "-0.1"], "--thresholds: expected comma-separated numbers >= 0"),
    (["--scores", "update,bleu"], "--scores: unknown value"),
    (["--json", "/no/such/dir/x.json"], "--json: folder /no/such/dir does not exist"),
    (["--path", "/no/such/ckpt.pt"], "--path: checkpoint /no/such/ckpt.pt does not exist"),
])
def test_iiet_influence_checks_arguments_first(tmp_path, args, needle):
    base = {"--path": __file__, "--data": str(tmp_path)}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    status, out = run_tool(os.path.join(BIN, "iiet-influence"), *[x for kv in base.items() for x in kv])
    assert_one_error_line(status, out, needle)


def test_make_tasks_refuses_too_few_items_and_bad_text(tmp_path):
    script = os.path.join(ROOT, "examples", "lmeval", "make_tasks.py")
    play = tmp_path / "play.txt"
    play.write_text("\n".join(["HAMLET. Who's there?", "Nay, answer me.", "Long live the king!"] * 30) + "\n")
    status, out = run_tool(sys.executable, script, "--text", str(play), "--out", str(tmp_path / "t"))
    assert_one_error_line(status, out, "fewer than --min-items 10 cloze items", "--context-words")
    assert not (tmp_path / "t").exists()  # nothing written
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    status, out = run_tool(sys.executable, script, "--text", str(latin1), "--out", str(tmp_path / "t"))
    assert_one_error_line(status, out, f"{latin1} is not UTF-8 text (line 1")


def test_lm_eval_names_an_empty_task_file(tmp_path):
    from lm_eval.tasks import TaskManager

    from iiet_plugin.lmeval.cli import local_data_problem
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    (tmp_path / "t.yaml").write_text(f"task: iiet_empty_ppl\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
                                     f"    test: {empty}\ntest_split: test\noutput_type: loglikelihood_rolling\n"
                                     "doc_to_text: ''\ndoc_to_target: '{{text}}'\n")
    manager = TaskManager(include_path=str(tmp_path))
    assert local_data_problem(manager, "iiet_empty_ppl") == f"task iiet_empty_ppl: data file {empty} is empty " \
                                                             "(no items to evaluate)"


def test_prepare_ende_names_empty_split_and_missing_files(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for split in ("train", "valid", "test"):
        (raw / f"{split}.en").write_text("" if split == "valid" else "hello world\n")
        (raw / f"{split}.de").write_text("" if split == "valid" else "hallo welt\n")
    script = os.path.join(ROOT, "examples", "mt", "prepare_ende.py")
    status, out = run_tool(sys.executable, script, str(raw), str(tmp_path / "out"))
    assert_one_error_line(status, out, f"valid split (en): {raw / 'valid.en'} is empty")
    status, out = run_tool(sys.executable, script, str(tmp_path / "nope"), str(tmp_path / "out"))
    assert_one_error_line(status, out, "is not a folder")


# -- vision recipe ----------------------------------------------------------------------------------------------
def _idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_count_mismatch_is_an_error_at_load(tmp_path):
    from iiet_plugin.vision.idx_dataset import IDXImageDataset
    _idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((10, 28, 28)))
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(9))
    with pytest.raises(ConfigError, match=r"train-images-idx3-ubyte.gz holds 10 images but .*train-labels-idx1-ubyte"
                                          r".gz holds 9 labels"):
        IDXImageDataset(str(tmp_path), "train")
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:  # header promises 10, holds 5
        f.write(struct.pack(">HBBI", 0, 8, 1, 10) + bytes(5))
    with pytest.raises(ConfigError, match="truncated or damaged"):
        IDXImageDataset(str(tmp_path), "train")


def _train(*args):
    return run_tool(sys.executable, VISION, *args)


def test_vision_refusals_before_work(tmp_path):
    data = shared_data("vision", "fashion-mnist")
    out = tmp_path / "out"
    out.mkdir()
    (out / "best.pt").write_bytes(b"earlier result")
    status, text = _train("--data", data, "--output", str(out), "--epochs", "1")
    assert_one_error_line(status, text, f"--output: {out} is not empty", "--overwrite")
    assert (out / "best.pt").read_bytes() == b"earlier result"
    for args, needle in [
        (["--ode-coef", "bogus"], "ode_coef (for solver iie): unknown value 'bogus'"),
        (["--iiad-threshold", "0.1"], "--iiad-threshold: IIAD options need --teacher"),
        (["--save-interval-steps", "-2"], "--save-interval-steps must be >= 0 (0: none), got -2"),
        (["--valid-images", "-1"], "--valid-images must be >= 0 (0: none), got -1"),
        (["--valid-images", "59990"], "--valid-images 59990: with --train-limit 32 it needs 60022 of the 60000 "
                                      "training images"),
    ]:
        status, text = _train("--data", data, "--output", str(tmp_path / "fresh"), "--epochs", "1",
                              "--train-limit", "32", "--eval-limit", "32", *args)
        assert_one_error_line(status, text, needle)
    assert not (tmp_path / "fresh" / "last.pt").exists()


def test_vision_validation_split_needs_idx_data(tmp_path):
    for split in ("train", "val"):
        (tmp_path / "tree" / split / "class0").mkdir(parents=True)
    status, text = _train("--data", str(tmp_path / "tree"), "--output", str(tmp_path / "out"), "--valid-images", "10")
    assert_one_error_line(status, text, "--valid-images: needs Fashion-MNIST IDX files in --data")
    assert not (tmp_path / "out").exists()


def test_vision_resume_refuses_changed_model_options(tmp_path):
    data = shared_data("vision", "fashion-mnist")
    small = ["--model-kwargs", json.dumps({"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": 7}),
             "--train-limit", "64", "--eval-limit", "32", "--batch-size", "32", "--no-progress"]
    status, text = _train("--data", data, "--output", str(tmp_path / "r"), "--epochs", "1", *small)
    assert status == 0, text[-2000:]
    status, text = _train("--data", data, "--output", str(tmp_path / "r"), "--epochs", "2", *small,
                          "--iie-iters", "2", "--resume", str(tmp_path / "r" / "last.pt"))
    assert_one_error_line(status, text, "--resume: the checkpoint was trained with other model/optimizer options",
                          "--iie-iters None -> 2")
