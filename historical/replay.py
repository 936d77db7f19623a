"""Replay the 2016 training log with the notebook's own code and say how close it comes.

The one training log that survives from 2016 was printed by a longer run of a
slightly different notebook: its first decoder layer was bigger (DECODER_UNITS), and
its printed epochs continued a run already some epochs in (``replay_verdict.FIRST``).
The committed notebook's own run cannot be compared with it; this script makes
the run that can. It executes the committed notebook's code cells in-process
(``notebook_cells``), changed only by the declared SUBSTITUTIONS below, each of
which must match exactly once: the bigger decoder layer and EPOCHS epochs.
``replay_verdict`` pairs our epochs with the printed ones and judges the
differences; ``replay_report`` draws the tables and the plot.

Choice: the EPOCHS epochs run straight through, parameters and Adam state kept. In
2016 the continuation recompiled the functions, so Adam's moments and step
count restarted at the printed epoch 0; we do not mimic that, because how many
epochs preceded it is only known roughly, and a restart is a small transient.

The cells that only draw digits are skipped (CELLS are the others); numpy is seeded
(--seed, default 1) before the first cell. Writes replay.json (the data), replay.md
(the tables, substitutions and caveats) and replay.png next to this file, and exits
1 when a difference is over its tolerance. It takes about 1.5 minutes: not for CI.

  python historical/replay.py [--seed 1] [--lock /tmp/vae-cpu.lock] [--out DIR]
"""

import argparse
import io
import json
import os
import sys
import time
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import cpu_lock  # noqa: E402
import notebook_cells  # noqa: E402
import run_record  # noqa: E402
from historical import replay_report, replay_verdict  # noqa: E402

HERE = Path(__file__).resolve().parent
HISTORICAL = HERE / "summercamp2016_lab6.json"
DECODER_UNITS = 500  # the 2016 run's first decoder layer
EPOCHS = 40  # enough to reach our epoch FIRST + COMPARED - 1
SUBSTITUTIONS = [
    (
        "l_dec = DenseLayer(l_in_z, num_units=256",
        f"l_dec = DenseLayer(l_in_z, num_units={DECODER_UNITS}",
    ),
    ("num_epochs = 10", f"num_epochs = {EPOCHS}"),
]
CELLS = [
    notebook_cells.IMPORTS,
    notebook_cells.DATA,
    notebook_cells.HELPERS,
    notebook_cells.MODEL,
    notebook_cells.FUNCTIONS,
    notebook_cells.FORWARD,
    notebook_cells.TRAIN,
]


def substituted(cells, substitutions=SUBSTITUTIONS):
    """The cells with each (old, new) applied; each old must occur exactly once in all cells."""
    cells = list(cells)
    for old, new in substitutions:
        where = [i for i, cell in enumerate(cells) for _ in range(cell.count(old))]
        if len(where) != 1:
            raise ValueError(
                f"substitution {old!r} matches {len(where)} times in the notebook's code cells, "
                "expected exactly once"
            )
        cells[where[0]] = cells[where[0]].replace(old, new)
    return cells


class Tee(io.StringIO):
    """Keeps what is printed and passes it on, so progress shows as it comes."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def write(self, text):
        self.stream.write(text)
        self.stream.flush()
        return super().write(text)


def run(seed):
    """Run the substituted cells in-process; return (parsed metrics, wall seconds)."""
    cells = substituted(notebook_cells.code_cells())
    os.chdir(notebook_cells.NOTEBOOK.parent)  # where its cells find mnist.npz
    np.random.seed(seed)
    shell = notebook_cells.new_shell()
    printed = Tee(sys.stdout)
    start = time.perf_counter()
    with redirect_stdout(printed):
        for index in CELLS:
            print(f"[cell {index + 1}] {cells[index].strip().splitlines()[0]}", file=sys.stderr)
            notebook_cells.run_cells(shell, [cells[index]])
    wall = time.perf_counter() - start
    plt.close("all")
    metrics = run_record.parse_printed(printed.getvalue())
    if metrics["forward_pass"] is None or len(metrics["epochs"]) != EPOCHS:
        raise RuntimeError(f"expected the forward pass and {EPOCHS} epoch lines in the output")
    return metrics, wall


def result(metrics, wall, seed, historical):
    """replay.json: what was run, on what, and how close it came to the 2016 log."""
    rows = replay_verdict.paired_epochs(metrics, historical)
    forward = historical["forward_pass"]
    environment = run_record.environment()
    return {
        "what": "the 2016 training log replayed by the committed notebook's cells, substituted",
        "date": date.today().isoformat(),
        "seed": seed,
        "wall_seconds": round(wall, 1),
        "versions": {name: environment[name] for name in run_record.VERSIONS},
        "machine": run_record.machine(),
        "substitutions": [{"old": old, "new": new} for old, new in SUBSTITUTIONS],
        "cells_run": [index + 1 for index in CELLS],
        "continuation": f"{EPOCHS} epochs straight through, parameters and Adam state kept; "
        f"our epoch {replay_verdict.FIRST}+k stands for the printed 2016 epoch k",
        "tolerance_nats": replay_verdict.TOLERANCE,
        "tolerance_why": replay_verdict.WHY,
        "forward_pass": {
            "ours": dict(zip(run_record.FORWARD_NAMES, metrics["forward_pass"], strict=True)),
            "2016": {name: forward[name] for name in run_record.FORWARD_NAMES},
        },
        "compared": rows,
        "largest_train_LL_difference": replay_verdict.largest(rows, "train_LL"),
        "largest_valid_LL_difference": replay_verdict.largest(rows, "valid_LL"),
        "over_tolerance": replay_verdict.over_tolerance(rows),
        "epochs": metrics["epochs"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="numpy seed before the first cell")
    parser.add_argument("--lock", type=Path, help="flock this file while training")
    parser.add_argument("--out", type=Path, default=HERE, help="where replay.* go")
    args = parser.parse_args(argv)
    historical = json.loads(HISTORICAL.read_text(encoding="utf-8"))
    with cpu_lock.held(args.lock):
        metrics, wall = run(args.seed)
    data = result(metrics, wall, args.seed, historical)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replay.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (args.out / "replay.md").write_text(replay_report.markdown(data, historical), encoding="utf-8")
    replay_report.plot(data, args.out / "replay.png")
    train, valid = replay_report.tables(data)
    print(f"{train}\n\n{valid}")
    worst = data["largest_train_LL_difference"]
    print(
        f"replay: largest train LL difference {worst['difference']:+.1f} at epoch {worst['epoch']}"
    )
    if data["over_tolerance"]:
        print(f"replay: over tolerance: {', '.join(data['over_tolerance'])}", file=sys.stderr)
        return 1
    print(f"replay: every difference within tolerance; wrote {args.out / 'replay.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
