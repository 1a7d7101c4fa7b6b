"""The documentation works as written.

Every line of a ``bash`` block in README.md, CONTRIBUTING.md, PROTOCOL.md and docs/*.md is a
command, and each one is either executed (in a temporary copy of the repository, so nothing in the
repository changes) or, where it ends with a ``# needs: ...`` comment (data, gpu, cluster, network,
time, ci), checked without its cost: with ``--dry-run`` where its command offers one, otherwise by
its ``--help`` naming every option the line uses (``bash -n`` for shell scripts). ``pip install``
lines are resolved offline against what is installed. The convention is written down in
CONTRIBUTING.md. Besides: the README's length, no talk of a development machine, the protocol's
sections and methods, and a strict MkDocs build.

For speed (every process of ours imports torch): the pages share one copy of the repository (a page
that saves an example file gets its own), a command already run in the same copy with the same
environment is not run again (its verdict stands), and our own entry points' ``--help`` and
``--dry-run`` run in this process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import benchmark.cli
import methods
from tests.method_contract import run_all_checks

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "PROTOCOL.md", *(ROOT / "docs").glob("*.md")])
BIN = Path(sys.executable).parent
NEEDS = {"data", "gpu", "cluster", "network", "time", "ci"}
#: left out of a page's working copy: environments, data and build output at the top, caches anywhere
TOP_LEVEL_NOT_COPIED = {".git", ".venv", "venv", "data", "build", "site"}
CACHES = shutil.ignore_patterns(
    "__pycache__",
    "*.egg-info",
    ".*_cache",
    ".benchmarks",
    "_scratch",
    "_logs",
    "_checkpoints",
    "_leaderboard",
    "_corrupt",
)


def not_copied(folder: str, names: list[str]) -> set[str]:
    top = {n for n in names if n in TOP_LEVEL_NOT_COPIED} if Path(folder) == ROOT else set()
    return top | set(CACHES(folder, names))


TIMEOUT = 900


@dataclass(frozen=True)
class Command:
    page: Path
    line: int
    text: str  # the line as shown, comments included
    argv: tuple[str, ...]  # one command of the line (a line may chain several with &&)
    env: tuple[tuple[str, str], ...]
    needs: frozenset[str]

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}:{' '.join(self.argv)[:60]}"


def bash_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, command line) of every ``bash`` block, continuation lines joined."""
    out: list[tuple[int, str]] = []
    inside, pending, start = False, "", 0
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if line.strip().startswith("```"):
            inside = line.strip() == "```bash"
            continue
        if not inside or (not pending and not line.strip()):
            continue
        pending, start = (pending + " " + line.strip() if pending else line.strip()), start if pending else number
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        out.append((start, pending))
        pending = ""
    return out


def commands(page: Path) -> list[Command]:
    found = []
    for number, line in bash_lines(page):
        marker = re.search(r"#.*\bneeds:\s*([\w ,]+?)\s*$", line)
        needs = frozenset(n.strip() for n in marker.group(1).split(",")) if marker else frozenset()
        assert needs <= NEEDS, f"{page.name}:{number}: unknown needs {sorted(needs - NEEDS)} (valid: {sorted(NEEDS)})"
        tokens = shlex.split(line, comments=True)
        parts: list[list[str]] = [[]]
        for token in tokens:
            if token == "&&":
                parts.append([])
            else:
                parts[-1].append(token)
        for part in filter(None, parts):
            env = []
            while re.match(r"^[A-Z_][A-Z0-9_]*=", part[0]):
                name, _, value = part.pop(0).partition("=")
                env.append((name, value))
            found.append(Command(page, number, line, tuple(part), tuple(env), needs))
    return found


ALL = [c for page in PAGES for c in commands(page)]


def resolve(argv: tuple[str, ...]) -> list[str]:
    """The program of a documented command in this environment."""
    head, rest = argv[0], list(argv[1:])
    if head == "python":
        return [sys.executable, *rest]
    if head in ("pytest", "pip", "mkdocs"):
        return [sys.executable, "-m", head, *rest]
    if head == "bash":
        return ["bash", *rest]
    program = BIN / head
    return [str(program) if program.exists() else head, *rest]


def saved_examples(page: Path) -> dict[str, str]:
    """Files a page tells the reader to create: a line starting "Save this as `path`" above a Python block."""
    text = page.read_text()
    out = {}
    for match in re.finditer(r"^Save this as `([^`]+)`", text, re.M):
        block = re.search(r"```python\n(.*?)```", text[match.end() :], re.S)
        assert block, f"{page.name}: no python block after 'Save this as `{match.group(1)}`'"
        out[match.group(1)] = block.group(1)
    return out


#: every file a page saves into its copy of the repository
EXAMPLES = {name for page in PAGES for name in saved_examples(page)}


@pytest.fixture(scope="module")
def workdirs() -> dict[tuple[tuple[str, str], ...], Path]:
    """The module's copies of the repository, by the example files saved into them (most pages: none)."""
    return {}


@pytest.fixture(scope="module")
def verdicts() -> dict[tuple[object, ...], str]:
    """Each command checked so far in a copy, with its environment and how: "" passed, else why not."""
    return {}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs_data")


def workdir(page: Path, copies: dict[tuple[tuple[str, str], ...], Path], base: Path) -> Path:
    examples = tuple(sorted(saved_examples(page).items()))
    if examples not in copies:
        copy = base / f"repo_{len(copies)}"
        shutil.copytree(ROOT, copy, ignore=not_copied)
        for name, source in examples:
            (copy / name).write_text(source)
        copies[examples] = copy
    return copies[examples]


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
    )


def check_pip(command: Command, cwd: Path, env: dict[str, str]) -> None:
    """Offline: the named requirements resolve against what is installed, and every extra exists."""
    args = list(command.argv[2:])
    assert command.argv[1] == "install", command.text
    extras_known = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for arg in args:
        if arg.startswith("."):
            extras = re.findall(r"\[([^\]]*)\]", arg)
            named = {e.strip() for e in extras[0].split(",")} if extras else set()
            assert named <= extras_known, f"{command.id}: no such extra {sorted(named - extras_known)}"
    local = any(a.startswith(".") for a in args)
    if local and importlib.util.find_spec("setuptools") is None:
        args = [a for a in args if not a.startswith(".") and a != "-e"]  # no offline build backend here
        assert importlib.metadata.version("spml-bench")
    if not [a for a in args if not a.startswith("-")]:
        return
    done = run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps", "--no-build-isolation", *args],
        cwd,
        env,
    )
    assert done.returncode == 0, f"{command.id}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert "does not provide the extra" not in done.stdout + done.stderr, done.stderr


def ours(argv: tuple[str, ...]) -> bool:
    """Whether ``argv`` starts one of this project's entry points (run in-process by ``call``)."""
    return (
        argv[0] == "spml-bench"
        or argv[:2] == ("python", "run_all.py")
        or (argv[:2] == ("python", "-m") and argv[2].split(".")[0] in ("benchmark", "leaderboard"))
    )


def call(argv: tuple[str, ...], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``argv`` run as ``run`` would, but in this process when it is one of our entry points (they
    all import torch: seconds a process) and ``cwd`` is a plain copy of the repository (a saved
    example, such as a new method, exists only there); the environment and the folder are restored."""
    if not ours(argv) or any((cwd / name).exists() for name in EXAMPLES):
        return run(resolve(argv), cwd, env)
    out, err, saved, here = io.StringIO(), io.StringIO(), dict(os.environ), os.getcwd()
    saved_argv, code = sys.argv, 0
    try:
        os.environ.update(env)
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if argv[0] == "spml-bench":
                code = benchmark.cli.main(list(argv[1:]))
            else:
                sys.argv = [argv[1] if argv[1] != "-m" else argv[2], *argv[2 if argv[1] != "-m" else 3 :]]
                if argv[1] == "-m":
                    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(str(cwd / argv[1]), run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved_argv
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(list(argv), int(code or 0), out.getvalue(), err.getvalue())


def check_without_running(command: Command, cwd: Path, env: dict[str, str]) -> None:
    if command.argv[0] == "bash":
        script = cwd / command.argv[1]
        assert script.is_file(), f"{command.id}: no script {command.argv[1]}"
        done = run(["bash", "-n", str(script)], cwd, env)
        assert done.returncode == 0, done.stderr
        return
    helped = call((*command.argv, "--help"), cwd, env)
    assert helped.returncode == 0, f"{command.id}: --help exit {helped.returncode}\n{helped.stderr[-2000:]}"
    if "--dry-run" in helped.stdout and "--dry-run" not in command.argv:
        done = call((*command.argv, "--dry-run"), cwd, env)
        assert done.returncode == 0, f"{command.id} --dry-run: exit {done.returncode}\n{done.stderr[-3000:]}"
        return
    options = {a.split("=")[0] for a in command.argv if a.startswith("--")}
    missing = sorted(o for o in options if o not in helped.stdout)
    assert not missing, f"{command.id}: --help does not list {missing}"


def execute(command: Command, cwd: Path, env: dict[str, str]) -> None:
    if command.argv[0] == "mkdocs" and importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    argv = resolve(command.argv)
    if command.argv == ("pytest",):
        argv.append("--collect-only")  # the whole suite, from inside the suite: collected, not run again
    done = run(argv, cwd, env)
    assert done.returncode == 0, f"{command.id}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def _param(command: Command) -> object:
    executed = not command.needs and command.argv[0] != "pip"
    return pytest.param(command, id=command.id, marks=[pytest.mark.slow] if executed else [])


@pytest.mark.parametrize("command", [_param(c) for c in ALL])
def test_documented_command(
    command: Command,
    workdirs: dict[tuple[tuple[str, str], ...], Path],
    verdicts: dict[tuple[object, ...], str],
    data_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    cwd = workdir(command.page, workdirs, tmp_path_factory.getbasetemp())
    env = {**os.environ, "SPML_DATA": str(data_root), **dict(command.env)}
    check = check_pip if command.argv[0] == "pip" else check_without_running if command.needs else execute
    key = (cwd, command.argv, command.env, check.__name__)
    if key not in verdicts:  # the same command, environment and copy: checked once
        try:
            check(command, cwd, env)
            verdicts[key] = ""
        except AssertionError as exc:
            verdicts[key] = str(exc)
    assert not verdicts[key], verdicts[key]


# -- the pages themselves ----------------------------------------------------------------------------
def test_the_pages_have_commands_and_the_convention_is_documented() -> None:
    assert len(ALL) >= 30, len(ALL)
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    assert "# needs:" in contributing and "tests/test_docs.py" in contributing
    assert any(not c.needs and c.argv[:2] == ("spml-bench", "run") for c in ALL), "no sweep is executed"


def test_the_readme_is_short_and_keeps_the_quick_start() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "pip install -e . && spml-bench run\n" in readme
    assert 'pip install -e ".[test]" && pytest\n' in readme
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme  # CPU and CUDA side by side


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    nav = re.findall(r"^\s+- [^:]+: (\S+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert sorted(nav) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_speaks_of_a_development_machine(page: Path) -> None:
    text = page.read_text()
    for phrase in (r"this machine", r"reached from here", r"\bissues? #?\d+\b", r"our (dev|development) (box|machine)"):
        assert not re.search(phrase, text, re.I), f"{page.name}: {re.search(phrase, text, re.I).group(0)!r}"


def test_the_protocol_has_its_sections_and_every_registered_method() -> None:
    text = (ROOT / "PROTOCOL.md").read_text()
    headings = set(re.findall(r"^#+ (.+)$", text, re.M))
    for section in (
        "Datasets and splits",
        "The embedded digit set",
        "Label regimes",
        "The observed-label draw",
        "Training and evaluation",
        "Model selection and early stopping",
        "Methods",
        "Statistics on the leaderboard page",
    ):
        assert section in headings, section
    missing = [key for key in methods.available() if f"`{key}`" not in text]
    assert not missing, f"PROTOCOL.md has no row for {missing}"
    assert (ROOT / "docs" / "protocol.md").read_text().strip() == '--8<-- "PROTOCOL.md"'  # one source of truth


def test_mkdocs_builds_strictly(tmp_path: Path) -> None:
    for module in ("mkdocs", "mkdocstrings", "pymdownx"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "protocol" / "index.html").read_text().count("observe_uniform") >= 1


def test_the_readme_example_method_passes_the_contract() -> None:
    source = re.search(r"## Adding a method\n.*?```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert source, "no python block under the README's 'Adding a method'"
    namespace: dict[str, object] = {}
    exec(compile(source.group(1), "README.md", "exec"), namespace)  # exec: the README's own example
    run_all_checks(namespace["WeakNegatives"])  # type: ignore[arg-type]
