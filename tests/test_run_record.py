"""run_record: metrics.json's numbers are what the notebook printed; the environment it names
is the interpreter's, asked the same way in-process and in a kernel."""

import contextlib
import io
import json

import numpy as np

import run_record

HISTORICAL_FORWARD = (
    "[array(-565.9327392578125, dtype=float32), array(-554.8701171875, dtype=float32), "
    "array(11.062651634216309, dtype=float32)]"
)
HISTORICAL_EPOCH = (
    "Epoch 0\tTrain: LL: -98.8\tKL -72.1\tlogpx: 26.7\tValid: LL: -101.5\tKL -75.0\tlogpx: 26.5"
)


def test_parse_printed_reads_the_notebooks_prints():
    metrics = run_record.parse_printed(HISTORICAL_FORWARD + "\n" + HISTORICAL_EPOCH + "\n")
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
    assert run_record.parse_printed("nothing printed") == {"forward_pass": None, "epochs": []}


def test_environment_code_prints_environment_and_leaves_no_names():
    """What a kernel runs (ENVIRONMENT_CODE) prints environment(), as JSON, and cleans up."""
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(run_record.ENVIRONMENT_CODE, namespace)
    assert json.loads(printed.getvalue()) == run_record.environment()
    assert set(namespace) == {"__builtins__"}
    assert set(run_record.environment()["theano_config"]) == set(run_record.THEANO_SETTINGS)


def test_parse_printed_reads_todays_numpy_repr_too():
    """numpy's post-2017 repr (shortest float32 digits) parses to the same float32 values."""
    today = (
        "[array(-565.93274, dtype=float32), array(-554.8701, dtype=float32), "
        "array(11.062652, dtype=float32)]\n"
    )
    parsed = run_record.parse_printed(today)["forward_pass"]
    historical = run_record.parse_printed(HISTORICAL_FORWARD)["forward_pass"]
    assert np.float32(parsed).tolist() == np.float32(historical).tolist()
