"""The committed notebook is the 2016 original: its cells export to the seed text byte for byte."""

import json

import pytest
from conftest import REPO

NOTEBOOK = REPO / "vae_exercise.ipynb"
SEED = REPO / "tests" / "data" / "vae_exercise_seed.txt"
SHARED_SEED = REPO.parent / "shared" / "seed" / "vae_exercise_seed.txt"


def export(notebook):
    """The seed's format: cells joined by blank-line pairs, code after an `In [None]:` line."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    parts = []
    for cell in cells:
        source = "".join(cell["source"])
        parts.append("In [None]:\n" + source if cell["cell_type"] == "code" else source)
    return "\n\n".join(parts)


def test_notebook_exports_to_the_seed_byte_for_byte():
    assert export(NOTEBOOK).encode("utf-8") == SEED.read_bytes()


@pytest.mark.skipif(not SHARED_SEED.exists(), reason="no ../shared/seed beside this clone")
def test_test_data_is_the_shared_seed():
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


def test_notebook_is_clean_and_names_the_project_kernel():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "vae-legacy"
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert len(code) == 10
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)


def test_markdown_boundaries_are_the_text_not_comments():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    starts = [m.splitlines()[0] for m in markdown]
    assert starts == [
        "# Variational Autoencoders (VAE)",
        "Construct the lasagne layer.",
        "Train the model.",
        "## Assignments",
    ]
