"""Speed measurements: ours against a faithful reference-style loop (``python -m benchmark.bench``)
and the fp32-vs-bf16 leaderboard check (``python -m benchmark.bench.amp_check``)."""
