"""Make PyPI's Lasagne 0.1 (2015) run on Theano-PyMC 1.1.2 and Python 3.11 to 3.13.

Each gap between the two gets one named patch. A patch runs right after the
module it mends is first imported, and only when the upstream name or fix is
really missing, so nothing here imports Theano early and a plain ``python``
start-up stays fast. Where a module cannot even be imported as it is (a name gone
from numpy at its top level), a named rewrite of its source runs before it does
(``REWRITTEN``), and the C code Theano generates is rewritten before gcc sees it
(``c_for_numpy2``); neither touches an installed file. ``install()`` puts the import
hook in place; it is called from ``legacy.activate``, which the environment's ``.pth``
file imports.
"""

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import re
import sys
import sysconfig
import types
from pathlib import Path


def alias_mrg_random_streams(rng_mrg):
    """Lasagne 0.1 imports ``MRG_RandomStreams``; Theano-PyMC renamed it ``MRG_RandomStream``."""
    if not hasattr(rng_mrg, "MRG_RandomStreams"):
        rng_mrg.MRG_RandomStreams = rng_mrg.MRG_RandomStream


def alias_theano_gof(theano):
    """Lasagne 0.1 checks ``theano.gof.Variable``; Theano-PyMC moved ``gof`` to ``graph``."""
    if hasattr(theano, "gof"):
        return
    from theano.graph import basic, op

    gof = types.ModuleType("theano.gof", "Theano's old graph module names (legacy.compat).")
    gof.Apply, gof.Constant, gof.Variable = basic.Apply, basic.Constant, basic.Variable
    gof.Op = op.Op
    theano.gof = gof
    sys.modules["theano.gof"] = gof


def make_downsample():
    """Lasagne 0.1 pools with ``theano.tensor.signal.downsample``; now ``pool.pool_2d``."""
    from theano.tensor.signal import pool

    def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
        return pool.pool_2d(
            input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode
        )

    downsample = types.ModuleType("theano.tensor.signal.downsample", make_downsample.__doc__)
    downsample.max_pool_2d = max_pool_2d
    return downsample


def add_elu(nonlinearities):
    """The notebook imports ``elu``, which Lasagne gained only in 0.2."""
    if hasattr(nonlinearities, "elu"):
        return

    def elu(x):
        """Exponential linear unit: x for x > 0, exp(x) - 1 otherwise (Lasagne 0.2's definition)."""
        import theano.tensor as T

        return T.switch(x > 0, x, T.expm1(x))

    elu.__module__ = nonlinearities.__name__
    nonlinearities.elu = elu


def scan_extension_unbuildable():
    """On Python 3.11 the shipped Cython scan code cannot compile (no ``longintrepr.h``).

    Theano then raises instead of falling back to its Python scan, so the hook
    turns the import of the extension into the ``ImportError`` scan handles.
    """
    return not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "longintrepr.h"))


def fix_openmp_pragma(elemwise):
    """Theano-PyMC 1.1.2 emits ``{int(config.openmp_elemwise_minsize)}`` literally (a missing
    ``f`` prefix), so ``openmp=True`` elemwise code does not compile. Fill the value in."""
    placeholder = "{int(config.openmp_elemwise_minsize)}"
    if placeholder not in inspect.getsource(elemwise.Elemwise._c_all):
        return
    c_code = elemwise.Elemwise.c_code

    @functools.wraps(c_code)
    def filled_c_code(self, node, nodename, inames, onames, sub):
        code = c_code(self, node, nodename, inames, onames, sub)
        return code.replace(placeholder, str(int(elemwise.config.openmp_elemwise_minsize)))

    elemwise.Elemwise.c_code = filled_c_code


def version_empty_props(c_basic):
    """An op whose ``__props__`` is ``()`` (Dot22, ...) adds an empty, i.e. "unversioned",
    entry to the C-cache key, so its module is recompiled in every process. Rebuild the
    version without those entries, as aesara's PR #1108 did upstream."""
    if "version.append(node.op.__props__)" not in inspect.getsource(c_basic.CLinker.cmodule_key_):
        return
    cmodule_key_ = c_basic.CLinker.cmodule_key_

    @functools.wraps(cmodule_key_)
    def versioned_cmodule_key_(self, fgraph, *args, **kwargs):
        key = cmodule_key_(self, fgraph, *args, **kwargs)
        if key is None or key[0]:
            return key
        version = []
        for node in self.schedule(fgraph):
            if hasattr(node.op, "c_code_cache_version_apply"):
                version.append(node.op.c_code_cache_version_apply(node))
            if getattr(node.op, "__props__", ()):
                version.append(node.op.__props__)
            for var in node.inputs + node.outputs:
                if isinstance(var.type, c_basic.CLinkerObject):
                    version.append(var.type.c_code_cache_version())
        if all(version):
            return tuple(version), key[1]
        return key

    c_basic.CLinker.cmodule_key_ = versioned_cmodule_key_


def gpu_failure_is_an_error(configdefaults):
    """Asked for ``device=cuda`` and unable to open the GPU, Theano-PyMC logs a traceback and
    runs on the CPU all the same (its ``force_device`` flag is read nowhere). A filter on its
    GPU module's logger turns that into the import's error, in one line."""
    import logging

    device = configdefaults.config.device
    if not device.startswith(("cuda", "opencl")):
        return

    def refuse(record):
        if record.getMessage().startswith("Could not initialize pygpu"):
            error = record.exc_info[1]
            said = error.args[0] if error.args else error
            said = said.decode() if isinstance(said, bytes) else said  # pygpu's are bytes
            raise RuntimeError(f"Theano cannot use device={device}: {said}") from None
        if record.getMessage().startswith("pygpu was configured but could not be imported"):
            raise RuntimeError(
                f"Theano cannot use device={device}: pygpu is not installed (make cuda)"
            ) from None
        return True

    logging.getLogger("theano.gpuarray").addFilter(refuse)


def forward_shadowed_optdb(gpuarray_optdb):
    """``theano.gpuarray.use`` tags the optimizer database ``theano.compile.optdb``, by the
    name ``optdb``, which the package's own submodule ``theano.gpuarray.optdb`` has taken
    over by then; so ``device=cuda`` fails. The submodule forwards ``add_tags``."""
    if hasattr(gpuarray_optdb, "add_tags"):
        return
    from theano.compile import optdb

    gpuarray_optdb.add_tags = optdb.add_tags


def pass_fgraph_to_gpu_makers(opt_util):
    """``op_lifter``'s local optimizer calls each GPU maker as ``maker(op, context_name,
    inputs, outputs)``, but the makers take the graph first (as ``GraphToGPU`` calls them):
    every local lift to the GPU fails with a logged TypeError and the op stays on the CPU.
    Rebuilt from its own source with the graph passed."""
    call = "maker(node.op, context_name, node.inputs, node.outputs)"
    source = inspect.getsource(opt_util.op_lifter)
    if call not in source:
        return
    fixed = source.replace(call, "maker(fgraph, node.op, context_name, node.inputs, node.outputs)")
    exec(compile(fixed, opt_util.__file__, "exec"), opt_util.__dict__)


def numpy_version():
    """numpy's (major, minor), without importing more of numpy than its version."""
    from numpy.version import short_version

    return tuple(int(part) for part in short_version.split(".")[:2])


def without_numpy_distutils(source):
    """``numpy.distutils`` is gone on Python 3.12 and later. Theano imports it at start-up,
    only to ask numpy's header folder, which ``numpy.get_include()`` gives; where it is
    gone, that is what the source asks instead."""
    if importlib.util.find_spec("numpy.distutils") is not None:
        return source
    source = source.replace("import numpy.distutils\n", "import numpy\n")
    return source.replace(
        "numpy.distutils.misc_util.get_numpy_include_dirs()", "[numpy.get_include()]"
    )


# numpy 1.24 removed its aliases of Python's own types; Theano-PyMC and pygpu still use three.
NUMPY_TYPE_ALIASES = re.compile(r"\bnp\.(int|complex|bool)\b")


# A cast's constructor, ``np.bool`` for a cast to bool, which numpy 1.24 to 1.26 lack.
CAST_CTOR = "getattr(np, o_type.dtype)"


def without_numpy_type_aliases(source):
    """``np.int``, ``np.complex`` and ``np.bool`` were Python's ``int``, ``complex`` and
    ``bool``; numpy 1.24 removed them (numpy 2 brought ``np.bool`` back, as ``np.bool_``), and
    Theano-PyMC and pygpu use them, at import too (Theano also as ``getattr(np, "bool")``).
    Where they are gone, the source names Python's own."""
    numpy = numpy_version()
    if numpy < (1, 24):
        return source
    source = NUMPY_TYPE_ALIASES.sub(r"\1", source)
    if numpy < (2, 0):
        source = source.replace(CAST_CTOR, f'(bool if o_type.dtype == "bool" else {CAST_CTOR})')
    return source


NUMPY2_ITEMSIZE = re.compile(r"PyArray_DESCR\(([^()]*)\)->elsize")
NUMPY2_PY3K = """
#ifndef NPY_PY3K
#define NPY_PY3K 1
#endif
#ifndef PyInt_Check
#define PyInt_Check PyLong_Check
#define PyInt_AsLong PyLong_AsLong
#define PyInt_FromLong PyLong_FromLong
#endif
"""


def c_for_numpy2(code, numpy_major):
    """The C code Theano generates, as numpy 2's headers take it: ``PyArray_Descr`` keeps its
    item size behind ``PyArray_ITEMSIZE`` (in numpy 1 too), and ``npy_3kcompat.h`` no longer
    defines ``NPY_PY3K`` and the ``PyInt_*`` names, without which the lazy linker's C does
    not compile and Theano falls back to its slow Python loop. PyTensor made the same moves.
    Unchanged for numpy 1."""
    if numpy_major < 2:
        return code
    code = NUMPY2_ITEMSIZE.sub(r"PyArray_ITEMSIZE(\1)", code)
    include = '#include "numpy/npy_3kcompat.h"\n'
    return code.replace(include, include + NUMPY2_PY3K)


def compile_c_for_numpy2(cmodule):
    """Every module Theano compiles goes through ``GCC_compiler.compile_str``: the generated
    C is rewritten there (``c_for_numpy2``), on numpy 2 only."""
    numpy_major = numpy_version()[0]
    if numpy_major < 2:
        return
    compile_str = cmodule.GCC_compiler.compile_str

    @functools.wraps(compile_str)
    def compile_rewritten(module_name, src_code, *args, **kwargs):
        return compile_str(module_name, c_for_numpy2(src_code, numpy_major), *args, **kwargs)

    cmodule.GCC_compiler.compile_str = staticmethod(compile_rewritten)


# Under the environment's lib/: where `make cuda` links the CUDA libraries libgpuarray opens.
CUDA_LINKS = "gpuarray-cuda"


def preload_nvrtc_builtins(pygpu):
    """NVRTC 11+ opens its builtins (``libnvrtc-builtins.so.N.M``) by bare name through the
    loader's path, where CUDA's wheels and a CUDA_HOME outside ld.so.conf are not. Loaded
    here by full path from the links ``make cuda`` made, the loader finds it by that name."""
    import ctypes

    for builtins in sorted(Path(sys.prefix, "lib", CUDA_LINKS).glob("libnvrtc-builtins*")):
        ctypes.CDLL(str(builtins))


AFTER_IMPORT = {
    "theano": [alias_theano_gof],
    "theano.configdefaults": [gpu_failure_is_an_error],
    "pygpu": [preload_nvrtc_builtins],
    "theano.gpuarray.optdb": [forward_shadowed_optdb],
    "theano.gpuarray.opt_util": [pass_fgraph_to_gpu_makers],
    "theano.sandbox.rng_mrg": [alias_mrg_random_streams],
    "theano.tensor.elemwise": [fix_openmp_pragma],
    "theano.link.c.basic": [version_empty_props],
    "theano.link.c.cmodule": [compile_c_for_numpy2],
    "lasagne.nonlinearities": [add_elu],
}
IF_MISSING = {"theano.tensor.signal.downsample": make_downsample}
REWRITTEN = {
    "theano.link.c.cmodule": [without_numpy_distutils],
    "theano.tensor.blas": [without_numpy_distutils],
    "theano.tensor.random.basic": [without_numpy_type_aliases],
    "theano.scalar.basic": [without_numpy_type_aliases],
    "theano.tensor.basic": [without_numpy_type_aliases],
    "pygpu.dtypes": [without_numpy_type_aliases],
}
REFUSED = {"theano.scan.scan_perform_ext": scan_extension_unbuildable}


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader, patches):
        self.loader, self.patches = loader, patches

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        for patch in self.patches:
            patch(module)


class _RewritingLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module from its source as the rewrites leave it, never from nor into its
    bytecode cache (which holds the source as it is); a source they leave as it is loads as
    usual."""

    def __init__(self, spec, rewrites):
        super().__init__(spec.name, spec.origin)
        self.rewrites = rewrites

    def get_code(self, fullname):
        source = original = self.get_source(fullname)
        for rewrite in self.rewrites:
            source = rewrite(source)
        if source == original:
            return super().get_code(fullname)
        return compile(source, self.path, "exec", dont_inherit=True)


class _MadeLoader(importlib.abc.Loader):
    def __init__(self, make):
        self.make = make

    def create_module(self, spec):
        return self.make()

    def exec_module(self, module):
        pass


class _RefusingLoader(importlib.abc.Loader):
    def __init__(self, reason):
        self.reason = reason

    def exec_module(self, module):
        raise ImportError(self.reason, name=module.__name__)


class PatchingFinder(importlib.abc.MetaPathFinder):
    """Finds the mended modules through the normal path machinery, then mends them."""

    def find_spec(self, name, path, target=None):
        refused = REFUSED.get(name)
        if refused is not None and refused():
            return importlib.util.spec_from_loader(name, _RefusingLoader(refused.__doc__))
        if name not in AFTER_IMPORT and name not in IF_MISSING and name not in REWRITTEN:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None and name in IF_MISSING:
            return importlib.util.spec_from_loader(name, _MadeLoader(IF_MISSING[name]))
        if spec is not None and name in REWRITTEN:
            spec.loader = _RewritingLoader(spec, REWRITTEN[name])
        if spec is not None and name in AFTER_IMPORT:
            spec.loader = _PatchingLoader(spec.loader, AFTER_IMPORT[name])
        return spec


def install():
    """Put the hook first on ``sys.meta_path`` (once); warn if it is too late for a module."""
    if any(isinstance(finder, PatchingFinder) for finder in sys.meta_path):
        return
    early = sorted(name for name in {**AFTER_IMPORT, **REWRITTEN} if name in sys.modules)
    if early:
        print(
            f"legacy.compat: imported before the bridge, left unpatched: {early}", file=sys.stderr
        )
    sys.meta_path.insert(0, PatchingFinder())
