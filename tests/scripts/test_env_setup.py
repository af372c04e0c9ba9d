"""scripts/env.sh: a disk too small for the venv is refused before anything is installed."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_too_little_disk_is_refused_before_any_install(tmp_path):
    venv = tmp_path / "venv"
    env = dict(os.environ, IIET_VENV=str(venv), IIET_VENV_MIN_FREE_GB="1000000000")
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "main.sh")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert "IIET_VENV_MIN_FREE_GB" in done.stderr and str(venv) in done.stderr
    assert "installing" not in done.stderr
    # nothing was installed: the fresh venv has no torch and no stamp
    assert not (venv / ".iiet-installed").exists()
    assert not list(venv.glob("lib/python*/site-packages/torch"))
