"""One source of truth for versions: a hashed lock per Python (locks/pythonX.Y.txt), which
environment.yml only points to."""

import re
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest
import yaml
from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


LOCKS = {version: REPO / "locks" / f"python{version}.txt" for version in ("3.11", "3.12", "3.13")}
# The environment's own.
LOCK = LOCKS["{}.{}".format(*sys.version_info[:2])]


def lock(path=LOCK):
    text = path.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    pins = {}
    for entry in entries:
        match = PIN.match(entry)
        if match:
            assert "--hash=sha256:" in entry, f"{match[1]} has no hash"
            pins[canonical(match[1])] = match[2]
    return pins


@pytest.mark.parametrize("path", LOCKS.values(), ids=LOCKS)
def test_every_locked_line_is_an_exact_pin_with_a_hash(path):
    text = path.read_text()
    requirement_lines = [
        line for line in text.splitlines() if line and not line.startswith((" ", "#"))
    ]
    assert requirement_lines
    assert all(PIN.match(line) for line in requirement_lines), requirement_lines
    assert len(lock(path)) == len(requirement_lines)


def requirement(need, python):
    """A dependency of pyproject.toml as (name, version or ""), or None where its marker
    leaves it out on Python ``python``."""
    from packaging.requirements import Requirement

    parsed = Requirement(need)
    if parsed.marker and not parsed.marker.evaluate({"python_version": python}):
        return None
    (pin,) = parsed.specifier or [None]
    return canonical(parsed.name), pin.version if pin and pin.operator == "==" else ""


@pytest.mark.parametrize("python", LOCKS)
def test_each_lock_holds_every_top_level_need_at_its_pin(python):
    """The project's dependencies, its extras and its build backend: all in the lock of each
    Python, exactly at the version pyproject.toml pins for that Python, if it pins one."""
    pins = lock(LOCKS[python])
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needs = [
        *project["project"]["dependencies"],
        *(need for extra in project["project"]["optional-dependencies"].values() for need in extra),
        *project["build-system"]["requires"],
    ]
    for need in filter(None, (requirement(need, python) for need in needs)):
        name, version = need
        assert name in pins, name
        if version:
            assert pins[name] == version, name
    assert pins["theano-pymc"] == "1.1.2" and pins["lasagne"] == "0.1"
    assert {"hatchling", "setuptools", "wheel", "packaging"} <= set(pins)


def test_the_locks_pin_each_pythons_numpy_and_scipy():
    """The oldest numpy and scipy with wheels for each Python (3.12: numpy 1.26.0, scipy
    1.11.2; 3.13: numpy 2.1.0, scipy 1.14.1), as pyproject.toml says."""
    wanted = {
        "3.11": ("1.23.5", "1.10.1"),
        "3.12": ("1.26.0", "1.11.2"),
        "3.13": ("2.1.0", "1.14.1"),
    }
    for python, (numpy, scipy) in wanted.items():
        pins = lock(LOCKS[python])
        assert (pins["numpy"], pins["scipy"]) == (numpy, scipy), python


def test_the_build_tools_the_set_up_installs_first_are_the_locks_own(tmp_path):
    """The set-up installs setuptools, wheel and packaging from the lock before the lock's
    sdists are built without isolation: the Makefile's filter picks exactly their entries,
    hashes and all."""
    (recipe,) = [
        line.strip() for line in (REPO / "Makefile").read_text().splitlines() if "awk '" in line
    ]
    program = recipe.split("'")[1]
    for path in LOCKS.values():
        picked = subprocess.run(
            ["awk", program, str(path)], capture_output=True, text=True, check=True
        ).stdout
        (tmp_path / "tools.txt").write_text("# header\n" + picked)
        assert lock(tmp_path / "tools.txt") == {
            name: lock(path)[name] for name in ("packaging", "setuptools", "wheel")
        }


@pytest.mark.parametrize("env_file", ["environment.yml", "environment-cuda.yml"])
def test_conda_env_takes_its_pip_packages_from_the_lock_only(env_file):
    env = yaml.safe_load((REPO / env_file).read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip_section == ["--require-hashes", "-r locks/python3.11.txt"]
    conda_names = {canonical(re.split(r"[=<> ]", d)[0]) for d in deps if isinstance(d, str)}
    assert not conda_names & set(lock()), "a package is both in conda's list and in the lock"


def test_installed_packages_are_the_locked_ones():
    drift = {
        name: (version, metadata.version(name))
        for name, version in lock().items()
        if metadata.version(name) != version
    }
    assert not drift


def test_every_locked_package_admits_every_release_of_its_python():
    # Debian 12's python3 is 3.11.2: the lock is compiled on a later 3.11 and must not
    # assume it (locks/floor.txt holds it back where a release would). The locks of 3.12 and
    # 3.13 are checked in their own environments (test_other_pythons).
    from packaging.specifiers import SpecifierSet

    first = "{}.{}.0".format(*sys.version_info[:2])
    refused = {
        name: needs
        for name in lock()
        if (needs := metadata.metadata(name).get("Requires-Python"))
        and not SpecifierSet(needs).contains(first)
    }
    assert not refused


def test_every_install_the_project_tells_anyone_to_run_is_hash_checked():
    # bench/README.md and README.md name bench/requirements.txt for the PyTorch twin.
    pins = lock(REPO / "bench" / "requirements.txt")  # asserts a hash on every pin
    assert pins["torch"] == "2.13.0"
    text = (REPO / "bench" / "requirements.txt").read_text()
    named = [line for line in text.splitlines() if re.match(r"[A-Za-z0-9]", line)]
    assert len(named) == len(pins)
