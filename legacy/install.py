"""Activate the bridge in the current environment (a venv, a conda env or Binder).

Writes these, all inside ``sys.prefix`` and all safe to rewrite:

- ``vae_legacy.pth`` in site-packages, so every interpreter of the environment
  imports ``legacy.activate`` at start-up (Theano settings + import hook);
- ``etc/ipython/ipython_kernel_config.py``, so every IPython kernel of the
  environment loads the Python 2 print extension ``legacy.py2print`` (which also
  sets numpy's 2016 print mode), whoever starts it: JupyterLab, Notebook 7,
  ``jupyter console``, VS Code, nbclient;
- ``etc/jupyter/jupyter_config.json``: the environment's Jupyter servers
  (JupyterLab, Notebook 7) start kernels on IPC sockets (local files beside their
  connection files in Jupyter's runtime folder), not on TCP ports, where ipykernel
  warns that the traffic is not encrypted;
- ``share/jupyter/lab/settings/overrides.d/vae-legacy.json``: JupyterLab and
  Notebook 7 default to not fetching Jupyter news from the internet, so they do
  not open by asking whether to (a setting the user can change);
- the Jupyter kernelspec ``vae-legacy``: this interpreter, named as the
  notebook's metadata names it;
- ``etc/theanorc`` when the environment ships its own OpenBLAS (conda), so
  Theano links that one rather than the system's.

The 2016 stack's kernel is real Python 2 in its own environment, which reads
none of these.

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


IPYTHON_KERNEL_CONFIG = """\
# Written by legacy.install (vae-legacy): every IPython kernel of this environment gives
# the notebook's Python 2 print statements Python 2.7's output, and numpy its 2016 print mode.
c.InteractiveShellApp.extensions.append("legacy.py2print")
"""
# The server's kernels on IPC sockets: their paths derive from each kernel's connection
# file, which the server puts in its runtime folder. Only the server's: a bare KernelManager
# (nbconvert --execute) has no connection file yet and would take a relative path, which
# the kernel, in the notebook's folder, resolves elsewhere than its client.
JUPYTER_CONFIG = {"ServerKernelManager": {"transport": "ipc"}}
LAB_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}


def install_kernel_and_jupyter_settings():
    write_atomically(PREFIX / "etc" / "ipython" / "ipython_kernel_config.py", IPYTHON_KERNEL_CONFIG)
    for path, settings in [
        (PREFIX / "etc" / "jupyter" / "jupyter_config.json", JUPYTER_CONFIG),
        (
            PREFIX / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "vae-legacy.json",
            LAB_SETTINGS,
        ),
    ]:
        write_atomically(path, json.dumps(settings, indent=1) + "\n")


def install_kernelspec():
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
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
    install_kernel_and_jupyter_settings()
    install_kernelspec()
    install_env_theanorc()
    print(f"legacy.install: bridge, settings and kernel '{KERNEL_NAME}' written in {PREFIX}")


if __name__ == "__main__":
    main()
