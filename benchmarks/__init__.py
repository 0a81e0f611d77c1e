"""flowkit's benchmarks against the field (issue 6); run ``python -m benchmarks --help``.

One module per comparison: ``train_step`` (A), ``sampling`` (B), ``coupling``
(C), ``likelihood`` (D), ``paper`` (E) and ``gpu`` (F), with the interleaved
timing harness, the shared network and the data sets in ``common``. Each
module has ``run(cfg) -> Section``; ``__main__`` runs them, prints the tables
and writes JSON, markdown and plots to ``benchmarks/results/``.
"""
