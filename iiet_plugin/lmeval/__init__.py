"""lm-evaluation-harness integration (optional extra ``[lmeval]``): the ``fairseq_iiet``
model adapter and the ``iiet-lm-eval`` console entry."""
