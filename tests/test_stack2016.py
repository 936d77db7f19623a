"""stack2016.build: finding Python 2.7, verifying Lasagne by git tree id, the built stack."""

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from stack2016 import build


def no_python27_env(tmp_path):
    """An environment in which no Python 2.7 can be found: no PYTHON27, PATH or pyenv."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON27"}
    env.update(PATH=os.path.dirname(sys.executable), PYENV_ROOT=str(tmp_path), HOME=str(tmp_path))
    return env


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout


def test_git_tree_id_is_gits(tmp_path):
    """The id computed from an archive is what git itself gives the same tree."""
    repo = tmp_path / "repo"
    (repo / "a" / "deep").mkdir(parents=True)
    (repo / "a.b").write_text("a file named like the folder, sorted before it by git\n")
    (repo / "a" / "deep" / "x.py").write_text("print('x')\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "link").symlink_to("a.b")
    (repo / "empty").write_bytes(b"")
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    expected = git("write-tree", cwd=repo).decode().strip()
    tar = git("archive", "--format=tar", "--prefix=top/", expected, cwd=repo)
    archive = tmp_path / "top.tar.gz"
    archive.write_bytes(gzip.compress(tar))
    assert build.git_tree_id(archive) == expected
    (repo / "a" / "deep" / "x.py").write_text("print('y')\n")
    git("add", "-A", cwd=repo)
    tampered = tmp_path / "tampered.tar.gz"
    tampered.write_bytes(
        gzip.compress(
            git("archive", "--prefix=top/", git("write-tree", cwd=repo).decode().strip(), cwd=repo)
        )
    )
    assert build.git_tree_id(tampered) != expected


def test_lasagne_source_is_commit_3f3ff93():
    source = os.environ.get("LASAGNE_SOURCE")
    if not source:
        pytest.skip(
            "LASAGNE_SOURCE is not set (.ci/run sets it to ../shared/lasagne-2016; "
            "a download is checked by the build itself)"
        )
    archive = build.lasagne_archive(source, None)
    assert build.git_tree_id(archive) == build.LASAGNE_TREE


def lasagne_source():
    source = os.environ.get("LASAGNE_SOURCE")
    if not source:
        pytest.skip("LASAGNE_SOURCE is not set (.ci/run sets it to ../shared/lasagne-2016)")
    return build.lasagne_archive(source, None)


def test_only_the_verified_folder_is_ever_unpacked(tmp_path):
    genuine = lasagne_source()
    # The genuine tree, and beside it a second top folder with a setup.py of its own.
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(genuine) as tar, tarfile.open(evil, "w:gz") as out:
        for member in tar.getmembers():
            out.addfile(member, tar.extractfile(member) if member.isfile() else None)
        code = b"open('/tmp/pwned', 'w')\n"
        info = tarfile.TarInfo("Evil/setup.py")
        info.size = len(code)
        out.addfile(info, io.BytesIO(code))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(
        build.BuildError, match=r"2 top folders \(Evil, Lasagne-3f3ff93.*\), not one"
    ):
        build.unpack_verified(evil, build.LASAGNE_TREE, "Lasagne", work)
    top = build.unpack_verified(genuine, build.LASAGNE_TREE, "Lasagne", work)
    assert list(work.iterdir()) == [top] and (top / "setup.py").is_file()


def test_a_cut_archive_is_one_line_and_the_environment_is_left_alone(tmp_path, monkeypatch):
    cut = tmp_path / "Lasagne-cut.tar.gz"
    cut.write_bytes(lasagne_source().read_bytes()[:5000])
    env = tmp_path / "env"
    env.mkdir()
    (env / build.STAMP).write_text("an earlier build\n")
    monkeypatch.setattr(build, "find_python27", lambda: "/usr/bin/python2.7")
    monkeypatch.setenv("LASAGNE_SOURCE", str(cut))
    assert build.main(["--env", str(env)]) == 1
    assert (env / build.STAMP).read_text() == "an earlier build\n"


def test_no_python27_is_one_line_and_no_folder(tmp_path):
    env = no_python27_env(tmp_path)
    target = tmp_path / "env"
    command = [sys.executable, "-m", "stack2016.build", "--env", str(target)]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, cwd=build.REPO)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "no Python 2.7" in refused.stderr
    allowed = subprocess.run(
        [*command, "--if-python27"], env=env, capture_output=True, text=True, cwd=build.REPO
    )
    assert allowed.returncode == 0 and "no Python 2.7" in allowed.stderr
    assert not target.exists()


def test_python27_that_is_not_one_is_an_error(monkeypatch):
    monkeypatch.setenv("PYTHON27", sys.executable)
    with pytest.raises(build.BuildError, match="not a working CPython 2.7"):
        build.find_python27()


def test_refuses_a_folder_it_did_not_make(stack_2016, tmp_path, capsys):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    assert build.main(["--env", str(target)]) == 1
    assert "is not a 2016-stack build" in capsys.readouterr().err
    assert (target / "notes.txt").read_text() == "keep me"


def test_the_built_stack(stack_2016):
    versions = subprocess.run(
        [stack_2016.python, "-c", build.CHECK],
        env=build.kernel_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert versions.startswith("Python 2.7.")
    assert versions.split(", ", 1)[1].strip() == (
        "numpy 1.11.1, scipy 0.18.1, Theano 0.8.2, Lasagne 0.2.dev1, matplotlib 2.0.2, "
        "scikit-learn 0.18.1, ipykernel 4.10.1"
    )
    spec = KernelSpecManager().get_kernel_spec(stack_2016.kernel)
    assert spec.argv[:3] == [stack_2016.python, "-m", "ipykernel_launcher"]
    assert spec.display_name == "Python 2.7 (2016 stack)"
    assert spec.env == {"THEANORC": str(build.THEANORC), "THEANO_FLAGS": ""}
    assert spec.metadata["vae_legacy_stack"] == "2016"
    installed = Path(sys.prefix, "share", "jupyter", "kernels", build.KERNEL_NAME, "kernel.json")
    assert json.loads(installed.read_text())["argv"] == spec.argv


def test_the_2016_kernel_takes_none_of_todays_theano_flags(stack_2016, monkeypatch, tmp_path):
    """Today's THEANO_FLAGS (Theano-PyMC's ``__`` names, a CUDA env's device) stay out of the
    2016 kernel: Theano 0.8.2 would warn about the first and fail on the second."""
    monkeypatch.setenv("THEANO_FLAGS", "device=cuda,blas__ldflags=-lmyblas")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    cell = "import theano\nprint theano.config.device, theano.config.blas.ldflags"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    NotebookClient(nb, kernel_name=stack_2016.kernel, timeout=120).execute()
    (cell,) = nb.cells
    assert [(o.name, o.text) for o in cell.outputs] == [("stdout", "cpu -lopenblas\n")]
