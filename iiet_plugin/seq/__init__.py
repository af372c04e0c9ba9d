"""fairseq adapters: models (``iiet_lm``), layers and checkpoint-loading safety."""
from .safe_globals import allow_fairseq_checkpoint_globals

allow_fairseq_checkpoint_globals()

from . import iiad_criterion, iiad_task, lm, mt  # noqa: E402,F401  (register models, IIAD task and criterion)
