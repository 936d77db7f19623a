"""Build the 2016 stack, the course's own software, and its Jupyter kernel ``vae-legacy-2016``.

    python -m stack2016.build [--env .venv-2016] [--if-python27]

A Python 2.7 environment from the hashed lock ``stack2016/requirements.txt`` (numpy
1.11.1, scipy 0.18.1, Theano 0.8.2, ipykernel 4.10.1, matplotlib 2.0.2, scikit-learn
0.18.1), plus Lasagne at GitHub commit 3f3ff93 (2016-06-24, the master the course ran),
checked by its git tree id: downloaded from GitHub, or taken from LASAGNE_SOURCE (the
archive, or a folder holding it) offline, and a ``.pth`` that makes the project's
``samplelayer.py`` importable wherever the notebook is. Then the kernelspec ``vae-legacy-2016``,
"Python 2.7 (2016 stack)", in this environment, so JupyterLab and
``run_notebook.py --kernel vae-legacy-2016`` find it.

Python 2.7 is found through PYTHON27, then ``python2.7`` on PATH, then pyenv's versions;
with none, it says so in one line and stops (exit 2; exit 0 with ``--if-python27``,
which ``make test`` uses). It writes only into the environment folder and the
kernelspec. A finished build leaves a stamp of its inputs; a build that failed or was
cut off leaves none, and the next call starts again from an empty folder.
"""

import argparse
import contextlib
import glob
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ENV = REPO / ".venv-2016"
KERNEL_NAME = "vae-legacy-2016"
LOCK, BOOTSTRAP, THEANORC = HERE / "requirements.txt", HERE / "bootstrap.txt", HERE / "theanorc"
# The 2016 Theano settings, in the kernelspec: its own theanorc, and none of the THEANO_FLAGS
# of today's environment (Theano-PyMC's dialect, or a CUDA env's device=cuda), which
# Theano 0.8.2 would warn about or fail on.
KERNEL_ENV = {"THEANORC": str(THEANORC), "THEANO_FLAGS": ""}
LASAGNE_COMMIT = "3f3ff931731f5d1be7408b5369a0c149cd7544aa"
LASAGNE_TREE = "6b69a6a6c3b31298d64d7fdc672cdac0edbc6451"
LASAGNE_URL = f"https://github.com/Lasagne/Lasagne/archive/{LASAGNE_COMMIT}.tar.gz"
STAMP, BUILDING = ".vae-legacy-2016-ready", ".vae-legacy-2016-building"
# What the stack must import, printed with versions as the build's last check.
CHECK = (
    "import sys, numpy, scipy, theano, lasagne, matplotlib, sklearn, IPython, ipykernel, "
    "samplelayer; "
    "print('Python %d.%d.%d' % sys.version_info[:3] + ', numpy ' + numpy.__version__ + "
    "', scipy ' + scipy.__version__ + ', Theano ' + theano.__version__ + "
    "', Lasagne ' + lasagne.__version__ + ', matplotlib ' + matplotlib.__version__ + "
    "', scikit-learn ' + sklearn.__version__ + ', ipykernel ' + ipykernel.__version__)"
)


class BuildError(Exception):
    """A reason to stop, said in one line."""


def is_python(python, version):
    """Whether ``python`` runs, as a Python ``version`` ("2.7", "3.12", ...)."""
    try:
        out = subprocess.run(
            [python, "-c", "import sys; sys.stdout.write('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout == version


def pyenv_root():
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))


def find_python(version):
    """A working Python ``version``: python<version> on PATH, else one of pyenv's (the last
    by name); None if none. (pyenv's shims are on PATH but may not resolve.)"""
    found = glob.glob(
        os.path.join(pyenv_root(), "versions", f"{version}*", "bin", f"python{version}")
    )
    for python in [shutil.which(f"python{version}"), *sorted(found, reverse=True)]:
        if python and is_python(python, version):
            return python
    return None


def find_python27():
    """A working CPython 2.7: PYTHON27, else ``find_python("2.7")``; None if none.

    A PYTHON27 that is not a working Python 2.7 is an error, not a reason to look further.
    """
    chosen = os.environ.get("PYTHON27")
    if chosen:
        if not is_python(chosen, "2.7"):
            raise BuildError(f"PYTHON27={chosen} is not a working CPython 2.7")
        return chosen
    return find_python("2.7")


def git_tree_id(archive, restore=None):
    """The git tree id of the single top folder of a tar archive (git archive, GitHub's):
    a path, or an open ``tarfile``. BuildError if it has more than one top folder.

    ``restore(path, data)``, if given, returns a file's content as committed, where the
    archive's differs (git archive's export-subst)."""
    blobs = {}
    with (
        contextlib.nullcontext(archive)
        if isinstance(archive, tarfile.TarFile)
        else (tarfile.open(archive)) as tar
    ):
        tops = sorted({member.name.split("/")[0] for member in tar.getmembers()})
        if len(tops) != 1:
            raise BuildError(f"{tar.name}: {len(tops)} top folders ({', '.join(tops)}), not one")
        for member in tar.getmembers():
            parts = tuple(member.name.split("/")[1:])
            if not parts or not parts[-1] or member.isdir():
                continue
            if member.issym():
                mode, data = "120000", member.linkname.encode()
            elif member.isfile():
                mode = "100755" if member.mode & 0o111 else "100644"
                data = tar.extractfile(member).read()
                data = restore("/".join(parts), data) if restore else data
            else:
                raise BuildError(f"{tar.name}: unexpected member {member.name}")
            blobs[parts] = mode, hashlib.sha1(b"blob %d\0" % len(data) + data).digest()

    def tree(prefix):
        entries = {}
        for parts, entry in blobs.items():
            if parts[: len(prefix)] == prefix:
                name = parts[len(prefix)]
                if len(parts) == len(prefix) + 1:
                    entries[name] = entry
                elif name not in entries:
                    entries[name] = "40000", tree(prefix + (name,))
        # git orders a folder's entries by name, a subfolder's name taken with a trailing "/".
        order = sorted(
            entries, key=lambda n: n.encode() + (b"/" if entries[n][0] == "40000" else b"")
        )
        body = b"".join(f"{entries[n][0]} {n}".encode() + b"\0" + entries[n][1] for n in order)
        return hashlib.sha1(b"tree %d\0" % len(body) + body).digest()

    return tree(()).hex()


def unpack_verified(archive, tree, what, workdir, restore=None):
    """Unpack ``archive`` into ``workdir`` only if it is exactly ``what``: one top folder, whose
    git tree id is ``tree``; return that folder. What is checked is what is unpacked: both
    read the same bytes. BuildError, in one line, before anything is unpacked otherwise."""
    try:
        data = Path(archive).read_bytes()
        with tarfile.open(fileobj=io.BytesIO(data), name=str(archive)) as tar:
            found = git_tree_id(tar, restore)
            if found != tree:
                raise BuildError(f"{archive} is not {what}: its tree is {found}")
            top = Path(workdir, tar.getmembers()[0].name.split("/")[0])
            # Python before 3.11.4 (Debian 12 has 3.11.2) has no extraction filters; the
            # tree id already rules out what they refuse (absolute paths, "..", devices).
            tar.extractall(
                workdir, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {})
            )
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise BuildError(f"{archive} is not a whole tar archive ({error})") from None
    return top


def source_archive(source, workdir, name, commit, url, variable):
    """``name`` at ``commit`` as a tar.gz: ``source``, the value of ``variable`` (the archive,
    or a folder holding it), or else downloaded from ``url`` into ``workdir``."""
    filename = f"{name}-{commit}.tar.gz"
    if source:
        source = Path(source)
        found = sorted(source.glob(f"*{commit}*.tar.gz")) if source.is_dir() else [source]
        if not found or not found[0].is_file():
            raise BuildError(f"{variable}={source}: no {filename} there")
        return found[0]
    archive = Path(workdir, filename)
    print(f"{name}: downloading {url}", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            archive.write_bytes(response.read())
    except OSError as error:
        raise BuildError(
            f"cannot download {name} from GitHub ({error}); offline, set {variable} "
            f"to a folder holding {filename}"
        ) from None
    return archive


def lasagne_archive(source, workdir):
    """Lasagne 3f3ff93: LASAGNE_SOURCE or GitHub."""
    return source_archive(source, workdir, "Lasagne", LASAGNE_COMMIT, LASAGNE_URL, "LASAGNE_SOURCE")


def stamp_text(python27):
    """What a finished build was made from; a different one means rebuild."""
    digest = hashlib.sha256()
    for path in (LOCK, BOOTSTRAP, Path(__file__)):
        digest.update(path.read_bytes())
    return f"{python27}\nLasagne {LASAGNE_COMMIT}\n{digest.hexdigest()}\n"


def run(*command, **kwargs):
    """Run a build step; its own output only when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise BuildError(f"failed: {' '.join(map(str, command))}")
    return done.stdout


def empty_env(env):
    """Remove a build's leftovers; refuse to touch a folder this script did not make."""
    if env.exists():
        if not (env / STAMP).exists() and not (env / BUILDING).exists():
            raise BuildError(f"{env} exists and is not a 2016-stack build: move it or use --env")
        shutil.rmtree(env)
    env.mkdir(parents=True)
    (env / BUILDING).touch()


def build(env, python27, lasagne_source):
    python = env / "bin" / "python"
    with tempfile.TemporaryDirectory() as work:
        archive = lasagne_archive(lasagne_source, work)
        source = unpack_verified(archive, LASAGNE_TREE, f"Lasagne {LASAGNE_COMMIT[:7]}", work)
        empty_env(env)  # only once the source is known good
        print(f"stack2016: [1/4] creating {env} with {python27}", flush=True)
        tools = Path(work, "virtualenv")
        # Today's pip fetches it (a Python 2 may come without pip); Python 2.7 runs it.
        run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--require-hashes",
            "--disable-pip-version-check", "--target", tools, "-r", BOOTSTRAP)  # fmt: skip
        run(python27, "-m", "virtualenv", "--no-download", "-q", env,
            env={**os.environ, "PYTHONPATH": str(tools)})  # fmt: skip
        print("stack2016: [2/4] installing the hashed lock (numpy 1.11.1, Theano 0.8.2, ...)")
        run(python, "-m", "pip", "install", "-q", "--no-deps", "--require-hashes",
            "--disable-pip-version-check", "-r", LOCK)  # fmt: skip
        print(
            f"stack2016: [3/4] installing Lasagne {LASAGNE_COMMIT[:7]} "
            f"(tree {LASAGNE_TREE[:7]}, verified)"
        )
        run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
            "--disable-pip-version-check", source)  # fmt: skip
    # The project's own module, samplelayer.py, imports from the repository wherever the
    # notebook is, as on today's kernel.
    site_packages = run(
        python, "-c", "from distutils.sysconfig import get_python_lib as g; print(g())"
    )
    Path(site_packages.strip(), "vae_legacy.pth").write_text(f"{REPO}\n")
    print("stack2016: [4/4] checking the imports")
    print("stack2016: " + run(python, "-c", CHECK, cwd=env, env=kernel_env()).strip())


def kernel_env():
    """The 2016 kernel's environment: today's, with the kernelspec's settings."""
    return {**os.environ, **KERNEL_ENV}


def install_kernelspec(env):
    """Through Jupyter's own installer, into this environment (where its servers look)."""
    spec = {
        "argv": [
            str(env / "bin" / "python"),
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "Python 2.7 (2016 stack)",
        "language": "python",
        "env": KERNEL_ENV,
        "metadata": {
            "vae_legacy_stack": "2016",
            # A later build that is cut off leaves this spec; run_notebook then says so.
            "vae_legacy_ready": {"file": str(env / STAMP), "make": "make stack-2016"},
        },
    }
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # the copy keeps the mode: readable by all, as the env is
        Path(folder, "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
        KernelSpecManager().install_kernel_spec(folder, KERNEL_NAME, prefix=sys.prefix)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", type=Path, default=ENV, help="the environment folder")
    parser.add_argument(
        "--if-python27", action="store_true", help="without Python 2.7, say so and exit 0"
    )
    args = parser.parse_args(argv)
    env = args.env.resolve()
    try:
        python27 = find_python27()
        if python27 is None:
            print(
                "stack2016: no Python 2.7, which no current distro packages: get one with "
                "`pyenv install 2.7.18` or `conda create -n py27 python=2.7`, then set "
                "PYTHON27 or put python2.7 on PATH; the 2016 stack is not built",
                file=sys.stderr,
            )
            return 0 if args.if_python27 else 2
        stamp = stamp_text(python27)
        if not (env / STAMP).exists() or (env / STAMP).read_text() != stamp:
            build(env, python27, os.environ.get("LASAGNE_SOURCE"))
            (env / STAMP).write_text(stamp)
            (env / BUILDING).unlink()
        install_kernelspec(env)
    except BuildError as error:
        print(f"stack2016: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stack2016: interrupted; the next build of {env} starts again", file=sys.stderr)
        return 130
    print(f"stack2016: kernel '{KERNEL_NAME}' (Python 2.7, 2016 stack) ready in {env}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
