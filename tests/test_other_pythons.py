"""Python 3.12 and 3.13: each set up by the README's set-up from its own lock, then the seeded
notebook (forward pass and ten epochs) against the 2016 stack's, line for line.

The whole suite runs on the environment's Python (3.11); these build ``.venv-3.12`` and
``.venv-3.13`` with ``make`` as a user would, and run ``historical/side_by_side.py`` there.
"""

import os
import re
import subprocess

import pytest
from conftest import REPO, WARNING_LINE, copy_of_notebook

import run_record
from stack2016 import build

# Per Python, the numpy of its lock: the oldest with wheels for it.
NUMPY = {"3.12": "1.26.0", "3.13": "2.1.0"}


def run(command, timeout, **kwargs):
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=REPO, **kwargs
    )


@pytest.fixture(scope="module", params=sorted(NUMPY))
def other_env(request):
    """The project's environment on Python ``request.param``, made by the set-up."""
    version = request.param
    python = build.find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} here (PATH, pyenv) to set the project up with")
    env = REPO / f".venv-{version}"
    made = run(["make", "-s", f"ENV={env}", f"PYTHON={python}", f"{env}/.vae-legacy-ready"], 1800)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    return version, env / "bin" / "python"


def test_every_locked_package_admits_the_first_release_of_its_python(other_env):
    version, python = other_env
    check = (
        "import sys\nfrom importlib import metadata\n"
        "from packaging.specifiers import SpecifierSet\n"
        "first = sys.argv[1] + '.0'\n"
        "for dist in metadata.distributions():\n"
        "    needs = dist.metadata.get('Requires-Python')\n"
        "    if needs and not SpecifierSet(needs).contains(first):\n"
        "        print(dist.metadata['Name'], needs)\n"
    )
    done = run([python, "-c", check, version], 120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_the_seeded_notebook_prints_the_2016_stacks_lines(
    other_env, stack_2016, notebook_folder, tmp_path
):
    """Seed 1 on the small synthetic MNIST: the forward pass and ten epoch lines, each the 2016
    stack's byte for byte, with no warning on the way (unmended, Python 3.12 warns of the
    notebook's '$z\\sim p(z)$')."""
    version, python = other_env
    kernel = run([python, "-m", "stack2016.build"], 600)  # the 2016 kernel, for this env too
    assert kernel.returncode == 0, kernel.stderr
    notebook = copy_of_notebook(notebook_folder, "vae_exercise.ipynb")
    runs = tmp_path / "runs"
    argv = ["--seed", "1", "--notebook", str(notebook), "--runs", str(runs), "--no-data"]
    done = run([python, "historical/side_by_side.py", *argv], 1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "side_by_side: PASS: 11 of 11 printed lines identical (numpy seed 1)" in done.stdout
    stderr = "\n".join(
        line for line in done.stderr.splitlines() if not line.startswith("side_by_side: ")
    )
    assert not WARNING_LINE.findall(stderr), stderr
    metrics = {}
    for folder in runs.iterdir():
        record = run_record.read(folder)
        metrics[record["stack"]] = record
    today = metrics["today"]["environment"]
    assert today["python"].startswith(version + ".") and today["numpy"] == NUMPY[version]
    assert metrics["2016"]["environment"]["python"].startswith("2.7.")
    epochs = [line for line in done.stdout.splitlines() if re.search(r"identical  Epoch \d", line)]
    assert len(epochs) == 10


def test_the_build_mend_is_what_lets_theano_pymc_read_its_setup_cfg(other_env, tmp_path):
    """Both ways, on a Python without ``SafeConfigParser``: Theano-PyMC's versioneer reads its
    ``setup.cfg`` as below; it fails bare, and works with locks/build on PYTHONPATH."""
    _, python = other_env
    (tmp_path / "setup.cfg").write_text("[versioneer]\nVCS = git\n")
    read = (
        "import configparser\nparser = configparser.SafeConfigParser()\n"
        "with open('setup.cfg') as f:\n    parser.readfp(f)\nprint(parser.get('versioneer', 'VCS'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    bare = subprocess.run(
        [python, "-c", read], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert "has no attribute 'SafeConfigParser'" in bare.stderr
    mended = subprocess.run(
        [python, "-c", read],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO / "locks" / "build")},
    )
    assert mended.returncode == 0, mended.stderr
    assert mended.stdout == "git\n"
