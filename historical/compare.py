"""Judge one run of the notebook against our reference band and show the 2016 forward pass.

Users run the old notebook to see whether it still gives what it gave. The only
fair yardstick for a 10-epoch run is our own band (``band.py``: the same
notebook, N seeds, the pinned stack): every number gets a verdict, inside
the band or how many sd off. "Inside" is a prediction interval for one new run,
at the coverage of ±k sd of a normal (k = 3: 99.73%): the band's mean and sd are
estimates from N runs, so the half-width is Student's t(N − 1) · sd · √(1 + 1/N),
about 3.7 sd for N = 16, not 3 sd, which honest runs fall outside too often.
The 2016 outputs are shown too, but only the forward pass is printed by both,
and the 2016 one came from a larger decoder, so it is informational and never
gates.

Only the forward pass and the final epoch gate, and any number that is not finite.
The band's sds come from a few seeds and are rough, above all for the one-sample valid
numbers; held
to 3 sd, 63 numbers would fail an honest run now and then, so the earlier
epochs get a verdict for the eye only.

  python historical/compare.py RUN_FOLDER [--band FILE] [--k 3] [--out DIR]

Writes ``comparison.md`` and ``comparison.png`` into the run folder (or DIR),
prints the table, and exits 1 with a one-line message when a gated number is
outside the band or the run's metrics.json is missing, failed or garbled. A
report it cannot write (a read-only run folder) costs one line on stderr, not
the verdict. Numbers are shown as the notebook prints them, to one decimal
(nan and inf as such).
"""

import argparse
import json
import math
import sys
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import scipy.stats  # noqa: E402

import run_record  # noqa: E402
from historical import band  # noqa: E402

HERE = Path(__file__).resolve().parent
HISTORICAL = HERE / "summercamp2016_lab6.json"
# The notebook prints one decimal, so a spread below this is rounding, not a measurement.
SD_FLOOR = 0.1
GATE = "the forward pass and the final epoch's six numbers"


class Row(NamedTuple):
    """One compared number and its verdict."""

    label: str
    value: float
    mean: float
    sd: float
    off: float  # (value - mean) / max(sd, SD_FLOOR)
    inside: bool
    gated: bool


class Mismatch(Exception):
    """The run and the band cannot be set side by side: they have different epochs."""


def fmt(x, sign=False):
    """A number as the notebook prints it: one decimal, nan and inf as such.

    Beyond a million (a diverged run) it is shown as -1.0e+30, not 31 digits.
    """
    if math.isnan(x):
        return "nan"
    if math.isfinite(x) and abs(x) >= 1e6:
        return f"{x:+.1e}" if sign else f"{x:.1e}"
    return f"{x:+.1f}" if sign else f"{x:.1f}"


def verdicts(metrics, reference, k):
    """A Row per number: the forward pass, then every epoch's six numbers."""
    if len(metrics["epochs"]) != len(reference["epochs"]):
        raise Mismatch(
            f"the run printed {len(metrics['epochs'])} epochs, "
            f"the band has {len(reference['epochs'])}"
        )
    pairs = [
        (f"forward {name}", metrics["forward_pass"][i], reference["forward_pass"][name], True)
        for i, name in enumerate(run_record.FORWARD_NAMES)
    ]
    run_record.check_epochs(metrics["epochs"], "the run")
    last = len(reference["epochs"]) - 1
    for e, (ours, theirs) in enumerate(zip(metrics["epochs"], reference["epochs"], strict=True)):
        for name in run_record.EPOCH_NAMES:
            pairs.append((f"epoch {e} {name}", ours[name], theirs[name], e == last))
    limit = prediction_limit(k, reference["n"])
    rows = []
    for label, value, spread, gated in pairs:
        off = (value - spread["mean"]) / max(spread["sd"], SD_FLOOR)
        # A number that is not finite fails the run wherever it is, gated epoch or not.
        gated = gated or not math.isfinite(value)
        rows.append(Row(label, value, spread["mean"], spread["sd"], off, abs(off) <= limit, gated))
    return rows


def prediction_limit(k, n):
    """Half-width, in band sds, of the interval a new run falls in with the normal ±k coverage."""
    coverage = math.erf(k / math.sqrt(2))
    return scipy.stats.t.ppf((1 + coverage) / 2, n - 1) * math.sqrt(1 + 1 / n)


def outside(rows):
    """The gated rows outside the band."""
    return [row for row in rows if row.gated and not row.inside]


def how_far(row):
    """How far off the band a row is, in words: "+4.2 sd off", or "not a number"."""
    return "not a number" if math.isnan(row.off) else f"{fmt(row.off, sign=True)} sd off"


def worst(rows):
    """The row furthest off the band, a nan before any number."""
    return max(
        rows, key=lambda row: (math.isnan(row.off), 0 if math.isnan(row.off) else abs(row.off))
    )


def table(rows):
    lines = [
        "| number | run | band mean ± sd | off (sd) | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        verdict = "inside" if row.inside else how_far(row)
        verdict += "" if row.gated else " (not gated)"
        lines.append(
            f"| {row.label} | {fmt(row.value)} | {fmt(row.mean)} ± {row.sd:.2f} | "
            f"{fmt(row.off, sign=True)} | {verdict} |"
        )
    return "\n".join(lines)


def historical_table(metrics, reference):
    forward = json.loads(HISTORICAL.read_text(encoding="utf-8"))["forward_pass"]
    lines = [
        "| number | run | 2016 | run − 2016 | band mean ± sd |",
        "|---|---:|---:|---:|---:|",
    ]
    for i, name in enumerate(run_record.FORWARD_NAMES):
        spread = reference["forward_pass"][name]
        ours = metrics["forward_pass"][i]
        lines.append(
            f"| forward {name} | {fmt(ours)} | {fmt(forward[name])} | "
            f"{fmt(ours - forward[name], sign=True)} | {fmt(spread['mean'])} ± {spread['sd']:.2f} |"
        )
    return "\n".join(lines), forward["caveat"]


def plot(metrics, reference, limit, path):
    """LL and KL per epoch, train and valid: the band's mean ± limit·sd shaded, the run as
    dots (``limit``: the prediction limit, in band sds)."""
    epochs = [e["epoch"] for e in reference["epochs"]]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, quantity in zip(axes, ["LL", "KL"], strict=True):
        for split, colour in [("train", "tab:red"), ("valid", "tab:blue")]:
            name = f"{split}_{quantity}"
            mean = [e[name]["mean"] for e in reference["epochs"]]
            sd = [max(e[name]["sd"], SD_FLOOR) for e in reference["epochs"]]
            axis.fill_between(
                epochs,
                [m - limit * s for m, s in zip(mean, sd, strict=True)],
                [m + limit * s for m, s in zip(mean, sd, strict=True)],
                color=colour,
                alpha=0.2,
                label=f"band {split} ± {limit:.1f} sd",
            )
            axis.plot(epochs, mean, color=colour, linewidth=1)
            axis.plot(epochs, [e[name] for e in metrics["epochs"]], "o", color=colour, ms=4)
        axis.set_xlabel("epoch")
        axis.set_ylabel(quantity)
        axis.legend(loc="best")
    axes[0].set_title("LL: run (dots) against the band")
    axes[1].set_title("KL: run (dots) against the band")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def report(folder, metrics, reference, rows, limit):
    """comparison.md: the verdict, the rule (``limit``: the prediction limit, in band sds),
    every number's row and the 2016 forward pass."""
    failed = outside(rows)
    historical, caveat = historical_table(metrics, reference)
    gated = sum(row.gated for row in rows)
    env, versions, box = metrics.get("environment"), reference["versions"], reference["machine"]
    env = env if isinstance(env, dict) else {}
    wall = metrics.get("wall_seconds")
    wall = fmt(wall) if run_record.is_number(wall) else run_record.shown(wall)
    return f"""# Run {Path(folder).name} against the reference band

Verdict: **{"FAIL" if failed else "PASS"}**: {len(failed)} of {gated} gated numbers outside \
±{limit:.1f} sd of the band.

- run: seed {metrics.get("seed")}, {wall} s, Python {env.get("python")}, \
Theano {env.get("theano")}, Lasagne {env.get("lasagne")}, numpy {env.get("numpy")}
- band: N = {reference["n"]} runs of the unchanged notebook, seeds {reference["seeds"]}, \
{reference["date"]}, Python {versions["python"]}, Theano {versions["theano"]}, \
Lasagne {versions["lasagne"]}, numpy {versions["numpy"]}, {box["cpu"]} ({box["cores"]} cores)
- rule: a number is inside when |run − mean| ≤ {limit:.2f} · sd (a Student-t prediction \
interval for one new run, N = {reference["n"]}, 99.73% coverage), sd being the band's sample sd \
with a floor of {SD_FLOOR} nat (the notebook prints one decimal, so a smaller spread is \
rounding); gated: {GATE}; the other epochs get a verdict but do not gate.

![LL and KL against the band](comparison.png)

{table(rows)}

## The 2016 forward pass (informational, not gated)

{historical}

Caveat: {caveat}; this notebook's first decoder layer has 256 units, so the 2016
numbers come from a different network at random initialisation. The 2016
training log is a continuation of a longer run and is not comparable with a
10-epoch run at all; `historical/replay.py` reproduces it instead.
"""


def why_unwritable(folder, error):
    """The reason a report could not be written into folder, in a few words."""
    for path in [folder, *folder.parents]:
        if path.exists():  # the nearest existing one
            if not path.is_dir():
                return f"{path} is a file, not a folder"
            break
    return error.strerror or str(error)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder holding metrics.json")
    parser.add_argument("--band", type=Path, default=band.BAND)
    parser.add_argument(
        "--k", type=float, default=3.0, help="coverage of ±k sd of a normal (3: 99.73%%)"
    )
    parser.add_argument("--out", type=Path, help="where the report goes (default: the run)")
    args = parser.parse_args(argv)
    if not args.band.is_file():
        print(
            f"compare: no band file {args.band}; make one with historical/band.py", file=sys.stderr
        )
        return 1
    if not (math.isfinite(args.k) and args.k > 0):
        print(f"compare: --k is the normal coverage ±k sd, a number above 0, not {args.k}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        reference = json.loads(args.band.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"compare: cannot read the band file {args.band} ({error})", file=sys.stderr)
        return 1
    if not (isinstance(reference.get("n"), int) and reference["n"] >= 2):
        print(f"compare: the band {args.band} holds {reference.get('n')} run(s); "
              "a spread needs at least 2", file=sys.stderr)  # fmt: skip
        return 1
    try:
        metrics = run_record.read_finished(args.run)
        rows = verdicts(metrics, reference, args.k)
    except (run_record.RecordError, Mismatch) as error:
        print(f"compare: {error}", file=sys.stderr)
        return 1
    out = args.out or args.run
    limit = prediction_limit(args.k, reference["n"])
    print(table(rows))
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(report(args.run, metrics, reference, rows, limit))
        plot(metrics, reference, limit, out / "comparison.png")
        see = f"; see {out / 'comparison.md'}"
    except OSError as error:
        print(
            f"compare: could not write the report into {out} ({why_unwritable(out, error)}); "
            "pass --out DIR to write it elsewhere",
            file=sys.stderr,
        )
        see = ""
    failed = outside(rows)
    if failed:
        far = worst(failed)
        print(
            f"compare: FAIL: {len(failed)} gated number(s) outside ±{limit:.1f} sd of the band "
            f"(worst: {far.label}, {how_far(far)}){see}",
            file=sys.stderr,
        )
        return 1
    print(f"compare: PASS: every gated number inside ±{limit:.1f} sd{see}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
