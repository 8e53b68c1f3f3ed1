"""The declared dependency range, the minimum set and the lock agree with each other.

``constraints/minimum.txt`` pins every direct dependency at the floor ``pyproject.toml``
declares (CI installs it on the lowest supported Python); ``constraints/lock.txt`` pins the
exact versions the test command installs, and each must lie inside the declared range.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def declared() -> dict[str, Requirement]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in project["optional-dependencies"]["test"]]
    return {canonicalize_name(r.name): r for r in reqs}


def pins(name: str) -> dict[str, Version]:
    found = {}
    for line in (ROOT / "constraints" / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{name}: {line} is not an exact pin"
            found[canonicalize_name(req.name)] = Version(spec.version)
    return found


def floor(req: Requirement) -> Version | None:
    lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
    return max(lows) if lows else None


def test_minimum_set_pins_every_declared_floor() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        runtime = [Requirement(r) for r in tomllib.load(f)["project"]["dependencies"]]
    minimum = pins("minimum.txt")
    expected = {canonicalize_name(r.name): floor(r) for r in runtime}
    assert None not in expected.values(), "every direct dependency declares a floor"
    assert {name: minimum.get(name) for name in expected} == expected
    extra = set(minimum) - set(expected)
    assert extra <= set(declared()), f"minimum.txt pins undeclared packages: {extra}"


def test_lock_satisfies_every_declared_range() -> None:
    lock = pins("lock.txt")
    for name, req in declared().items():
        assert name in lock, f"{name} is declared but not in constraints/lock.txt"
        assert req.specifier.contains(lock[name], prereleases=True), (
            f"constraints/lock.txt pins {name}=={lock[name]}, outside {req}"
        )
