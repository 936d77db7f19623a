"""Imported by the environment's ``vae_legacy.pth`` at every interpreter start-up.

It points Theano at the bridge's ``theanorc`` unless the user chose a THEANORC (THEANO_FLAGS
wins over it, as always), and installs the import hook of ``legacy.compat``. Both are cheap:
nothing here imports Theano or Lasagne.
"""

import os
import shlex
import sys
from pathlib import Path

from legacy import compat

THEANORC = Path(__file__).resolve().parent / "theanorc"


def env_openblas_flag(prefix):
    """The THEANO_FLAGS entry that links ``prefix``'s own OpenBLAS, or None if it has none.

    Only a conda env (environment.yml) has ``lib/libopenblas.so`` under its prefix; Theano
    must link that one, where the theanorc's ``-lopenblas`` would look for the system's. The
    path differs per environment, so it cannot be a file of the package. Theano 0.8.2 (the
    2016 kernel) reads only ``blas.ldflags`` and passes this entry by. Quoted: THEANO_FLAGS
    splits on commas outside quotes, and ``-Wl,-rpath,...`` has two.
    """
    lib = Path(prefix, "lib")
    if (lib / "libopenblas.so").exists():
        return "blas__ldflags=" + shlex.quote(f"-L{lib} -Wl,-rpath,{lib} -lopenblas")
    return None


def theano_settings(environ, prefix):
    """What an interpreter of ``prefix`` adds to ``environ`` for Theano: our theanorc and the
    environment's own OpenBLAS. Nothing if the user chose a THEANORC; link flags the user
    put in THEANO_FLAGS (which wins over any theanorc) are kept."""
    if "THEANORC" in environ:
        return {}
    settings = {"THEANORC": str(THEANORC)}
    flags, own = environ.get("THEANO_FLAGS", ""), env_openblas_flag(prefix)
    if own and "ldflags" not in flags:
        settings["THEANO_FLAGS"] = f"{flags},{own}" if flags else own
    return settings


os.environ.update(theano_settings(os.environ, sys.prefix))
compat.install()
