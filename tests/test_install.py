"""A non-editable install works from any folder: the wheel built from this checkout, installed into
a fresh venv (its dependencies are this environment's, linked in, so torch is not installed again),
runs ``spml-bench run`` in a folder outside the repository, writes the record under that folder's
``results/`` and builds the leaderboard there. One test: it builds and installs a wheel."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

from benchmark.core import provenance

REPO = Path(__file__).resolve().parent.parent
#: what the wheel is built from (a copy, so the build leaves nothing in the checkout)
SOURCES = ("pyproject.toml", "README.md", *provenance.CODE_PACKAGES)
#: imported modules whose folders hold the dependencies the installed package needs
DEPENDENCIES = (
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "pandas",
    "pydantic",
    "submitit",
    "sklearn",
    "scipy",
    "matplotlib",
    "tqdm",
    "PIL",
    "tabulate",
)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


def _build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    src = tmp / "src"
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)]
    try:  # offline where this environment can build it; else pip fetches setuptools into an isolated build env
        if tuple(int(x) for x in metadata.version("setuptools").split(".")[:1]) >= (77,):
            cmd.insert(4, "--no-build-isolation")
    except metadata.PackageNotFoundError:
        pass
    _run(cmd, tmp, env)
    (wheel,) = (tmp / "dist").glob("spml_bench-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A venv holding only the installed wheel; the dependencies' folders are appended to its path
    afterwards (a ``.pth`` line adds a folder without running that folder's own ``.pth`` files, so
    an editable install of this checkout there stays invisible)."""
    root = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], tmp, env)
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env).stdout.strip()
    )
    folders = {str(Path(importlib.import_module(m).__file__).resolve().parent.parent) for m in DEPENDENCIES}
    (site / "zz_dependencies.pth").write_text("\n".join(sorted(folders)) + "\n")
    return root


def test_an_installed_wheel_runs_a_sweep_and_builds_the_leaderboard_from_any_folder(
    tmp_path: Path, data_root: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(SPML_DATA=str(data_root), PYTHONHASHSEED="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    root = _fresh_venv(tmp_path, _build_wheel(tmp_path, env), env)
    spml = str(root / "bin" / "spml-bench")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = _run(
        [
            str(root / "bin" / "python"),
            "-c",
            "import benchmark, methods, leaderboard; print(benchmark.__file__, methods.__file__, leaderboard.__file__)",
        ],
        elsewhere,
        env,
    ).stdout.split()
    assert all(Path(p).resolve().is_relative_to(root.resolve()) for p in where), where  # the installed copy

    run = _run([spml, "run", "--methods", "an", "--seeds", "0", "--epochs", "1", "--batch-size", "256"], elsewhere, env)
    (record_path,) = (elsewhere / "results" / "digits").glob("an__1p__seed0__*.json")
    record = json.loads(record_path.read_text())
    assert record["status"] == "done", record.get("error")
    assert record_path.with_name(record_path.stem + ".epochs.csv").is_file()
    assert "full leaderboard: results/_leaderboard/README.md" in run.stdout
    # no checkout: no commit, but the code is identified by its content, the same as this checkout's
    assert record["provenance"]["git"] == {"commit": None, "dirty": None}
    assert record["provenance"]["code"]["sha256"] == provenance.code_identity()["sha256"], (
        "the wheel's sources differ from the checkout's: a module or subpackage is missing from the package"
    )

    board = _run([spml, "leaderboard"], elsewhere, env)
    page = elsewhere / "results" / "_leaderboard" / "README.md"
    assert page.is_file() and "| an " in page.read_text(), board.stderr
    status = _run(
        [spml, "status", "--methods", "an", "--seeds", "0", "--epochs", "1", "--batch-size", "256"], elsewhere, env
    )
    assert status.stdout.splitlines()[-1].split()[:3] == ["all", "1", "0"], status.stdout
    for command in ("data", "bench"):
        _run([spml, command, "--help"], elsewhere, env)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["results"]  # nothing else written here
