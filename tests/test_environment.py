"""One source of truth for versions: the hashed lock, which environment.yml only points to."""

import re
import tomllib
from importlib import metadata

import pytest
import yaml
from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def lock(path=REPO / "requirements.txt"):
    text = path.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    pins = {}
    for entry in entries:
        match = PIN.match(entry)
        if match:
            assert "--hash=sha256:" in entry, f"{match[1]} has no hash"
            pins[canonical(match[1])] = match[2]
    return pins


def test_every_locked_line_is_an_exact_pin_with_a_hash():
    text = (REPO / "requirements.txt").read_text()
    requirement_lines = [
        line for line in text.splitlines() if line and not line.startswith((" ", "#"))
    ]
    assert requirement_lines
    assert all(PIN.match(line) for line in requirement_lines), requirement_lines
    assert len(lock()) == len(requirement_lines)


def test_the_lock_holds_every_top_level_need_at_its_pin():
    """The project's dependencies, its extras and its build backend: all in the lock, exactly
    at the version pyproject.toml pins, if it pins one."""
    pins = lock()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needs = [
        *project["project"]["dependencies"],
        *(need for extra in project["project"]["optional-dependencies"].values() for need in extra),
        *project["build-system"]["requires"],
    ]
    for need in needs:
        name, _, version = need.partition("==")
        assert canonical(name) in pins, name
        if version:
            assert pins[canonical(name)] == version, name
    assert pins["theano-pymc"] == "1.1.2" and pins["lasagne"] == "0.1"
    assert "hatchling" in pins


@pytest.mark.parametrize("env_file", ["environment.yml", "environment-cuda.yml"])
def test_conda_env_takes_its_pip_packages_from_the_lock_only(env_file):
    env = yaml.safe_load((REPO / env_file).read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip_section == ["--require-hashes", "-r requirements.txt"]
    conda_names = {canonical(re.split(r"[=<> ]", d)[0]) for d in deps if isinstance(d, str)}
    assert not conda_names & set(lock()), "a package is both in conda's list and in the lock"


def test_installed_packages_are_the_locked_ones():
    drift = {
        name: (version, metadata.version(name))
        for name, version in lock().items()
        if metadata.version(name) != version
    }
    assert not drift


def test_every_locked_package_admits_every_python_3_11():
    # Debian 12's python3 is 3.11.2: the lock is compiled on a later 3.11 and must not
    # assume it (requirements-floor.txt holds it back where a release would).
    from packaging.specifiers import SpecifierSet

    refused = {
        name: needs
        for name in lock()
        if (needs := metadata.metadata(name).get("Requires-Python"))
        and not SpecifierSet(needs).contains("3.11.0")
    }
    assert not refused


def test_every_install_the_project_tells_anyone_to_run_is_hash_checked():
    # bench/README.md and README.md name bench/requirements.txt for the PyTorch twin.
    pins = lock(REPO / "bench" / "requirements.txt")  # asserts a hash on every pin
    assert pins["torch"] == "2.13.0"
    text = (REPO / "bench" / "requirements.txt").read_text()
    named = [line for line in text.splitlines() if re.match(r"[A-Za-z0-9]", line)]
    assert len(named) == len(pins)
