"""Running the real command lines as a user does, for the negative-case tests: a subprocess with
this checkout first on ``PYTHONPATH``, its exit status and both streams, and the checks every
user error must pass (exit 2, one line on stderr, no traceback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: the entry points, as a user types them (``spml-bench`` through its module, so no install is needed)
COMMANDS: dict[str, list[str]] = {
    "run_all": [sys.executable, str(REPO / "run_all.py")],
    "spml-bench": [sys.executable, "-m", "benchmark.cli"],
    "leaderboard": [sys.executable, "-m", "leaderboard"],
    "data": [sys.executable, "-m", "benchmark.data"],
    "bench": [sys.executable, "-m", "benchmark.bench"],
}


def default_sigint() -> None:
    """``preexec_fn`` of a child that a test interrupts: SIGINT back to its default, so that Python
    installs its KeyboardInterrupt handler even where pytest itself was started with SIGINT ignored
    (``nohup ... &`` from a script: background jobs inherit an ignored SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(
    command: str,
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``command`` (a key of ``COMMANDS``) with ``args``; ``env`` is added to this process's."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0", **(env or {})}
    return subprocess.run(
        [*COMMANDS[command], *args], cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A user's mistake: exit status 2, no traceback, one line on stderr naming every ``needle``."""
    err = proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}, expected 2\nstdout:\n{proc.stdout}\nstderr:\n{err}"
    assert "Traceback" not in err and "Traceback" not in proc.stdout, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
