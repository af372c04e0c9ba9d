"""Console tools (fairseq-train, iiet-vit-train, ...) run as subprocesses of a study."""
import os
import re
import subprocess
import sys
from typing import Optional

from ..ode.errors import ConfigError


_TOOL_THREADS: Optional[int] = None
DEVICES = ("cpu", "cuda")
_TOOL_DEVICE = "cpu"


def set_tool_threads(threads: Optional[int]) -> None:
    """CPU threads of every tool this process starts from now on (``OMP_NUM_THREADS``); None
    leaves the tools' own default.  A study with ``--jobs 2`` on 2 cores gives each of its two
    concurrent trainings one thread, so they do not oversubscribe the cores."""
    global _TOOL_THREADS
    _TOOL_THREADS = threads


def set_tool_device(device: str) -> None:
    """Where every tool this process starts from now on trains and evaluates: ``cpu`` (the
    default; CUDA is hidden from the tools, so a GPU on the machine changes nothing) or ``cuda``
    (fairseq-train and fairseq-eval-lm without ``--cpu``; iiet-vit-train uses the GPU it finds)."""
    global _TOOL_DEVICE
    if device not in DEVICES:
        raise ConfigError(f"device: {device!r} is not one of {', '.join(DEVICES)}")
    _TOOL_DEVICE = device


def fairseq_device_flags() -> list:
    """fairseq's device flag for the tools' device: ``--cpu``, or none on ``cuda``."""
    return ["--cpu"] if _TOOL_DEVICE == "cpu" else []


def device_name() -> str:
    """What the tools run on, for a run's record: ``cpu``, or ``cuda: <the GPU's name>``."""
    if _TOOL_DEVICE == "cpu":
        return "cpu"
    import torch
    return f"cuda: {torch.cuda.get_device_name()}"


class ToolFailed(RuntimeError):
    """A tool exited with an error; the message ends with the tail of its output."""


def tool_path(tool: str) -> str:
    """The console script ``tool`` installed next to this Python (the venv's bin folder)."""
    path = os.path.join(os.path.dirname(sys.executable), tool)
    if not os.path.exists(path):
        raise ConfigError(f"{tool}: not installed next to {sys.executable} (pip install -e . installs it)")
    return path


def run_tool(tool: str, *args, progress: Optional[str] = None, echo_command: bool = True,
             log_path: Optional[str] = None) -> str:
    """Run ``tool`` with ``args``; print the lines matching the regex ``progress`` as they come;
    with ``log_path``, also append each line to that file as it comes (an interrupted run's
    output survives for the run that continues it).

    Returns this call's whole output (stdout and stderr); raises ``ToolFailed`` with the last 40 lines."""
    cmd = [tool_path(tool), *map(str, args)]
    if echo_command:
        print("$", tool, " ".join(cmd[1:])[:200], flush=True)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if _TOOL_THREADS:
        env.update(OMP_NUM_THREADS=str(_TOOL_THREADS), MKL_NUM_THREADS=str(_TOOL_THREADS))
    if _TOOL_DEVICE == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    lines = []
    with open(log_path or os.devnull, "a", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in proc.stdout:
            lines.append(line)
            log.write(line)
            log.flush()
            if progress and re.search(progress, line):
                print("   ", line.rstrip()[:240], flush=True)
    if proc.wait() != 0:
        raise ToolFailed("".join(lines[-40:]) + f"\n{tool} failed (exit {proc.returncode})")
    return "".join(lines)


def user_dir() -> str:
    """The plugin's folder, as fairseq's ``--user-dir`` wants it."""
    import iiet_plugin
    return os.path.dirname(iiet_plugin.__file__)
