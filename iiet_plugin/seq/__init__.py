"""fairseq adapters: models (``iiet_lm``), layers and checkpoint-loading safety."""
from .safe_globals import allow_fairseq_checkpoint_globals

allow_fairseq_checkpoint_globals()

from . import lm  # noqa: E402,F401  (registers iiet_lm and its presets)
