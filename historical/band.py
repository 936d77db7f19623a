"""Our own reference band: what the unchanged notebook prints today, over several seeds.

The notebook never seeds its random numbers, so one run alone cannot tell a
real change from luck. This script runs the unchanged notebook N times (seeds
1..N, through run_notebook's seed option) on the pinned stack and keeps, for the
forward pass and every epoch's train/valid LL, KL and logpx, the mean, the
sample sd and the N values, with the versions, the machine, the seeds and the
date: ``historical/reference_band.json``. ``compare.py`` judges a run against it.

  python historical/band.py [--n 16] [--runs-dir runs/band] [--lock /tmp/vae-cpu.lock]
  python historical/band.py --summary    # only rewrite reference_band.md from the JSON

Beside the JSON it writes ``reference_band.md``: the forward pass and the final epoch,
mean ± sd, the table the README links.

With ``--lock FILE`` each run holds an exclusive ``flock`` on FILE while it
executes, so other CPU-heavy jobs sharing the machine can interleave.
"""

import argparse
import json
import statistics
import sys
from datetime import date
from pathlib import Path

import cpu_lock
import run_notebook
import run_record

HERE = Path(__file__).resolve().parent
BAND = HERE / "reference_band.json"
# What every run of a band must share.
VERSIONS = [*run_record.VERSIONS, "theano_config"]


def spread(values):
    """Mean, sample sd (N-1) and the values themselves, rounded as stored."""
    return {
        "mean": round(statistics.mean(values), 3),
        "sd": round(statistics.stdev(values), 3),
        "values": values,
    }


def aggregate(runs):
    """Per-number mean ± sd over the metrics of ``runs`` (dicts as in metrics.json)."""
    if len(runs) < 2:
        raise ValueError(f"a band needs at least 2 runs, got {len(runs)}")
    epochs = {len(run["epochs"]) for run in runs}
    if len(epochs) != 1:
        raise ValueError(f"the runs printed different numbers of epochs: {sorted(epochs)}")
    return {
        "forward_pass": {
            name: spread([run["forward_pass"][i] for run in runs])
            for i, name in enumerate(run_record.FORWARD_NAMES)
        },
        "epochs": [
            {
                "epoch": e,
                **{
                    name: spread([run["epochs"][e][name] for run in runs])
                    for name in run_record.EPOCH_NAMES
                },
            }
            for e in range(epochs.pop())
        ],
    }


def band(runs, folders):
    """The band file's content: the aggregate plus where and how it was made."""
    versions = [{key: run["environment"].get(key) for key in VERSIONS} for run in runs]
    if any(v != versions[0] for v in versions):
        raise ValueError("the runs did not all use the same versions and Theano settings")
    return {
        "what": "mean, sample sd (N-1) and values over N seeded runs of the unchanged notebook",
        "date": date.today().isoformat(),
        "n": len(runs),
        "seeds": [run["seed"] for run in runs],
        "runs": [
            {"seed": run["seed"], "folder": folder.name, "wall_seconds": run["wall_seconds"]}
            for run, folder in zip(runs, folders, strict=True)
        ],
        "versions": versions[0],
        "machine": run_record.machine(),
        **aggregate(runs),
    }


def summary(data):
    """The band at a glance, markdown: forward pass and final epoch, mean ± sd."""
    last = data["epochs"][-1]
    forward = data["forward_pass"]
    rows = []
    for quantity in ("LL", "KL", "logpx"):
        train, valid = last[f"train_{quantity}"], last[f"valid_{quantity}"]
        rows.append(
            f"| {quantity} | {train['mean']:.1f} ± {train['sd']:.2f} "
            f"| {valid['mean']:.1f} ± {valid['sd']:.2f} |"
        )
    versions = data["versions"]
    return (
        f"# Reference band: {data['n']} runs, numpy seeds "
        f"{data['seeds'][0]}-{data['seeds'][-1]}\n\n"
        f"Made {data['date']} by `historical/band.py` on {data['machine']['cpu']} "
        f"({data['machine']['cores']} cores): Python {versions['python']}, Theano "
        f"{versions['theano']}, Lasagne {versions['lasagne']}, numpy {versions['numpy']}; "
        f"gcc flags `{versions['theano_config']['gcc__cxxflags']}`. The data: "
        f"[`reference_band.json`](reference_band.json).\n\n"
        f"Final epoch (epoch {last['epoch']}), mean ± sd:\n\n"
        "| | train | valid |\n|---|---:|---:|\n" + "\n".join(rows) + "\n\n"
        "Forward pass at random initialisation: "
        + ", ".join(
            f"{name} {forward[name]['mean']:.1f} ± {forward[name]['sd']:.1f}"
            for name in run_record.FORWARD_NAMES
        )
        + ".\n"
    )


def write(data, out):
    """The band's JSON at ``out`` and its summary beside it (``.md``)."""
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(summary(data), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=16, help="number of runs, seeds 1..N (>= 4)")
    parser.add_argument("--runs-dir", type=Path, default=run_notebook.REPO / "runs" / "band")
    parser.add_argument("--lock", type=Path, help="flock this file around each run")
    parser.add_argument("--out", type=Path, default=BAND)
    parser.add_argument("--summary", action="store_true", help="only rewrite the .md from --out")
    args = parser.parse_args(argv)
    if args.summary:
        write(json.loads(args.out.read_text(encoding="utf-8")), args.out)
        print(f"band: wrote {args.out.with_suffix('.md')}")
        return 0
    if args.n < 4:
        parser.error("--n must be at least 4")
    runs, folders = [], []
    for seed in range(1, args.n + 1):
        print(f"band: run {seed}/{args.n} (seed {seed})", file=sys.stderr, flush=True)
        try:
            with cpu_lock.held(args.lock):
                folder, failure = run_notebook.run(
                    run_notebook.REPO / "vae_exercise.ipynb", args.runs_dir, seed=seed
                )
        except run_notebook.RunError as error:
            print(f"band: {error}", file=sys.stderr)
            return 2
        if failure:
            print(f"band: seed {seed} failed ({failure['error']}); see {folder}", file=sys.stderr)
            return 1
        metrics = run_record.read(folder)
        last = metrics["epochs"][-1]
        print(
            f"band: seed {seed} done in {metrics['wall_seconds']:.1f} s: forward LL "
            f"{metrics['forward_pass'][0]:.1f}, final train LL {last['train_LL']:.1f}, "
            f"valid LL {last['valid_LL']:.1f}",
            file=sys.stderr,
            flush=True,
        )
        runs.append(metrics)
        folders.append(folder)
    write(band(runs, folders), args.out)
    print(f"band: wrote {args.out} from {args.n} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
