"""The historical comparison: band arithmetic, the compare gate, the replay's substitutions,
its report.

Fast: no notebook runs. compare.py is fed metrics files made from the committed
band; band.py's arithmetic is checked on synthetic metrics.
"""

import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import REPO

import notebook_cells
import run_record
from historical import band, compare, gpu_report, replay, replay_report

SHARED = REPO.parent / "shared" / "historical" / "summercamp2016_lab6.json"


def reference():
    return json.loads(band.BAND.read_text(encoding="utf-8"))


def metrics_at_means(reference):
    """A finished run whose every number is the band's mean."""
    return {
        "status": "ok",
        "failure": None,
        "seed": None,
        "wall_seconds": 45.0,
        "forward_pass": [
            reference["forward_pass"][name]["mean"] for name in run_record.FORWARD_NAMES
        ],
        "epochs": [
            {"epoch": e["epoch"], **{name: e[name]["mean"] for name in run_record.EPOCH_NAMES}}
            for e in reference["epochs"]
        ],
        "environment": reference["versions"],
    }


def run_folder(tmp_path, metrics):
    folder = tmp_path / "run"
    folder.mkdir()
    text = metrics if isinstance(metrics, str) else json.dumps(metrics)
    (folder / "metrics.json").write_text(text, encoding="utf-8")
    return folder


def test_compare_passes_at_the_band_means(tmp_path, capsys):
    folder = run_folder(tmp_path, metrics_at_means(reference()))
    assert compare.main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert "compare: PASS" in out
    assert "| epoch 9 train_LL |" in out
    report = (folder / "comparison.md").read_text()
    assert "Verdict: **PASS**" in report
    assert "2016 forward pass (informational, not gated)" in report
    assert (folder / "comparison.png").stat().st_size > 0


def test_compare_fails_ten_sd_off(tmp_path, capsys):
    band_file = reference()
    metrics = metrics_at_means(band_file)
    spread = band_file["epochs"][-1]["train_LL"]
    metrics["epochs"][-1]["train_LL"] -= 10 * max(spread["sd"], compare.SD_FLOOR)
    folder = run_folder(tmp_path, metrics)
    assert compare.main([str(folder), "--out", str(tmp_path / "report")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("compare: FAIL: 1 gated number(s) outside ±3.7 sd")
    assert "epoch 9 train_LL, -10.0 sd" in error
    assert "Verdict: **FAIL**" in (tmp_path / "report" / "comparison.md").read_text()


def test_an_ungated_epoch_off_the_band_does_not_fail(tmp_path):
    band_file = reference()
    metrics = metrics_at_means(band_file)
    metrics["epochs"][0]["train_LL"] -= 10 * max(
        band_file["epochs"][0]["train_LL"]["sd"], compare.SD_FLOOR
    )
    rows = compare.verdicts(metrics, band_file, 3)
    assert [row.label for row in rows if not row.inside] == ["epoch 0 train_LL"]
    assert compare.outside(rows) == []


def test_sd_floor_guards_a_zero_spread():
    band_file = reference()
    band_file["forward_pass"]["KL"]["sd"] = 0.0
    metrics = metrics_at_means(band_file)
    metrics["forward_pass"][2] += 0.2
    row = compare.verdicts(metrics, band_file, 3)[2]
    assert row.label == "forward KL"
    assert row.off == pytest.approx(0.2 / compare.SD_FLOOR)
    assert row.inside


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "compare: no metrics.json in"),
        ("{not json", "is not valid JSON"),
        (
            {"status": "failed", "failure": {"cell": 9, "error": "ValueError: boom"}},
            "compare: the run failed at cell 9: ValueError: boom",
        ),
        ({"status": "ok", "forward_pass": None, "epochs": []}, "has no forward pass"),
        ({"status": "ok", "forward_pass": ["a", "b", "c"], "epochs": []}, "has no forward pass"),
        ({"status": "ok", "forward_pass": [1.0, 2.0, 3.0], "epochs": []}, "has no epoch lines"),
    ],
)
def test_compare_rejects_a_bad_run(tmp_path, capsys, content, message):
    folder = tmp_path / "run"
    folder.mkdir()
    if content is not None:
        text = content if isinstance(content, str) else json.dumps(content)
        (folder / "metrics.json").write_text(text)
    assert compare.main([str(folder)]) == 1
    error = capsys.readouterr().err.strip()
    assert message in error
    assert "\n" not in error
    assert not (folder / "comparison.md").exists()


def with_change(change):
    """The band-means run with change(metrics) applied."""
    metrics = metrics_at_means(reference())
    change(metrics)
    return metrics


def set_epoch(e, value):
    return lambda metrics: metrics["epochs"].__setitem__(e, value)


def set_field(e, name, value):
    return lambda metrics: metrics["epochs"][e].__setitem__(name, value)


def drop_field(e, name):
    return lambda metrics: metrics["epochs"][e].pop(name)


def set_key(key, value):
    return lambda metrics: metrics.__setitem__(key, value)


MALFORMED = {
    "null epoch": (set_epoch(3, None), "epoch 3 is null, not an object of six numbers"),
    "epoch a list": (
        set_epoch(0, [1, 2, 3, 4, 5, 6]),
        "epoch 0 is [1, 2, 3, 4, 5, 6], not an object of six numbers",
    ),
    "epoch a string": (
        set_epoch(9, "Epoch 9 Train: LL: -103.4"),
        'epoch 9 is "Epoch 9 Train: LL: -103.4", not an object of six numbers',
    ),
    "missing field": (drop_field(9, "valid_KL"), "epoch 9 has no number for valid_KL (missing)"),
    "null field": (set_field(2, "train_LL", None), "epoch 2 has no number for train_LL (null)"),
    "string field": (
        set_field(9, "train_KL", "26.6"),
        'epoch 9 has no number for train_KL ("26.6")',
    ),
    "bool field": (set_field(5, "train_LL", True), "epoch 5 has no number for train_LL (true)"),
    "nested field": (
        set_field(9, "valid_LL", {"value": -104.5}),
        'epoch 9 has no number for valid_LL ({"value": -104.5})',
    ),
    "huge integer": (
        set_field(9, "valid_LL", 10**400),
        "epoch 9 has no number for valid_LL (" + "1" + "0" * 36 + "...)",
    ),
    "bool forward pass": (
        set_key("forward_pass", [True, -555.0, 8.8]),
        "has no forward pass [LL, logpx, KL] (got [true, -555.0, 8.8])",
    ),
    "forward pass of two": (
        set_key("forward_pass", [-564.0, -555.0]),
        "has no forward pass [LL, logpx, KL] (got [-564.0, -555.0])",
    ),
    "epochs an object": (set_key("epochs", {"0": {}}), "has no epoch lines"),
    "no status": (lambda metrics: metrics.pop("status"), "has status missing"),
    "odd status": (set_key("status", "running"), 'has status "running"'),
    "failure a string": (
        lambda metrics: metrics.update(status="failed", failure="kernel died"),
        "compare: the run failed: kernel died",
    ),
    "failure null": (
        lambda metrics: metrics.update(status="failed", failure=None),
        "compare: the run failed: no error recorded",
    ),
    "failure at cell 0": (
        lambda metrics: metrics.update(status="failed", failure={"cell": 0, "error": "E"}),
        "compare: the run failed at cell 0: E",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_record_is_one_line_not_a_traceback(tmp_path, capsys, case):
    change, message = MALFORMED[case]
    folder = run_folder(tmp_path, with_change(change))
    assert compare.main([str(folder)]) == 1
    captured = capsys.readouterr()
    error = captured.err
    assert message in error
    assert error.startswith("compare: ") and error.count("\n") == 1
    assert captured.out == ""
    assert not (folder / "comparison.md").exists()


def test_malformed_epochs_given_straight_to_verdicts_are_refused():
    metrics = with_change(set_epoch(4, None))
    with pytest.raises(run_record.RecordError, match="^the run: epoch 4 is null, not an object"):
        compare.verdicts(metrics, reference(), 3)


def test_odd_optional_fields_still_give_a_verdict_and_a_report(tmp_path, capsys):
    metrics = metrics_at_means(reference())
    metrics.update(environment=None, seed="x", wall_seconds="12 s")
    folder = run_folder(tmp_path, metrics)
    assert compare.main([str(folder)]) == 0
    assert "compare: PASS" in capsys.readouterr().out
    report = (folder / "comparison.md").read_text()
    assert '- run: seed x, "12 s" s, Python None' in report


@pytest.mark.parametrize(
    "x, plain, signed",
    [
        (-103.44, "-103.4", "-103.4"),
        (26.65, "26.6", "+26.6"),  # the float is 26.6499...: as the notebook's %0.1f
        (0, "0.0", "+0.0"),
        (float("nan"), "nan", "nan"),
        (float("inf"), "inf", "+inf"),
        (float("-inf"), "-inf", "-inf"),
        (-1e30, "-1.0e+30", "-1.0e+30"),
        (123456.7, "123456.7", "+123456.7"),
    ],
)
def test_numbers_are_shown_to_one_decimal(x, plain, signed):
    assert compare.fmt(x) == plain
    assert compare.fmt(x, sign=True) == signed
    if math.isfinite(x) and abs(x) < 1e6:
        assert plain == "%0.1f" % x  # noqa: UP031 (the notebook's own format)


def test_nan_inf_and_diverged_rows_read_as_such(tmp_path, capsys):
    band_file = reference()
    metrics = metrics_at_means(band_file)
    metrics["forward_pass"][0] = float("inf")
    metrics["epochs"][9]["train_LL"] = float("nan")
    metrics["epochs"][9]["valid_KL"] = float("-inf")
    metrics["epochs"][4]["train_KL"] = 1e30
    folder = run_folder(tmp_path, metrics)  # json.dumps writes NaN and Infinity, as run_notebook
    assert compare.main([str(folder)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()

    def row(label):
        (line,) = [line for line in lines if line.startswith(f"| {label} |")]
        return line

    def band_cell(spread):
        return f"{spread['mean']:.1f} ± {spread['sd']:.2f}"

    last = band_file["epochs"][9]
    assert row("forward LL") == (
        f"| forward LL | inf | {band_cell(band_file['forward_pass']['LL'])} | +inf | +inf sd off |"
    )
    assert row("epoch 9 train_LL") == (
        f"| epoch 9 train_LL | nan | {band_cell(last['train_LL'])} | nan | not a number |"
    )
    assert row("epoch 9 valid_KL") == (
        f"| epoch 9 valid_KL | -inf | {band_cell(last['valid_KL'])} | -inf | -inf sd off |"
    )
    assert row("epoch 4 train_KL").startswith("| epoch 4 train_KL | 1.0e+30 | ")
    assert row("epoch 4 train_KL").endswith(" sd off (not gated) |")
    for text in (captured.out, captured.err, (folder / "comparison.md").read_text()):
        assert not re.search(r"\d{8}", text), "a number shown with 8 or more digits"
    assert captured.err == (
        "compare: FAIL: 3 gated number(s) outside ±3.7 sd of the band "
        f"(worst: epoch 9 train_LL, not a number); see {folder / 'comparison.md'}\n"
    )
    assert (folder / "comparison.png").stat().st_size > 0


def test_unwritable_report_still_gives_the_verdict(tmp_path, capsys, monkeypatch):
    folder = run_folder(tmp_path, metrics_at_means(reference()))
    real_write = Path.write_text

    def read_only(path, *args, **kwargs):
        if path.parent == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", read_only)
    assert compare.main([str(folder)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"compare: could not write the report into {folder} (Permission denied); "
        "pass --out DIR to write it elsewhere\n"
    )
    assert "| epoch 9 train_LL |" in captured.out
    assert captured.out.endswith("compare: PASS: every gated number inside ±3.7 sd\n")


@pytest.mark.parametrize("below", ["", "report"])
def test_report_below_a_file_is_one_line_and_the_verdict_stands(tmp_path, capsys, below):
    band_file = reference()
    metrics = metrics_at_means(band_file)
    metrics["epochs"][-1]["train_LL"] -= 10 * max(
        band_file["epochs"][-1]["train_LL"]["sd"], compare.SD_FLOOR
    )
    folder = run_folder(tmp_path, metrics)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / below if below else blocker
    assert compare.main([str(folder), "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"compare: could not write the report into {out} ({blocker} is a file, not a folder); "
        "pass --out DIR to write it elsewhere",
        "compare: FAIL: 1 gated number(s) outside ±3.7 sd of the band "
        "(worst: epoch 9 train_LL, -10.0 sd off)",
    ]
    assert blocker.read_text() == ""


@contextlib.contextmanager
def read_only(folder):
    """Make folder unwritable, for root too where chattr +i works; skip where nothing does."""
    os.chmod(folder, 0o555)
    immutable = False
    try:
        probe = folder / ".probe"
        try:
            probe.write_text("")
        except PermissionError:
            yield
            return
        probe.unlink()
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)]).returncode:
            pytest.skip("cannot make a folder read-only here (root, and no chattr +i)")
        immutable = True
        yield
    finally:
        if immutable:
            subprocess.run([shutil.which("chattr"), "-i", str(folder)], check=True)
        os.chmod(folder, 0o755)


def test_read_only_run_folder_subprocess(tmp_path):
    folder = run_folder(tmp_path, metrics_at_means(reference()))
    with read_only(folder):
        done = subprocess.run(
            [sys.executable, str(REPO / "historical" / "compare.py"), str(folder)],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert not (folder / "comparison.md").exists()
    assert done.returncode == 0
    assert done.stderr.startswith(f"compare: could not write the report into {folder} (")
    assert done.stderr.endswith("); pass --out DIR to write it elsewhere\n")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stdout.endswith("compare: PASS: every gated number inside ±3.7 sd\n")


def test_compare_rejects_a_run_with_fewer_epochs(tmp_path, capsys):
    metrics = metrics_at_means(reference())
    metrics["epochs"] = metrics["epochs"][:3]
    assert compare.main([str(run_folder(tmp_path, metrics))]) == 1
    assert "the run printed 3 epochs, the band has 10" in capsys.readouterr().err


def synthetic_run(seed, shift):
    return {
        "seed": seed,
        "wall_seconds": 40.0 + seed,
        "forward_pass": [-566.0 + shift, -555.0 + shift, 11.0],
        "epochs": [
            {
                "epoch": e,
                **{name: -100.0 + e + shift * i for i, name in enumerate(run_record.EPOCH_NAMES)},
            }
            for e in range(3)
        ],
        "environment": {"python": "3.11.7", "theano": "1.1.2", "lasagne": "0.1", "numpy": "1.23.5"},
    }


def test_band_aggregates_mean_and_sample_sd(tmp_path):
    shifts = [0.0, 1.0, 2.0, 5.0]
    runs = [synthetic_run(seed, shift) for seed, shift in enumerate(shifts, 1)]
    folders = [tmp_path / f"run{seed}" for seed in range(1, 5)]
    data = band.band(runs, folders)
    assert data["n"] == 4 and data["seeds"] == [1, 2, 3, 4]
    assert [r["folder"] for r in data["runs"]] == ["run1", "run2", "run3", "run4"]
    assert data["forward_pass"]["LL"]["mean"] == pytest.approx(-566.0 + 2.0)
    assert data["forward_pass"]["LL"]["sd"] == pytest.approx(statistics.stdev(shifts), abs=1e-3)
    assert data["forward_pass"]["KL"] == {"mean": 11.0, "sd": 0.0, "values": [11.0] * 4}
    valid_kl = data["epochs"][2]["valid_KL"]  # shift * 4 on top of -100 + 2
    assert valid_kl["mean"] == pytest.approx(-98.0 + 4 * 2.0)
    assert valid_kl["sd"] == pytest.approx(4 * statistics.stdev(shifts), abs=1e-3)
    assert data["versions"]["theano"] == "1.1.2"
    assert set(data["machine"]) == {"platform", "cpu", "cores"}


def test_band_refuses_mixed_or_too_few_runs():
    with pytest.raises(ValueError, match="at least 2 runs"):
        band.aggregate([synthetic_run(1, 0.0)])
    short = synthetic_run(2, 0.0)
    short["epochs"] = short["epochs"][:2]
    with pytest.raises(ValueError, match="different numbers of epochs"):
        band.aggregate([synthetic_run(1, 0.0), short])
    other = synthetic_run(2, 0.0)
    other["environment"]["theano"] = "0.9"
    with pytest.raises(ValueError, match="same versions"):
        band.band([synthetic_run(1, 0.0), other], [Path("a"), Path("b")])


def test_committed_band_is_from_enough_real_runs():
    band_file = reference()
    assert band_file["n"] >= 4
    assert band_file["seeds"] == list(range(1, band_file["n"] + 1))
    assert len(band_file["epochs"]) == 10
    assert all(len(v["values"]) == band_file["n"] for v in band_file["forward_pass"].values())


def test_substitutions_apply_exactly_once_to_the_notebook():
    cells = notebook_cells.code_cells()
    changed = replay.substituted(cells)
    assert changed[notebook_cells.MODEL].count("DenseLayer(l_in_z, num_units=500") == 1
    assert "num_epochs = 40" in changed[notebook_cells.TRAIN]
    different = [i for i, (a, b) in enumerate(zip(cells, changed, strict=True)) if a != b]
    assert different == [notebook_cells.MODEL, notebook_cells.TRAIN]


@pytest.mark.parametrize("old, count", [("num_epochs = 30", 0), ("num_units=256", 4)])
def test_a_substitution_that_does_not_match_once_fails_loudly(old, count):
    with pytest.raises(ValueError, match=f"matches {count} times.*expected exactly once"):
        replay.substituted(notebook_cells.code_cells(), [(old, "x")])


def test_replay_pairs_epoch_29_with_printed_2016_epoch_0():
    historical = json.loads(replay.HISTORICAL.read_text())
    epochs = [
        {"epoch": e, **{name: -90.0 for name in run_record.EPOCH_NAMES}}
        for e in range(replay.EPOCHS)
    ]
    data = replay.result({"forward_pass": [-1.0, -1.0, 0.0], "epochs": epochs}, 1.0, 1, historical)
    first = data["compared"][0]
    assert (first["epoch"], first["printed_2016_epoch"]) == (29, 0)
    assert first["difference"]["train_LL"] == pytest.approx(-90.0 - -98.8)
    assert data["largest_train_LL_difference"]["difference"] == pytest.approx(-90.0 - -98.8)
    assert len(data["compared"]) == 10 and data["over_tolerance"]


def test_historical_copy_equals_the_shared_file():
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not on this machine")
    assert (REPO / "historical" / "summercamp2016_lab6.json").read_bytes() == SHARED.read_bytes()


def test_the_gate_is_a_prediction_interval_for_one_new_run():
    assert compare.prediction_limit(3, 10**6) == pytest.approx(3.0, abs=1e-3)
    assert compare.prediction_limit(3, 16) == pytest.approx(3.70, abs=0.01)
    assert compare.prediction_limit(3, 4) > compare.prediction_limit(3, 6) > 3.7


def test_committed_band_summary_is_made_from_the_committed_band():
    """reference_band.md, which the README links, is band.summary of reference_band.json."""
    data = json.loads(band.BAND.read_text(encoding="utf-8"))
    assert band.BAND.with_suffix(".md").read_text(encoding="utf-8") == band.summary(data)


def test_committed_replay_report_is_made_from_the_committed_replay():
    """replay.md, which the README links, is replay_report.markdown of replay.json."""
    data = json.loads((replay.HERE / "replay.json").read_text(encoding="utf-8"))
    historical = json.loads(replay.HISTORICAL.read_text(encoding="utf-8"))
    expected = replay_report.markdown(data, historical)
    assert (replay.HERE / "replay.md").read_text(encoding="utf-8") == expected


def gpu_pair(tmp_path, shift=0.0, stderr="", gpu=True, seeds=(1, 1)):
    """A GPU run and a CPU run of the band's means (the GPU's moved by ``shift``), each with
    its stdout and executed notebook; the GPU notebook's stderr says ``stderr``."""
    folders = []
    for name, seed, offset in [("gpu", seeds[0], shift), ("cpu", seeds[1], 0.0)]:
        metrics = metrics_at_means(reference())
        metrics["seed"], metrics["notebook"] = seed, "/x/vae_exercise.ipynb"
        metrics["forward_pass"] = [v + offset for v in metrics["forward_pass"]]
        for e in metrics["epochs"]:
            e["train_LL"] += offset
        metrics["cell_seconds"] = [1.0] * notebook_cells.TRAIN + [40.0 if name == "gpu" else 20.0]
        if gpu and name == "gpu":
            metrics["environment"] = {**metrics["environment"], "gpu": dict.fromkeys(
                ["name", "architecture", "driver", "cuda", "nvrtc", "cublas"], "x")}  # fmt: skip
        (tmp_path / name).mkdir()
        folder = run_folder(tmp_path / name, metrics)
        f = metrics["forward_pass"]
        lines = [f"[array({f[0]!r}, dtype=float32), array({f[1]!r}, dtype=float32), "
                 f"array({f[2]!r}, dtype=float32)]"]  # fmt: skip
        lines += [
            f"Epoch {e['epoch']}\tTrain: LL: {e['train_LL']:.1f}\tKL {e['train_KL']:.1f}"
            for e in metrics["epochs"]
        ]
        (folder / "stdout.txt").write_text("\n".join(lines) + "\n")
        cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
            "stream", name="stderr", text=stderr if name == "gpu" else "")])  # fmt: skip
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), folder / "vae_exercise.ipynb")
        folders.append(folder)
    return folders


def test_gpu_report_sets_each_line_beside_the_cpus(tmp_path, capsys):
    gpu, cpu = gpu_pair(tmp_path, shift=0.25)
    assert gpu_report.main([str(gpu), str(cpu), "--out", str(tmp_path / "r.md")]) == 0
    report = (tmp_path / "r.md").read_text()
    assert "band verdict on the GPU run (historical/compare.py): PASS" in report
    assert "seconds per epoch: GPU 4.00, CPU 2.00" in report
    assert "identical to the CPU's: 0 of 11" in report
    assert "| epoch 9 | 0.25 |" in report and "the CPU computed them" not in report


def test_gpu_report_calls_out_a_graph_left_on_the_cpu(tmp_path, capsys):
    line = "ERROR (theano.graph.opt): Optimization failure due to: local_gpua_dot22\n"
    gpu, cpu = gpu_pair(tmp_path, stderr=line * 3)
    assert gpu_report.main([str(gpu), str(cpu), "--out", str(tmp_path / "r.md")]) == 1
    report = (tmp_path / "r.md").read_text()
    assert "optimizer failed on the GPU run, leaving ops on the CPU: local_gpua_dot22 (3)" in report
    assert "every line is the CPU's to the last digit: the CPU computed them" in report


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gpu": False}, "did not run on a GPU (its record names none)"),
        ({"seeds": (1, 2)}, "seeds 1 and 2: not one seed"),
    ],
)
def test_gpu_report_refuses_runs_it_cannot_compare_in_one_line(tmp_path, capsys, kwargs, message):
    gpu, cpu = gpu_pair(tmp_path, **kwargs)
    assert gpu_report.main([str(gpu), str(cpu), "--out", str(tmp_path / "r.md")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "r.md").exists()


def test_a_number_that_is_not_finite_fails_the_run_in_any_epoch(tmp_path, capsys):
    metrics = metrics_at_means(reference())
    metrics["epochs"][3]["train_LL"] = float("nan")
    assert compare.main([str(run_folder(tmp_path, metrics))]) == 1
    assert "(worst: epoch 3 train_LL, not a number)" in capsys.readouterr().err


@pytest.mark.parametrize("k", ["0", "-1", "nan", "inf"])
def test_a_coverage_that_is_no_coverage_is_refused(tmp_path, capsys, k):
    folder = run_folder(tmp_path, metrics_at_means(reference()))
    assert compare.main([str(folder), "--k", k]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a number above 0" in err
    assert not (folder / "comparison.md").exists()


def test_a_band_of_one_run_is_refused(tmp_path, capsys):
    band_file = {**reference(), "n": 1}
    (tmp_path / "band.json").write_text(json.dumps(band_file))
    folder = run_folder(tmp_path, metrics_at_means(reference()))
    assert compare.main([str(folder), "--band", str(tmp_path / "band.json")]) == 1
    assert capsys.readouterr().err.endswith("holds 1 run(s); a spread needs at least 2\n")
