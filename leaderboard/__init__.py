"""The leaderboard: tables built from run records alone (pandas + tabulate). Never imports the
training code or torch."""
