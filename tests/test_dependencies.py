"""The project's dependencies take lower bounds only: a researcher with a newer torch (or anything
else) installs without a downgrade. Environment markers (``; python_version == '3.10'``) choose
where a dependency applies; they cap no version."""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_every_dependency_has_a_lower_bound_and_no_cap() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    assert requirements
    for text in requirements:
        req = Requirement(text)
        operators = {spec.operator for spec in req.specifier}
        assert operators == {">="}, f"{text!r}: expected one lower bound (>=) and no cap, got {sorted(operators)}"
