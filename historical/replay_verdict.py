"""How close the replay comes to the 2016 log: our epochs paired with the printed ones,
the differences, and which of them are over their tolerance.

The printed 2016 log continued a run already about FIRST epochs in
(``summercamp2016_lab6.json``'s caveats), so our epoch FIRST + k stands for the printed
2016 epoch k, for the first COMPARED printed epochs.
"""

import run_record

FIRST = 29  # our epoch standing for the printed 2016 epoch 0
COMPARED = 10
TOLERANCE = {"train": 1.0, "valid": 3.0}
WHY = {
    "train": "a train number is a mean over 781 minibatches (50,000 images), so its own noise "
    "is a few hundredths of a nat; what is left is the seed, the stack and the unknown "
    "history before the 2016 continuation; 1 nat is 1% of the LL",
    "valid": "a valid number is one sample of the ELBO on 500 images binarised afresh each run; "
    "in the 2016 log alone valid LL jumps by up to 1.1 nats from one epoch to the next while "
    "train LL moves by at most 0.2, and another binarisation shifts it further",
}


def paired_epochs(metrics, historical):
    """Our epochs FIRST.. against the printed 2016 epochs 0.., with differences."""
    rows = []
    for k in range(COMPARED):
        ours = metrics["epochs"][FIRST + k]
        theirs = historical["training_log"]["epochs"][k]
        rows.append(
            {
                "epoch": FIRST + k,
                "printed_2016_epoch": theirs["printed_epoch"],
                "ours": {name: ours[name] for name in run_record.EPOCH_NAMES},
                "2016": {name: theirs[name] for name in run_record.EPOCH_NAMES},
                "difference": {
                    name: round(ours[name] - theirs[name], 1) + 0.0  # no -0.0
                    for name in run_record.EPOCH_NAMES
                },
            }
        )
    return rows


def largest(rows, name):
    """Where the difference in ``name`` is largest, and how large it is there."""
    row = max(rows, key=lambda row: abs(row["difference"][name]))
    return {
        "epoch": row["epoch"],
        "printed_2016_epoch": row["printed_2016_epoch"],
        "difference": row["difference"][name],
    }


def over_tolerance(rows):
    """The differences over their tolerance, as "epoch E name"."""
    return [
        f"epoch {row['epoch']} {name}"
        for row in rows
        for name in run_record.EPOCH_NAMES
        if abs(row["difference"][name]) > TOLERANCE[name.split("_")[0]]
    ]
