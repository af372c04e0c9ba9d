"""The IWSLT'14 recipe offline: a mini corpus in the release's layout (train.tags with metadata
lines, IWSLT14.TED*.xml with <seg> lines, inside de-en.tgz) built from real en-de pairs, then
prepare-iwslt14.sh -> run_solver.sh (train a few updates, translate de->en, score against the
English references)."""
import gzip
import os
import subprocess
import sys
import tarfile

from conftest import ROOT, shared_data

MT = os.path.join(ROOT, "examples", "mt")
METADATA = ["<url>http://www.ted.com/talks/x.html</url>", "<talkid>1</talkid>", "<keywords>talks</keywords>",
            "<speaker>Someone</speaker>", "<title>A talk</title>", "<description>TED talk</description>"]


def _pairs(raw, split, n):
    out = {}
    for lang in ("de", "en"):
        with gzip.open(os.path.join(raw, f"{split}.{lang}.gz"), "rt", encoding="utf-8") as f:
            out[lang] = [line.strip() for _, line in zip(range(n), f)]
    return out


def _release(tmp_path):
    raw = shared_data("mt", "en-de")
    train, test = _pairs(raw, "train", 460), _pairs(raw, "test", 20)
    folder = tmp_path / "release" / "de-en"
    folder.mkdir(parents=True)
    for lang in ("de", "en"):
        lines = METADATA + ["  " + t + "  " for t in train[lang]]
        (folder / f"train.tags.de-en.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for name, part in (("TED.dev2010", test[lang][:10]), ("TED.tst2010", test[lang][10:])):
            segs = "\n".join(f'<seg id="{i + 1}"> {t} </seg>' for i, t in enumerate(part))
            (folder / f"IWSLT14.{name}.de-en.{lang}.xml").write_text(
                f'<mteval>\n<doc docid="1">\n{segs}\n</doc>\n</mteval>\n', encoding="utf-8")
    out = tmp_path / "iwslt14"
    out.mkdir()
    with tarfile.open(out / "de-en.tgz", "w:gz") as tar:
        tar.add(folder, arcname="de-en")
    return out, test


def test_iwslt_recipe_prepares_trains_and_scores_de_en(tmp_path):
    out, test = _release(tmp_path)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
               PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", SAVE_DIR=str(tmp_path / "ckpt"))
    prep = subprocess.run(["bash", os.path.join(MT, "prepare-iwslt14.sh"), str(out), "250"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=600)
    assert prep.returncode == 0, prep.stdout[-2000:] + prep.stderr[-3000:]
    assert f"run_solver.sh iie {out}/prep" in prep.stdout
    train_de = (out / "train.de").read_text(encoding="utf-8").splitlines()
    assert not any(line.startswith("<") for line in train_de) and train_de[0] == train_de[0].strip()
    assert (out / "prep" / "test.en").read_text(encoding="utf-8").splitlines() == test["en"]
    assert (out / "prep" / "test.de").read_text(encoding="utf-8").splitlines() == test["de"]
    assert os.path.exists(out / "prep" / "bin" / "train.de-en.de.bin")

    run = subprocess.run(["bash", os.path.join(MT, "run_solver.sh"), "iie", str(out / "prep"), "iiet_transformer_tiny",
                          "--max-update", "4", "--warmup-updates", "1", "--max-tokens", "1024"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert f"de->en, reference {out}/prep/test.en" in run.stdout
    assert "BLEU" in run.stdout and "nrefs:1" in run.stdout, run.stdout[-2000:]
    gen = (tmp_path / "ckpt" / "gen.test.txt").read_text(encoding="utf-8")
    sources = [line.split("\t", 1)[1] for line in gen.splitlines() if line.startswith("S-")]
    # German in (the tiny model's 1024 positions skip the longest sentences), English references
    # (sentencepiece's round trip maps unseen characters to <unk>, so compare most, not all)
    german = sum(src in set(test["de"]) for src in sources)
    assert len(sources) >= 10 and german >= len(sources) // 2, sources
    assert not set(sources) & set(test["en"])
