"""The leaderboard: tables built from run records alone (pandas + tabulate + scipy). Never imports
the training code or torch.

- ``python -m leaderboard`` (``__main__``): the page, the tables in other formats, ``--power``;
- ``leaderboard.build.write_leaderboard`` / ``export`` / ``power_text``: the same from Python, raising
  only ``leaderboard.errors.LeaderboardError`` (one line);
- ``leaderboard.summary.sweep_summary``: the end-of-sweep summary of the cells a sweep touched;
- ``leaderboard.records.runs_frame``: every run as one row of a DataFrame, for a notebook.
"""
