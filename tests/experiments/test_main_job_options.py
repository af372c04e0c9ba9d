"""The main job's options are checked before any work (no corpus built, no folder made)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("argv,message", [
    (["--warmup-updates", "0"], "--warmup-updates must be >= 1 (fairseq's inverse-sqrt divides by it), got 0"),
    (["--updates", "100", "--iie-start-update", "100"], "--iie-start-update must be in [0, --updates=100), got 100"),
])
def test_bad_main_job_options_fail_before_any_work(argv, message, tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "lm", "main_job.py"), *argv,
                           "--work", str(tmp_path / "w")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr
    assert not (tmp_path / "w").exists()
