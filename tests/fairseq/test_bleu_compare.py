"""Paired bootstrap of fairseq-generate outputs (iiet_plugin.seq.bleu.paired_bootstrap and
examples/mt/score.py --compare) on real German references with systems of known quality."""
import gzip
import json
import os
import subprocess
import sys

import pytest

from conftest import shared_data
from iiet_plugin.ode.errors import ConfigError
from iiet_plugin.seq.bleu import paired_bootstrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_generation(path, lines, skip=()):
    """fairseq-generate's detokenized hypothesis lines (``D-<id>\\tscore\\ttext``), out of order."""
    with open(path, "w", encoding="utf-8") as f:
        for i in reversed(range(len(lines))):
            if i not in skip:
                f.write(f"D-{i}\t-0.5\t{lines[i]}\n")
    return str(path)


@pytest.fixture
def references(tmp_path):
    with gzip.open(os.path.join(shared_data("mt", "en-de"), "test.de.gz"), "rt", encoding="utf-8") as f:
        refs = [line.rstrip("\n") for line in f][:200]
    path = tmp_path / "test.de"
    path.write_text("\n".join(refs) + "\n", encoding="utf-8")
    return refs, str(path)


def test_a_clearly_worse_system_is_significant_and_an_equally_good_one_is_not(references, tmp_path):
    refs, ref_path = references
    truncated = [" ".join(r.split()[: max(1, len(r.split()) // 2)]) for r in refs]  # half of every sentence
    # two systems of the same quality, right on other sentences: each the reference on half of them
    even = [r if i % 2 == 0 else t for i, (r, t) in enumerate(zip(refs, truncated))]
    odd = [t if i % 2 == 0 else r for i, (r, t) in enumerate(zip(refs, truncated))]
    base = write_generation(tmp_path / "base.txt", even, skip={3})
    worse = write_generation(tmp_path / "worse.txt", truncated, skip={7, 11})
    other = write_generation(tmp_path / "other.txt", odd)
    rows = paired_bootstrap([base, worse, other], ref_path, samples=200)
    assert [r["name"] for r in rows] == [base, worse, other]
    assert {r["sentences"] for r in rows} == {197}  # the sentences every output has
    assert rows[0]["p"] is None and rows[1]["bleu"] < rows[0]["bleu"] - 15
    assert rows[1]["p"] < 0.01  # the smallest p 200 resamples give: 1/201
    assert abs(rows[2]["bleu"] - rows[0]["bleu"]) < 5 and rows[2]["p"] > 0.05
    assert all(r["ci"] > 0 for r in rows)


def test_the_score_script_compares_and_refuses_bad_input(references, tmp_path):
    refs, ref_path = references
    base = write_generation(tmp_path / "base.txt", refs)
    worse = write_generation(tmp_path / "worse.txt", [r.split()[0] for r in refs])
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mt", "score.py"), base, "--ref", ref_path,
                          "--compare", worse, "--samples", "200", "--json", str(tmp_path / "s.json")],
                         capture_output=True, text=True, check=True).stdout
    assert "paired bootstrap, 200 resamples, 200 sentences:" in out and f"{worse}: BLEU " in out
    assert "p = 0.00" in out and f"{base}: BLEU 100.00" in out
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["samples"] == 200 and saved["paired_bootstrap"][1]["p"] < 0.01
    with pytest.raises(ConfigError, match="at least one system to compare"):
        paired_bootstrap([base], ref_path)
    with pytest.raises(ConfigError, match="has 200 lines"):
        paired_bootstrap([base, write_generation(tmp_path / "long.txt", refs + ["zu viel"])], ref_path)
    with pytest.raises(ConfigError, match="--samples must be >= 100"):
        paired_bootstrap([base, worse], ref_path, samples=10)
