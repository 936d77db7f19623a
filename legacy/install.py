"""Activate the bridge in the current environment (a venv, a conda env or Binder).

Writes three things, all inside ``sys.prefix`` and all safe to rewrite:

- ``vae_legacy.pth`` in site-packages, so every interpreter of the environment
  imports ``legacy.activate`` at start-up (Theano settings + import hook);
- the Jupyter kernelspec ``vae-legacy``: this interpreter with the Python 2
  print extension loaded, the kernel the notebook's metadata names;
- ``etc/theanorc`` when the environment ships its own OpenBLAS (conda), so
  Theano links that one rather than the system's.

Usage: ``python -m legacy.install``
"""

import json
import os
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KERNEL_NAME = "vae-legacy"
PREFIX = Path(sys.prefix)


def write_atomically(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def install_pth():
    site_packages = Path(sysconfig.get_paths()["purelib"])
    write_atomically(site_packages / "vae_legacy.pth", f"{REPO}\nimport legacy.activate\n")


def install_kernelspec():
    spec = {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--InteractiveShellApp.extensions=legacy.py2print",
        ],
        "display_name": "Python 3 (vae-legacy, Python 2 print)",
        "language": "python",
        "metadata": {"debugger": True, "vae_legacy_stack": "today"},
    }
    kernel_json = PREFIX / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    write_atomically(kernel_json, json.dumps(spec, indent=1) + "\n")


def install_env_theanorc():
    """Only a conda env has ``lib/libopenblas.so`` under its own prefix."""
    lib = PREFIX / "lib"
    if not (lib / "libopenblas.so").exists():
        return
    write_atomically(
        PREFIX / "etc" / "theanorc",
        f"# Written by legacy.install: this environment's own OpenBLAS.\n"
        f"[blas]\nldflags = -L{lib} -Wl,-rpath,{lib} -lopenblas\n",
    )


def main():
    install_pth()
    install_kernelspec()
    install_env_theanorc()
    print(f"legacy.install: bridge, kernel '{KERNEL_NAME}' and Theano settings set in {PREFIX}")


if __name__ == "__main__":
    main()
