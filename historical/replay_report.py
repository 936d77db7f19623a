"""replay.md and replay.png: the replay's data (replay.json) as tables and a plot."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import notebook_cells  # noqa: E402
import run_record  # noqa: E402

PLOT_FROM = 20  # the plot's first epoch: some epochs before the compared ones, then them


def tables(data):
    """Two markdown tables, train and valid: ours, 2016 and the difference per quantity."""
    out = []
    for split in ["train", "valid"]:
        names = [f"{split}_{q}" for q in ["LL", "KL", "logpx"]]
        head = " | ".join(f"{n} ours | 2016 | Δ" for n in names)
        lines = [f"| epoch (2016) | {head} |", "|---" + "|---:" * 9 + "|"]
        for row in data["compared"]:
            cells = " | ".join(
                f"{row['ours'][n]:.1f} | {row['2016'][n]:.1f} | {row['difference'][n]:+.1f}"
                for n in names
            )
            lines.append(f"| {row['epoch']} ({row['printed_2016_epoch']}) | {cells} |")
        out.append("\n".join(lines))
    return out


def forward_table(data):
    """The forward pass, ours and 2016's (same decoder, at random initialisation)."""
    lines = ["| forward pass | ours | 2016 | Δ |", "|---|---:|---:|---:|"]
    for name in run_record.FORWARD_NAMES:
        ours, theirs = data["forward_pass"]["ours"][name], data["forward_pass"]["2016"][name]
        lines.append(f"| {name} | {ours:.1f} | {theirs:.1f} | {ours - theirs:+.1f} |")
    return "\n".join(lines)


def markdown(data, historical):
    """replay.md: what was run, the verdict, the tables, and the 2016 record's caveats."""
    train, valid = tables(data)
    code_cells = len(notebook_cells.code_cells())
    first, last = data["compared"][0]["epoch"], data["epochs"][-1]["epoch"]
    tolerance, why = data["tolerance_nats"], data["tolerance_why"]
    worst = data["largest_train_LL_difference"]
    substitutions = "\n".join(f"- `{s['old']}` → `{s['new']}`" for s in data["substitutions"])
    caveats = "\n".join(f"- {c}" for c in historical["training_log"]["caveats"])
    versions = ", ".join(f"{name} {version}" for name, version in data["versions"].items())
    verdict = (
        "every difference within its tolerance"
        if not data["over_tolerance"]
        else f"over tolerance: {', '.join(data['over_tolerance'])}"
    )
    return f"""# Replaying the 2016 training log

The committed notebook's code cells ({", ".join(map(str, data["cells_run"]))} of {code_cells}; the
others only draw digits), run in-process with numpy seeded to {data["seed"]}, with exactly
these substitutions, each matching once:

{substitutions}

Training: {data["continuation"]}. The 2016 run recompiled its functions, so Adam
restarted, after roughly {first} epochs; we do not mimic the restart.

**Result: {verdict}.** Largest train LL difference: {worst["difference"]:+.1f} nats
(our epoch {worst["epoch"]}, printed 2016 epoch {worst["printed_2016_epoch"]}).

Tolerances on |ours − 2016|:

- train ±{tolerance["train"]} nat: {why["train"]};
- valid ±{tolerance["valid"]} nats: {why["valid"]}.

![our epochs {PLOT_FROM}-{last} and the 2016 log](replay.png)

## Train

{train}

## Valid

{valid}

## Forward pass (the substituted, 2016-sized decoder, at random initialisation; informational)

{forward_table(data)}

## Caveats from the 2016 record

{caveats}

Made {data["date"]} in {data["wall_seconds"]} s on {data["machine"]["cpu"]}
({data["machine"]["cores"]} cores); {versions}.
"""


def plot(data, path):
    """LL, KL and logpx: our epochs PLOT_FROM.. as lines, 2016 as squares with tolerance bars."""
    ours = data["epochs"][PLOT_FROM:]
    tolerance = data["tolerance_nats"]
    x = [e["epoch"] for e in ours]
    x2016 = [row["epoch"] for row in data["compared"]]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for axis, quantity in zip(axes, ["LL", "KL", "logpx"], strict=True):
        for split, colour in [("train", "tab:red"), ("valid", "tab:blue")]:
            name = f"{split}_{quantity}"
            axis.plot(x, [e[name] for e in ours], color=colour, label=f"ours {split}")
            axis.errorbar(
                x2016,
                [row["2016"][name] for row in data["compared"]],
                yerr=tolerance[split],
                fmt="s",
                color=colour,
                alpha=0.5,
                ms=4,
                capsize=2,
                label=f"2016 {split} ± {tolerance[split]:g}",
            )
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel(f"epoch (2016 printed epoch k at {x2016[0]}+k)")
        axis.set_title(quantity)
        axis.legend(loc="best", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
