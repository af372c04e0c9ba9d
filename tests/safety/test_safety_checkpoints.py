"""No code from a checkpoint, through every loader the plugin ships or documents; no
checkpoint lost to a kill during a save.

Crafted checkpoints start from tiny models trained here; a payload touches a marker file
when evaluated.  Every load must fail with a one-line error naming the field, and the
marker must never appear.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, shared_data
from fairseq_helpers import BIN, TRAIN_FLAGS, USER_DIR, run_cli

VISION = os.path.join(ROOT, "examples", "vision", "train.py")
TINY_VIT = ["--model", "iiet_vit_tiny_patch4_28", "--model-kwargs",
            json.dumps({"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": 7}),
            "--batch-size", "32", "--warmup-epochs", "0", "--no-progress", "--ode-solver", "iie", "--iie-iters", "1"]


def payload(marker, value):
    """A config string that creates ``marker`` when evaluated, then yields ``value``."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch() or {value}"


class PicklePayload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def craft(src, dst, edit):
    state = torch.load(src, map_location="cpu", weights_only=True)
    edit(state)
    torch.save(state, dst)
    return str(dst)


def run_tool(tool, *args, stdin=None, timeout=300):
    """(exit status, stdout + stderr) of a console tool of this environment."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    path = tool if os.path.isabs(tool) else os.path.join(BIN, tool)
    proc = subprocess.run([path, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def assert_refused(status, out, marker, *needles):
    assert not os.path.exists(marker), "the checkpoint ran code"
    assert status != 0, out[-3000:]
    for needle in needles:
        assert needle in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]  # one error line, not a traceback


# -- fairseq language model ---------------------------------------------------------------
@pytest.fixture(scope="module")
def lm_ckpt(lm_data):
    save = lm_data / "safety_lm"
    run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny",
            "--ode-solver", "iie", "--iie-iters", "1", "--max-update", "2", "--save-dir", str(save), *TRAIN_FLAGS)
    return save / "checkpoint_last.pt"


# field -> (what the payload yields, the options under which fairseq's builders evaluate it)
LM_FIELDS = {
    "adaptive_softmax_cutoff": ("[100]", {}),
    "adaptive_input_cutoff": ("[100]", {"adaptive_input": True}),
    "character_filters": ("[(1, 4)]", {"character_embeddings": True}),
    "decoder_xformers_att_config": ("None", {}),
}


def lm_payload(lm_ckpt, tmp_path, marker, field="adaptive_softmax_cutoff"):
    value, switches = LM_FIELDS[field]

    def edit(state):
        state["cfg"]["model"].update(switches)
        state["cfg"]["model"][field] = payload(marker, value)
    return craft(lm_ckpt, tmp_path / f"{field}.pt", edit)


@pytest.mark.parametrize("field", sorted(LM_FIELDS))
def test_lm_fields_refused_by_fairseq_and_plugin_loaders(lm_ckpt, tmp_path, field):
    from fairseq import checkpoint_utils

    from iiet_plugin.ode import ConfigError
    from iiet_plugin.seq.checkpoints import load_checkpoint
    marker = tmp_path / "MARKER"
    path = lm_payload(lm_ckpt, tmp_path, marker, field)
    with pytest.raises(ConfigError, match=rf"{field}: .* is not plain data"):
        load_checkpoint(path)  # the plugin's tools
    with pytest.raises(ConfigError, match=rf"{field}: .* is not plain data"):
        checkpoint_utils.load_model_ensemble_and_task([path])  # fairseq's CLIs: the model's build_model
    assert not marker.exists()


def test_the_guard_is_what_stops_the_payload(lm_ckpt, tmp_path, monkeypatch):
    """Control: with the model's check switched off, fairseq's own builder runs the payload."""
    from fairseq import checkpoint_utils

    import iiet_plugin.seq.lm as lm
    import iiet_plugin.seq.options as options
    marker = tmp_path / "MARKER"
    path = lm_payload(lm_ckpt, tmp_path, marker)
    for module in (lm, options):  # build_model's check and the architecture function's
        monkeypatch.setattr(module, "check_config_values", lambda cfg: None)
    try:
        checkpoint_utils.load_model_ensemble_and_task([path])
    except Exception:
        pass
    assert marker.exists()


@pytest.mark.parametrize("tool", ["fairseq-eval-lm", "fairseq-generate", "fairseq-interactive"])
def test_lm_payload_through_fairseq_clis(lm_data, lm_ckpt, tmp_path, tool):
    marker = tmp_path / "MARKER"
    path = lm_payload(lm_ckpt, tmp_path, marker)
    extra = {"fairseq-eval-lm": ["--tokens-per-sample", "64"],
             "fairseq-generate": ["--task", "language_modeling", "--sample-break-mode", "eos", "--max-len-b", "4"],
             "fairseq-interactive": ["--task", "language_modeling", "--max-len-b", "4"]}[tool]
    status, out = run_tool(tool, str(lm_data / "bin"), "--user-dir", USER_DIR, "--path", path, "--cpu", *extra,
                           stdin="in the beginning\n")
    assert_refused(status, out, marker, "adaptive_softmax_cutoff", "is not plain data")


def test_lm_payload_through_plugin_tools(lm_data, lm_ckpt, tmp_path):
    from iiet_plugin.lmeval.adapter import FairseqLM
    from iiet_plugin.ode import ConfigError
    marker = tmp_path / "MARKER"
    path = lm_payload(lm_ckpt, tmp_path, marker)
    with pytest.raises(ConfigError, match="adaptive_softmax_cutoff"):
        FairseqLM(path=path, data=str(lm_data / "bin"))  # iiet-lm-eval's loader
    status, out = run_tool("iiet-influence", "--path", path, "--data", str(lm_data / "bin"))
    assert_refused(status, out, marker, "adaptive_softmax_cutoff", "is not plain data")
    status, out = run_tool("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny",
                           "--task", "iiad_language_modeling", "--teacher-path", path, "--iiad-threshold", "0.1",
                           "--ode-solver", "iie", "--iie-iters", "1", "--max-update", "1",
                           "--save-dir", str(tmp_path / "s"), *TRAIN_FLAGS[2:])
    assert_refused(status, out, marker, "adaptive_softmax_cutoff", "is not plain data")


def test_lm_payload_through_iiet_lm_eval(lm_data, lm_ckpt, tmp_path):
    marker = tmp_path / "MARKER"
    path = lm_payload(lm_ckpt, tmp_path, marker)
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"text": "in the beginning"}\n')
    (tmp_path / "t.yaml").write_text(f"task: iiet_safety_ppl\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
                                     f"    test: {docs}\ntest_split: test\noutput_type: loglikelihood_rolling\n"
                                     "doc_to_text: ''\ndoc_to_target: '{{text}}'\n")
    status, out = run_tool("iiet-lm-eval", "--path", path, "--data", str(lm_data / "bin"), "--tasks",
                           "iiet_safety_ppl", "--include-path", str(tmp_path))
    assert_refused(status, out, marker, "adaptive_softmax_cutoff", "is not plain data")


def test_pickle_payload_refused(lm_data, lm_ckpt, tmp_path):
    from iiet_plugin.ode import ConfigError
    from iiet_plugin.seq.checkpoints import load_checkpoint
    marker = tmp_path / "MARKER"
    path = craft(lm_ckpt, tmp_path / "pickled.pt", lambda s: s.update(extra=PicklePayload(marker)))
    with pytest.raises(ConfigError, match="refused by weights-only loading"):
        load_checkpoint(path)
    status, out = run_tool("iiet-influence", "--path", path, "--data", str(lm_data / "bin"))
    assert_refused(status, out, marker, "refused by weights-only loading")
    status, out = run_tool("fairseq-eval-lm", str(lm_data / "bin"), "--user-dir", USER_DIR, "--path", path, "--cpu")
    assert not marker.exists() and status != 0 and "Weights only load failed" in out, out[-2000:]


def test_legitimate_cutoff_trains_saves_and_evaluates(lm_data, tmp_path):
    flags = [f for f in TRAIN_FLAGS if f != "--share-decoder-input-output-embed"]
    run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny",
            "--adaptive-softmax-cutoff", "100,1000", "--criterion", "adaptive_loss", "--ddp-backend", "legacy_ddp",
            "--max-update", "2",
            "--save-dir", str(tmp_path), *flags)
    state = torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)
    assert state["cfg"]["model"]["adaptive_softmax_cutoff"] == "100,1000"
    out = run_cli("fairseq-eval-lm", str(lm_data / "bin"), "--user-dir", USER_DIR, "--path",
                  str(tmp_path / "checkpoint_last.pt"), "--tokens-per-sample", "64", "--cpu")
    assert "Perplexity" in out


def test_legitimate_values_still_work(lm_ckpt):
    from fairseq_helpers import build_lm

    from iiet_plugin.seq.config_values import check_config_values
    model, _, args = build_lm("--adaptive-softmax-cutoff", "10,20", num_words=40)
    assert model.decoder.adaptive_softmax is not None and args.adaptive_softmax_cutoff == "10,20"
    model, _, _ = build_lm("--character-embeddings", "--character-filters", "[(1, 4), (2, 8)]")
    assert [c.kernel_size[0] for c in model.decoder.embed_tokens.convolutions] == [1, 2]
    cfg = {"model": {"adaptive_input_cutoff": "[5, 10]", "encoder_xformers_att_config": '{"name": "x"}'}}
    check_config_values(cfg)
    assert cfg["model"] == {"adaptive_input_cutoff": "5,10", "encoder_xformers_att_config": "{'name': 'x'}"}
    state = torch.load(lm_ckpt, weights_only=True)
    assert "decoder.dictionary_fingerprint" in state["model"]  # recorded at training


# -- fairseq translation --------------------------------------------------------------------
@pytest.fixture(scope="module")
def mt_ckpt(mt_data):
    save = mt_data / "safety_mt"
    run_cli("fairseq-train", str(mt_data / "bin"), "--user-dir", USER_DIR, "--task", "translation",
            "--arch", "iiet_transformer_tiny", "--share-all-embeddings", "--optimizer", "adam", "--lr", "0.003",
            "--max-tokens", "2048", "--cpu", "--max-update", "2", "--no-epoch-checkpoints", "--num-workers", "0",
            "--decoder-ode-solver", "iie", "--save-dir", str(save))
    return save / "checkpoint_last.pt"


def test_mt_payload_refused(mt_data, mt_ckpt, tmp_path):
    from iiet_plugin.ode import ConfigError
    from iiet_plugin.seq.checkpoints import load_checkpoint
    marker = tmp_path / "MARKER"

    def edit(field, value):
        def apply(state):
            for holder in (state.get("args"), state["cfg"].get("model")):
                if isinstance(holder, dict):
                    holder[field] = payload(marker, value)
                elif holder is not None:
                    setattr(holder, field, payload(marker, value))
        return apply
    path = craft(mt_ckpt, tmp_path / "mt.pt", edit("adaptive_softmax_cutoff", "[100]"))
    status, out = run_tool("fairseq-generate", str(mt_data / "bin"), "--user-dir", USER_DIR, "--path", path,
                           "--cpu", "--beam", "2", "--max-len-b", "4")
    assert_refused(status, out, marker, "adaptive_softmax_cutoff", "is not plain data")
    path = craft(mt_ckpt, tmp_path / "mt_x.pt", edit("encoder_xformers_att_config", "None"))
    with pytest.raises(ConfigError, match="encoder_xformers_att_config"):
        load_checkpoint(path)
    assert not marker.exists()


# -- vision recipe ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vit_ckpt(tmp_path_factory):
    data = shared_data("vision", "fashion-mnist")
    out = tmp_path_factory.mktemp("vit")
    proc = subprocess.run([sys.executable, VISION, "--data", data, "--train-limit", "64", "--eval-limit", "32",
                           "--epochs", "1", "--output", str(out / "t"), *TINY_VIT], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return data, out / "t" / "last.pt"


@pytest.mark.parametrize("flag", ["--resume", "--teacher"])
def test_vision_pickle_payload_refused(vit_ckpt, tmp_path, flag):
    data, ckpt = vit_ckpt
    marker = tmp_path / "MARKER"
    path = craft(ckpt, tmp_path / "p.pt", lambda s: s.update(extra=PicklePayload(marker)))
    extra = ["--iiad-plan", "1,1"] if flag == "--teacher" else []
    status, out = run_tool(sys.executable, VISION, "--data", data, "--train-limit", "64", "--eval-limit", "32",
                           "--epochs", "2", "--output", str(tmp_path / "o"), *TINY_VIT, flag, path, *extra)
    assert_refused(status, out, marker, f"{flag}: {path} refused by weights-only loading")


@pytest.mark.parametrize("edit,needle", [
    (lambda s: s.update(model_name="hf-hub:someone/payload"), "not a registered timm model"),
    (lambda s: s["args"].update(model_kwargs=json.dumps({"checkpoint_path": "/elsewhere.pt"})),
     "'checkpoint_path' is a loading option"),
    (lambda s: s["args"].update(model_kwargs="{not json"), "not JSON"),
    (lambda s: s.pop("model_name"), "missing or malformed: model_name"),
])
def test_vision_checkpoint_fields_are_checked_as_data(vit_ckpt, tmp_path, edit, needle):
    from iiet_plugin.ode import ConfigError
    from iiet_plugin.vision.checkpoints import read_checkpoint
    path = craft(vit_ckpt[1], tmp_path / "c.pt", edit)
    with pytest.raises(ConfigError, match=needle):
        read_checkpoint(path, "--teacher")


def test_fairseq_checkpoint_as_vision_teacher(lm_ckpt):
    from iiet_plugin.ode import ConfigError
    from iiet_plugin.vision.checkpoints import read_checkpoint
    with pytest.raises(ConfigError, match="is a fairseq checkpoint; expected one written by iiet-vit-train"):
        read_checkpoint(str(lm_ckpt), "--teacher")


# -- kills during saves ------------------------------------------------------------------------
def kill_when(proc, ready, tmp, timeout=600):
    """SIGKILL ``proc`` as soon as ``ready()`` holds and ``tmp`` (a save in progress) exists;
    return True if ``tmp`` was still there after the kill (the kill hit the save)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("the run ended before a save could be interrupted:\n" + proc.stdout.read()[-3000:])
        if ready() and os.path.exists(tmp):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return os.path.exists(tmp)
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("no save seen in time")


def test_vision_kill_during_save_keeps_previous_checkpoint(tmp_path):
    data = shared_data("vision", "fashion-mnist")
    out = tmp_path / "run"
    big = ["--model", "iiet_vit_tiny_patch4_28", "--batch-size", "32", "--no-progress", "--warmup-epochs", "0",
           "--model-kwargs", json.dumps({"embed_dim": 768, "depth": 4, "num_heads": 4, "patch_size": 7}),
           "--iie-iters", "0"]  # ~28 M parameters: a ~340 MB checkpoint with AdamW's state
    common = [sys.executable, VISION, "--data", data, "--train-limit", "64", "--eval-limit", "32", "--epochs", "3",
              "--output", str(out), *big]
    for attempt in range(3):
        if out.exists():
            for f in out.iterdir():
                f.unlink()
        proc = subprocess.Popen(common + (["--overwrite"] if attempt else []), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        last = out / "last.pt"
        hit = kill_when(proc, last.exists, str(last) + ".tmp")  # last.pt holds epoch 0; epoch 1's save runs
        if hit:
            break
    assert hit, "three tries and the kill never landed inside a save"
    state = torch.load(last, weights_only=True)  # whole: the previous epoch's checkpoint
    assert state["epoch"] == 0
    proc = subprocess.run(common + ["--resume", str(last)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resumed from" in proc.stdout and torch.load(last, weights_only=True)["epoch"] == 2


def test_fairseq_kill_during_checkpoint_last_copy(lm_data, tmp_path):
    """fairseq writes checkpoint_E_U.pt, then copies it to checkpoint_last.pt; the plugin makes
    that copy atomic, so a kill during it leaves the previous checkpoint_last.pt whole."""
    save = tmp_path / "ckpt"
    cmd = [os.path.join(BIN, "fairseq-train"), str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny",
           "--decoder-embed-dim", "768", "--decoder-ffn-embed-dim", "3072", "--decoder-attention-heads", "4",
           "--ode-solver", "iie", "--iie-iters", "0", "--save-interval-updates", "2", "--keep-interval-updates", "1",
           "--max-update", "6", "--save-dir", str(save), "--disable-validation", *TRAIN_FLAGS]
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    last = save / "checkpoint_last.pt"
    for attempt in range(3):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        hit = kill_when(proc, last.exists, str(last) + ".tmp")
        if hit:
            break
    assert hit, "three tries and the kill never landed inside the copy"
    state = torch.load(last, weights_only=True)  # whole, not truncated
    killed_at = state["optimizer_history"][-1]["num_updates"]
    assert killed_at >= 2
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)  # the same command resumes
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "Loaded checkpoint" in out.stdout + out.stderr and "done training" in out.stdout + out.stderr
    assert torch.load(last, weights_only=True)["optimizer_history"][-1]["num_updates"] == 6
