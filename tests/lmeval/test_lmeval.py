"""lm-evaluation-harness adapter ``fairseq_iiet``: exact log-likelihoods, rolling windows equal
to fairseq-eval-lm, local tasks end to end, offline."""
import json
import math
import os
import re
import subprocess
import sys

import pytest
import torch

pytest.importorskip("lm_eval", reason="lm_eval is installed by the [dev]/[lmeval] extras")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from conftest import ROOT  # noqa: E402
from fairseq_helpers import TRAIN_FLAGS, USER_DIR, run_cli  # noqa: E402

from lm_eval.api.instance import Instance  # noqa: E402


@pytest.fixture(scope="module")
def checkpoints(lm_data):
    out = {}
    for name, flags in (("iiet", ["--ode-solver", "iie", "--iie-iters", "1"]), ("vanilla", ["--ode-solver", "euler"])):
        save = lm_data / f"lmeval_{name}"
        run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny", *flags,
                "--max-update", "20", "--save-dir", str(save), *TRAIN_FLAGS)
        out[name] = str(save / "checkpoint_last.pt")
    save = lm_data / "lmeval_eiiet"
    flags = [f for f in TRAIN_FLAGS if f not in ("--task", "language_modeling")]
    run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--task", "iiad_language_modeling",
            "--arch", "iiet_lm_tiny", "--ode-solver", "iie", "--iie-iters", "1", "--teacher-path", out["iiet"],
            "--iiad-plan", "1,0", "--criterion", "iiad_distillation", "--max-update", "3", "--save-dir", str(save),
            *flags)
    out["eiiet"] = str(save / "checkpoint_last.pt")
    return out


def _adapter(path, data, **kw):
    from iiet_plugin.lmeval.adapter import FairseqLM
    return FairseqLM(path=path, data=data, batch_size=3, **kw)


def _req(kind, *args):
    return Instance(request_type=kind, doc={}, arguments=args, idx=0)


def test_loglikelihood_equals_the_models_own_forward(lm_data, checkpoints):
    lm = _adapter(checkpoints["iiet"], str(lm_data / "bin"))
    context, continuation = "And God said,", " Let there be light"
    got = lm.loglikelihood([_req("loglikelihood", context, continuation),
                            _req("loglikelihood", "", "In the beginning")])
    ctx, cont = lm.tok_encode(context), lm.tok_encode(continuation)
    tokens = torch.tensor([[lm.dictionary.eos()] + ctx + cont])
    with torch.no_grad():
        lprobs = lm.model.get_normalized_probs(lm.model(tokens[:, :-1]), log_probs=True)[0]
    expected = sum(lprobs[len(ctx) + i, t].item() for i, t in enumerate(cont))
    assert got[0][0] == pytest.approx(expected, abs=1e-4)
    assert isinstance(got[0][1], bool)
    assert got[1][0] < 0


@pytest.mark.parametrize("window", [(64, 32), (64, 16)])
def test_rolling_equals_fairseq_eval_lm(lm_data, checkpoints, tmp_path, window):
    tokens_per_sample, context = window
    doc = " ".join(open(lm_data / "test.txt").read().split("\n")[:8])  # ~200 words, several windows
    (tmp_path / "doc.txt").write_text(doc + "\n")
    run_cli("fairseq-preprocess", "--only-source", "--srcdict", str(lm_data / "bin" / "dict.txt"), "--testpref",
            str(tmp_path / "doc.txt"), "--destdir", str(tmp_path / "bin"), "--workers", "1")
    out = run_cli("fairseq-eval-lm", str(tmp_path / "bin"), "--user-dir", USER_DIR, "--path", checkpoints["iiet"],
                  "--gen-subset", "test", "--tokens-per-sample", str(tokens_per_sample), "--context-window",
                  str(context), "--cpu", "--max-tokens", "4096")
    n = int(re.search(r"Evaluated ([0-9,]+) tokens", out).group(1).replace(",", ""))
    loss2 = float(re.search(r"Loss \(base 2\): ([0-9.]+)", out).group(1))
    lm = _adapter(checkpoints["iiet"], str(lm_data / "bin"), max_length=tokens_per_sample, context_window=context)
    assert len(lm.tok_encode(doc)) + 1 == n
    total = lm.loglikelihood_rolling([_req("loglikelihood_rolling", doc)])[0]
    assert total == pytest.approx(-loss2 * math.log(2) * n, rel=2e-4)


def test_generate_until_uses_incremental_decoding(lm_data, checkpoints):
    lm = _adapter(checkpoints["iiet"], str(lm_data / "bin"))
    out = lm.generate_until([_req("generate_until", "And God said", {"until": ["\n"], "max_gen_toks": 6})])
    assert isinstance(out[0], str) and len(out[0].split()) <= 6
    # greedy: the first generated token is the argmax of the full forward
    ctx = lm.tok_encode("And God said")
    with torch.no_grad():
        logits = lm.model(torch.tensor([[lm.dictionary.eos()] + ctx]))[0][0, -1]
    first = lm.dictionary[int(logits.argmax())]
    assert out[0].split()[0] == first if out[0] else first == lm.dictionary.eos_word


@pytest.mark.parametrize("which", ["iiet", "vanilla", "eiiet"])
def test_local_tasks_end_to_end(lm_data, checkpoints, tmp_path, which):
    tasks = tmp_path / "tasks"
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "lmeval", "make_tasks.py"), "--text",
                    str(lm_data / "valid.txt"), "--out", str(tasks), "--docs", "4", "--cloze", "12"], check=True,
                   capture_output=True)
    out = run_cli("iiet-lm-eval", "--path", checkpoints[which], "--data", str(lm_data / "bin"), "--tasks",
                  "iiet_web_ppl,iiet_web_cloze", "--include-path", str(tasks), "--batch-size", "4",
                  "--output-path", str(tmp_path / "r.json"))
    assert "iiet_web_ppl" in out and "word_perplexity" in out and "acc" in out
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert results["iiet_web_ppl"]["word_perplexity,none"] > 1
    assert 0.0 <= results["iiet_web_cloze"]["acc,none"] <= 1.0
