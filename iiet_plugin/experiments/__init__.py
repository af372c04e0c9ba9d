"""The machinery of the project's studies and benchmarks (not needed to use the models).

- ``data``: where real corpora are found (one setting, ``--data`` or ``$IIET_DATA``);
- ``runner``: console tools as subprocesses, with progress lines;
- ``corpora``: slices of the LM corpus and the en-de pairs, binarized for fairseq;
- ``models``: the compared models as core options, their host flags and evaluation counts;
- ``builders``: tiny and bench-sized models built in-process (tests and bench);
- ``timing``: medians of repeats, round-robin timing, FLOPs, matmul peaks, the machine;
- ``protocol``: learning-rate grid on the first seed, then the other seeds; the plateau
  criterion; table cells;
- ``diagnostics``: fixed-point residuals, loss by stopping iteration and gradient norms over a
  run's kept checkpoints (the core's ``ode.diagnostics`` through ``seq.diagnostics``);
- ``tasks`` and ``study``: the one study driver (``iiet-study lm|mt|vision``).
"""
