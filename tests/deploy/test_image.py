"""The image and the configuration reference, checked without a container engine: the
Dockerfile's shape, the dependency lock against pyproject.toml, and docs/configuration.md
against the settings the code reads."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.helpers import documented_settings

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def test_the_image_is_slim_non_root_and_installs_exactly_the_lock():
    final = dockerfile_stages()[-1]
    assert re.fullmatch(r"python:3\.11-slim", final[0][1])
    users = [rest for instruction, rest in final if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " && ".join(rest for instruction, rest in final if instruction == "RUN")
    assert "pip install --no-deps -r requirements.lock" in runs
    assert "pip check" in runs
    for stage in dockerfile_stages():
        for instruction, rest in stage:
            if instruction == "COPY" and not rest.startswith("--from"):
                for source in shlex.split(rest)[:-1]:
                    assert (ROOT / source).exists(), f"COPY {source}: no such path"
    assert "Python 3.11" in (ROOT / "requirements.lock").read_text().split("\n", 3)[1]


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_the_lock_pins_the_whole_runtime_closure_of_pyproject():
    """Every runtime requirement (with extras, transitively, as the installed metadata states
    them) is pinned, at a version that satisfies it, and nothing else is. Regenerate with
    scripts/lock-requirements.sh when this fails."""
    from importlib.metadata import PackageNotFoundError, distribution

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    todo = [Requirement(text) for text in project["dependencies"]]
    seen: set[tuple[str, frozenset[str]]] = set()
    needed: set[str] = set()
    problems = []
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        needed.add(name)
        if name not in pins:
            problems.append(f"{requirement} is not in requirements.lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"requirements.lock pins {name}=={pins[name]}, outside {requirement}")
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = distribution(requirement.name).requires or []
        except PackageNotFoundError:
            continue
        for text in requires:
            child = Requirement(text)
            extras = requirement.extras or {""}
            if child.marker is None or any(child.marker.evaluate({"extra": extra})
                                           for extra in extras):
                todo.append(child)
    stale = sorted(set(pins) - needed)
    assert not problems, "\n".join(problems)
    assert not stale, f"requirements.lock pins packages nothing needs: {stale}"


# -- the configuration reference --------------------------------------------------------------

def test_every_setting_the_code_reads_is_documented():
    read = set()
    for package in ("api", "domain", "projections"):
        for path in (ROOT / package).rglob("*.py"):
            read |= set(re.findall(r"[\"'](PARINDEX_[A-Z0-9_]+)[\"']", path.read_text()))
    missing = sorted(read - documented_settings())
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
