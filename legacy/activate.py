"""Imported by the environment's ``vae_legacy.pth`` at every interpreter start-up.

It points Theano at the project's ``theanorc``, followed by the environment's own
``etc/theanorc`` when ``legacy.install`` wrote one (later files win; THEANO_FLAGS
wins over both), unless the user chose a THEANORC; and it installs the import hook
of ``legacy.compat``. Both are cheap: nothing here imports Theano or Lasagne.
"""

import os
import sys
from pathlib import Path

from legacy import compat

THEANORCS = [
    Path(__file__).resolve().parent.parent / "theanorc",
    Path(sys.prefix, "etc", "theanorc"),
]

os.environ.setdefault("THEANORC", os.pathsep.join(str(p) for p in THEANORCS if p.exists()))
compat.install()
