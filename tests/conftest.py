import os

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _checkpoint_allow_list():
    """The allow-list as importing the plugin leaves it: timm's checkpoint loader (used by a
    pretrained=True test) removes argparse.Namespace from it on exit, in the whole process."""
    from iiet_plugin.seq.safe_globals import allow_fairseq_checkpoint_globals
    allow_fairseq_checkpoint_globals()
    yield


def shared_data(*parts):
    """Path under the data root ($IIET_DATA, iiet_plugin.experiments.data).  Without it the
    test is skipped with the reason, except under CI (CI=true), where it fails: a CI run
    must not pass by skipping its real-data tests."""
    from iiet_plugin.experiments.data import DATA_ENV
    root = os.environ.get(DATA_ENV, "")
    path = os.path.join(root, *parts)
    if not root or not os.path.exists(path):
        reason = f"real-data slice not available: set {DATA_ENV} to the data root (now {root or 'unset'}; " \
                 f"needs {os.path.join(*parts)})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def lm_data(tmp_path_factory):
    """A binarized slice of the WEB Bible (1500/100/100 verses) for the LM flows."""
    from fairseq_helpers import run_cli, write_slice
    src = shared_data("lm", "bible_web")
    work = tmp_path_factory.mktemp("lm")
    for split, n in (("train", 1500), ("valid", 100), ("test", 100)):
        write_slice(os.path.join(src, f"{split}.txt.gz"), work / f"{split}.txt", n)
    run_cli("fairseq-preprocess", "--only-source", "--trainpref", str(work / "train.txt"),
            "--validpref", str(work / "valid.txt"), "--testpref", str(work / "test.txt"),
            "--destdir", str(work / "bin"), "--workers", "1", "--nwordssrc", "1500")
    return work


@pytest.fixture(scope="session")
def mt_data(tmp_path_factory):
    """English->German slice (2000 train / 60 valid / 60 test pairs), sentencepiece, binarized."""
    import subprocess
    import sys
    raw = shared_data("mt", "en-de")
    out = tmp_path_factory.mktemp("mt")
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mt", "prepare_ende.py"), raw, str(out),
                    "--vocab", "1000", "--train-lines", "2000", "--eval-lines", "60"],
                   check=True, capture_output=True)
    return out
