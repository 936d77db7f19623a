"""Imported at start-up by the interpreters that build the locks' sdists (the set-up puts this
folder on PYTHONPATH, with pip's --no-build-isolation): it mends the build, not the sdist.

Theano-PyMC 1.1.2's ``versioneer.py`` reads its ``setup.cfg`` with ``SafeConfigParser`` and
``readfp``, both gone in Python 3.12. Restored only where they are missing, as the
deprecated aliases of ``ConfigParser`` and ``read_file`` they were.
"""

import configparser

if not hasattr(configparser, "SafeConfigParser"):

    class SafeConfigParser(configparser.ConfigParser):
        def readfp(self, fp, filename=None):
            return self.read_file(fp, filename)

    configparser.SafeConfigParser = SafeConfigParser
