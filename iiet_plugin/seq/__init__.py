"""fairseq adapters: models (``iiet_lm``), layers and checkpoint-loading safety."""
from .safe_globals import allow_fairseq_checkpoint_globals

allow_fairseq_checkpoint_globals()

from . import lm, mt  # noqa: E402,F401  (register iiet_lm, iiet_transformer and their presets)
