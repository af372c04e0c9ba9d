"""Loading and saving fairseq checkpoints safely.

* ``load_checkpoint``: the loader of the plugin's tools (``iiet-lm-eval``,
  ``iiet-influence``, the IIAD teacher).  Weights-only unpickling (no code from pickle),
  then the stored configs' evaluated fields parsed as data (``config_values``) before any
  model, the plugin's or fairseq's, is built.  The plugin's own models also check their
  config in ``build_model``, so fairseq's loaders (``fairseq-eval-lm``, ``-generate``,
  ``-interactive``) are covered for them.
* ``dictionary_fingerprint``: SHA-256 of a dictionary's symbols, in order, stored by every
  ODE encoder/decoder as a buffer so that a checkpoint refuses a different dictionary.
* ``install_atomic_checkpoint_copy``: fairseq 0.12 writes ``checkpoint_E_U.pt`` atomically
  but then *copies* it to ``checkpoint_last.pt``/``checkpoint_best.pt`` in place; a kill
  during that copy leaves a truncated ``checkpoint_last.pt`` and the rerun of the same
  command crashes.  Importing the plugin makes fairseq's ``PathManager.copy`` of local files
  atomic (temporary sibling, fsync, rename): the previous file survives any kill.
"""
import hashlib
import logging
import os

import torch

from ..atomic_io import atomic_copy
from ..load_errors import checkpoint_load_errors
from ..ode.errors import ConfigError
from .config_values import check_checkpoint_config
from .safe_globals import allow_fairseq_checkpoint_globals

logger = logging.getLogger(__name__)


def dictionary_fingerprint(dictionary) -> torch.Tensor:
    """32 bytes (uint8) of SHA-256 over the dictionary's symbols joined by newlines."""
    digest = hashlib.sha256("\n".join(dictionary.symbols).encode("utf-8")).digest()
    return torch.tensor(list(digest), dtype=torch.uint8)


def fingerprint_hex(tensor: torch.Tensor) -> str:
    return bytes(tensor.tolist()).hex()[:12]


def read_checkpoint_state(path: str, arg_overrides=None) -> dict:
    """fairseq's ``load_checkpoint_to_cpu`` (weights-only) with the configs checked as data."""
    from fairseq import checkpoint_utils
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint {path} does not exist")
    # again: timm's checkpoint loader wraps torch.load in safe_globals([argparse.Namespace]),
    # whose exit removes Namespace from the process-wide allow-list (also ours)
    allow_fairseq_checkpoint_globals()
    with checkpoint_load_errors(f"checkpoint {path}"):
        state = checkpoint_utils.load_checkpoint_to_cpu(path, arg_overrides)
    if not isinstance(state, dict) or not ("cfg" in state or "args" in state):
        raise ConfigError(f"checkpoint {path} is not a fairseq checkpoint (no 'cfg' or 'args')")
    check_checkpoint_config(state, path)
    return state


def load_checkpoint(path: str, arg_overrides=None, task=None):
    """``(models, cfg, task)`` like fairseq's ``load_model_ensemble_and_task``, safely."""
    from fairseq import checkpoint_utils
    state = read_checkpoint_state(path, arg_overrides)
    return checkpoint_utils.load_model_ensemble_and_task([path], arg_overrides=arg_overrides, task=task, state=state)


def install_atomic_checkpoint_copy() -> None:
    """Make fairseq's ``PathManager.copy`` atomic for local paths (idempotent)."""
    from fairseq.file_io import PathManager
    original = PathManager.copy
    if getattr(original, "iiet_atomic", False):
        return

    def copy(src_path: str, dst_path: str, overwrite: bool = False):
        if "://" in str(src_path) or "://" in str(dst_path):
            return original(src_path, dst_path, overwrite)
        return atomic_copy(src_path, dst_path)

    copy.iiet_atomic = True
    PathManager.copy = staticmethod(copy)
