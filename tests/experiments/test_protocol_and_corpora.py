"""The study protocol, the MT study's data selection (corpora; prepare_ende.py calls it) and
the pictures of the tables."""
import gzip
import os
import subprocess
import sys

import pytest

from conftest import ROOT, shared_data
from iiet_plugin.experiments import corpora as prepare
from iiet_plugin.experiments import plots as plot
from iiet_plugin.experiments import protocol


def test_rate_choice_and_sweep_cells():
    sweep = {0.001: 9.0, 0.01: 5.0, 0.02: 7.0}
    assert protocol.choose_rate(sweep, higher_is_better=False) == 0.01
    assert protocol.choose_rate(sweep, higher_is_better=True) == 0.001
    assert protocol.sweep_cell(sweep, 0.01) == "0.001: 9.0 / **0.01: 5.0** / 0.02: 7.0"
    table = protocol.sweep_table({"vanilla": sweep}, {"vanilla": 0.01}, 1, "valid ppl").splitlines()
    assert table[0] == "| model | seed-1 valid ppl per lr (chosen in bold) |"
    assert table[2] == "| vanilla | 0.001: 9.0 / **0.01: 5.0** / 0.02: 7.0 |"
    with pytest.raises(ValueError):
        protocol.choose_rate({}, True)


def test_plateau_gain_is_the_improvement_over_the_last_fifth():
    # ppl: best 100 before update 800, 99 after -> 1 % gain (not below the 1 % criterion)
    curve = [(200, 300.0), (400, 150.0), (600, 110.0), (800, 100.0), (900, 99.5), (1000, 99.0)]
    assert protocol.plateau_gain(curve, higher_is_better=False) == pytest.approx(0.01)
    flat = [(100, 50.0), (500, 80.0), (900, 80.2), (1000, 79.0)]  # top-1: 80 -> 80.2
    assert protocol.plateau_gain(flat, higher_is_better=True) == pytest.approx(0.0025)
    worse = [(100, 50.0), (1000, 60.0)]  # ppl rose in the tail: no gain
    assert protocol.plateau_gain(worse, higher_is_better=False) == 0.0
    assert protocol.plateau_gain([(1000, 5.0)], False) != protocol.plateau_gain([(1000, 5.0)], False)  # NaN


def test_table_cells():
    assert protocol.mean_std([1.0, 2.0, 3.0]) == "2.0 ± 1.0" and protocol.mean_std([7.2], 2) == "7.20 ± 0.00"
    assert protocol.plan_evaluations("2,1,0") == 6
    assert [protocol.count_text(x) for x in (6.666667, 12, 10.0, 2.5)] == ["6.67", "12", "10", "2.5"]


def test_spread_pick_samples_evenly():
    pairs = [(str(i), str(i)) for i in range(10)]
    assert prepare.pick(pairs, 3, "first") == pairs[:3]
    assert [p[0] for p in prepare.pick(pairs, 5, "spread")] == ["0", "2", "4", "6", "8"]
    assert prepare.pick(pairs, 20, "spread") == pairs and prepare.pick(pairs, None, "first") == pairs


def test_prepare_filters_by_length_and_spreads_over_the_corpus(tmp_path):
    raw = shared_data("mt", "en-de")
    with gzip.open(os.path.join(raw, "train.en.gz"), "rt", encoding="utf-8") as f:
        total = sum(1 for _ in f)
    out = tmp_path / "prep"
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mt", "prepare_ende.py"), raw, str(out),
                    "--vocab", "500", "--train-lines", "1500", "--train-pick", "spread", "--max-words", "12",
                    "--eval-lines", "40"], check=True, capture_output=True)
    for split, n in (("train", 1500), ("valid", 40), ("test", 40)):
        en = (out / f"{split}.en").read_text(encoding="utf-8").splitlines()
        de = (out / f"{split}.de").read_text(encoding="utf-8").splitlines()
        assert len(en) == len(de) == n
        assert max(len(line.split()) for line in en + de) <= 12
    # spread: the last training pair comes from the corpus' last tenth, not from its start
    with gzip.open(os.path.join(raw, "train.en.gz"), "rt", encoding="utf-8") as f:
        position = {line.rstrip("\n"): i for i, line in enumerate(f)}
    last = (out / "train.en").read_text(encoding="utf-8").splitlines()[-1]
    assert position[last] > 0.9 * total
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mt", "prepare_ende.py"), raw,
                          str(tmp_path / "bad"), "--max-words", "0"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--max-words must be >= 1" in bad.stderr


def test_plot_reads_the_committed_tables_and_draws(tmp_path):
    with open(os.path.join(ROOT, "bench", "results_study.md"), encoding="utf-8") as f:
        found = plot.tables(f.read())
    headings = [t[0] for t in found if "(mean ± std)" in " ".join(t[1])]
    assert [h.split(" study")[0] for h in headings] == ["LM", "Vision", "MT"]
    assert plot.mean_std("103.4 ± 1.7") == (103.4, 1.7) and plot.mean_std("4") == (4.0, 0.0)
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "plot.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("train_step.png", "study.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        plot.plot_study("no tables here", str(tmp_path / "x.png"))
