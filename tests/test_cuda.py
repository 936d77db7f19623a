"""The notebook's forward pass on the GPU (device=cuda), where pygpu and a GPU exist.

Theano-PyMC's GPU backend needs pygpu/libgpuarray, published only on conda-forge
(environment-cuda.yml). The project's own machines have neither, so here this
test is skipped, and says why.
"""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

GPU_FORWARD = """
import numpy as np, theano
import notebook_cells
ns = notebook_cells.build_model(notebook_cells.new_shell())
x = (np.random.RandomState(0).rand(500, 784) < 0.2).astype("float32")
LL, logpx, KL = (float(v) for v in ns["f_train"](x))
ops = {type(node.op).__name__ for node in ns["f_train"].maker.fgraph.toposort()}
print(theano.config.device, LL, logpx, KL, any(op.startswith("Gpu") for op in ops))
"""


def gpu_missing():
    if importlib.util.find_spec("pygpu") is None:
        return "pygpu is not installed (conda-forge only: environment-cuda.yml)"
    smi = shutil.which("nvidia-smi")
    if smi is None or subprocess.run([smi, "-L"], capture_output=True).returncode != 0:
        return "no NVIDIA GPU visible (nvidia-smi -L fails or is missing)"
    return None


@pytest.mark.skipif(gpu_missing() is not None, reason=str(gpu_missing()))
def test_forward_pass_on_the_gpu():
    env = {**os.environ, "THEANO_FLAGS": "device=cuda"}
    out = subprocess.run(
        [sys.executable, "-c", GPU_FORWARD], capture_output=True, text=True, cwd=REPO, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    device, LL, logpx, KL, on_gpu = out.stdout.split()[-5:]
    assert device.startswith("cuda") and on_gpu == "True"
    assert float(LL) == pytest.approx(float(logpx) - float(KL), rel=1e-5, abs=1e-3)
    assert float(KL) >= 0
