"""fairseq adapters: models (``iiet_lm``), layers and checkpoint-loading safety."""
from .checkpoints import install_atomic_checkpoint_copy
from .safe_globals import allow_fairseq_checkpoint_globals

allow_fairseq_checkpoint_globals()
install_atomic_checkpoint_copy()  # checkpoint_last.pt / checkpoint_best.pt survive a kill during fairseq's copy

from . import iiad_criterion, iiad_task, lm, mt  # noqa: E402,F401  (register models, IIAD task and criterion)
