"""The unchanged notebook runs headless on the project kernel; its run folder holds what it did.

The notebook runs on a small synthetic, digit-like ``mnist.npz`` (no real MNIST
needed), in a temporary copy of its folder.
"""

import json
import math
from pathlib import Path

import nbformat
import pytest
from conftest import WARNING_LINE, copy_of_notebook

import notebook_cells
import run_notebook

REPO = Path(__file__).resolve().parents[1]
HISTORICAL_FORWARD = (
    "[array(-565.9327392578125, dtype=float32), array(-554.8701171875, dtype=float32), "
    "array(11.062651634216309, dtype=float32)]"
)
HISTORICAL_EPOCH = (
    "Epoch 0\tTrain: LL: -98.8\tKL -72.1\tlogpx: 26.7\tValid: LL: -101.5\tKL -75.0\tlogpx: 26.5"
)


def test_parse_metrics_reads_the_notebooks_prints():
    metrics = run_notebook.parse_metrics(HISTORICAL_FORWARD + "\n" + HISTORICAL_EPOCH + "\n")
    assert metrics["forward_pass"] == [-565.9327392578125, -554.8701171875, 11.062651634216309]
    assert metrics["epochs"] == [
        {
            "epoch": 0,
            "train_LL": -98.8,
            "train_KL": -72.1,
            "train_logpx": 26.7,
            "valid_LL": -101.5,
            "valid_KL": -75.0,
            "valid_logpx": 26.5,
        }
    ]
    assert run_notebook.parse_metrics("nothing printed") == {"forward_pass": None, "epochs": []}


def test_forward_pass_of_the_unchanged_notebook(notebook_folder, tmp_path):
    """CI's smoke test: the notebook's own cells up to and including `print  f_train(x_valid)`."""
    notebook = copy_of_notebook(notebook_folder, "forward.ipynb", notebook_cells.FORWARD)
    folder, failure = run_notebook.run(notebook, tmp_path / "runs")
    assert failure is None
    metrics = json.loads((folder / "metrics.json").read_text())
    LL, logpx, KL = metrics["forward_pass"]
    assert all(math.isfinite(v) for v in (LL, logpx, KL))
    assert LL == pytest.approx(logpx - KL, rel=1e-5, abs=1e-3)
    assert KL >= 0
    assert metrics["environment"]["theano_config"]["floatX"] == "float32"


def test_whole_notebook_end_to_end(notebook_folder, tmp_path, capfd):
    notebook = copy_of_notebook(notebook_folder, "vae_exercise.ipynb")
    status = run_notebook.main(
        ["--notebook", str(notebook), "--runs", str(tmp_path / "runs"), "--no-data", "--seed", "4"]
    )
    assert status == 0
    # What `make run` shows: the cells and their prints, and no warning, the kernel's own
    # included (its stderr is ours), such as ipykernel's about unencrypted TCP.
    out, err = capfd.readouterr()
    assert "[cell 10/10]" in err and "Epoch 9\tTrain" in err
    assert not WARNING_LINE.findall(out + err), out + err
    (folder,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["seed"] == 4
    assert [e["epoch"] for e in metrics["epochs"]] == list(range(10))
    for e in metrics["epochs"]:
        for split in ("train", "valid"):
            LL, KL, logpx = e[f"{split}_LL"], e[f"{split}_KL"], e[f"{split}_logpx"]
            assert all(math.isfinite(v) for v in (LL, KL, logpx))
            assert abs(LL - (logpx - KL)) <= 0.15  # three numbers each rounded to 0.1
            assert KL >= 0
    assert metrics["epochs"][-1]["train_LL"] > metrics["epochs"][0]["train_LL"]
    assert len(metrics["figures"]) == 5
    assert all(
        (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in metrics["figures"]
    )
    assert "Epoch 9\tTrain: LL:" in (folder / "stdout.txt").read_text()
    assert "MNIST handwritten" in (folder / "vae_exercise.html").read_text()
    executed = nbformat.read(folder / "vae_exercise.ipynb", as_version=4)
    assert [c.source for c in executed.cells] == [
        c.source for c in nbformat.read(notebook_cells.NOTEBOOK, as_version=4).cells
    ]


def test_a_failing_cell_stops_the_run_and_names_its_line(tmp_path, capsys):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("print 'first'"),
            nbformat.v4.new_code_cell("x = 1\ny = 0\nz = x / y\nprint 'never'"),
            nbformat.v4.new_code_cell("print 'not reached'"),
        ],
        metadata={"kernelspec": {"name": "vae-legacy", "display_name": "", "language": "python"}},
    )
    notebook = tmp_path / "broken.ipynb"
    nbformat.write(nb, notebook)
    status = run_notebook.main(
        ["--notebook", str(notebook), "--runs", str(tmp_path / "runs"), "--no-data"]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert "cell 2, line 3: z = x / y" in err
    assert "ZeroDivisionError" in err
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-failed")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] == "failed"
    assert metrics["failure"]["cell"] == 2
    assert (folder / "stdout.txt").read_text() == "first\n"
