"""Saves that a kill cannot half-do: write a temporary sibling, fsync it, rename it over
the target (``os.replace`` is atomic on POSIX and Windows), fsync the directory.

At every moment the target is either the complete previous file or the complete new one.
A kill leaves at most a stale ``<target>.tmp``, which the next save overwrites.
"""
import os
import shutil
from typing import Callable, IO

import torch


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:  # e.g. platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> str:
    """Call ``write(f)`` on a temporary sibling of ``path``, then move it into place."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(path)
    return path


def atomic_torch_save(obj, path: str) -> str:
    """``torch.save(obj, path)``, atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_copy(src: str, dst: str) -> str:
    """Copy ``src`` to ``dst``, atomically (``dst`` keeps its old content until the end)."""
    def write(f):
        with open(src, "rb") as source:
            shutil.copyfileobj(source, f, length=16 * 1024 * 1024)
    return atomic_write(dst, write)
