"""historical/side_by_side.py: the notebook on today's stack and the 2016 stack, line by line."""

import re

import pytest
from conftest import copy_of_notebook

import notebook_cells
import run_record
from historical import side_by_side

# The 2016 repr of the forward pass: numpy 1.11 prints a float32 0-d array at float64 repr.
FORWARD_2016 = re.compile(r"\[(array\(-?\d+\.\d{7,}, dtype=float32\)(, )?){3}\]")


def test_verdict_line_by_line():
    lines, differ = side_by_side.verdict(["a", "b", "c"], ["a", "B", "c", "d"])
    assert differ == 2
    assert lines == [
        "  1 identical  a",
        "  2 DIFFERS",
        "      today: b",
        "      2016:  B",
        "  3 identical  c",
        "  4 DIFFERS",
        "      today: (no line)",
        "      2016:  d",
    ]
    assert side_by_side.verdict(["x"], ["x"]) == (["  1 identical  x"], 0)


@pytest.mark.parametrize("seed", [1, 2])
def test_forward_pass_is_byte_identical_on_both_stacks(stack_2016, notebook_folder, tmp_path, seed):
    """CI's check of the 2016 stack: the notebook up to its forward-pass print, one seed."""
    notebook = copy_of_notebook(notebook_folder, "forward.ipynb", notebook_cells.FORWARD)
    runs = tmp_path / "runs"
    argv = ["--seed", str(seed), "--notebook", str(notebook), "--runs", str(runs), "--no-data"]
    assert side_by_side.main(argv) == 0
    folders = {}
    for folder in runs.iterdir():
        metrics = run_record.read(folder)
        folders[metrics["stack"]] = folder
        assert metrics["seed"] == seed
    assert set(folders) == {"today", "2016"}
    today, then = ((folders[s] / "stdout.txt").read_text() for s in ("today", "2016"))
    assert today == then and FORWARD_2016.fullmatch(today.strip()), today
    report = (folders["today"] / f"side-by-side-seed{seed}.md").read_text()
    assert f"1 of 1 printed lines identical (numpy seed {seed})" in report
    python = run_record.read(folders["2016"])["environment"]["python"]
    assert python.startswith("2.7.")


def test_a_run_that_cannot_start_is_one_line(stack_2016, tmp_path, capsys):
    runs = tmp_path / "a-file"
    runs.write_text("not a folder")
    argv = ["--seed", "1", "--runs", str(runs), "--no-data"]
    assert side_by_side.main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"side_by_side: {runs} is a file, not a folder for runs"
    )
