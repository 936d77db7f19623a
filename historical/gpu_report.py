"""A GPU run of the notebook next to a CPU run of the same seed, as a committed report.

    python historical/gpu_report.py GPU_RUN CPU_RUN --out historical/side_by_side/gpu-seed1.md

GPU arithmetic differs from the CPU's in the last bits, so identical lines are not
expected: each printed number gets its distance from the CPU run's, the GPU run gets
compare.py's band verdict, each run its seconds per epoch, and the GPU run's stderr is
searched for Theano's optimizer failures, which leave ops on the CPU. Lines identical to
the CPU's to the last digit are called out: on a GPU, they mean the CPU computed them.
Exit 1 when a run is not a finished run of the same seed, the GPU run is not on a GPU,
Theano's optimizer failed on it, or the band verdict fails.
"""

import argparse
import json
import sys
from pathlib import Path

import nbformat

import notebook_cells
import run_record
from historical import band, compare

OPT_FAILURE = "Optimization failure due to: "


class NotComparable(Exception):
    """Two runs that cannot be set side by side, said in one line."""


def seconds_per_epoch(metrics):
    train = metrics["cell_seconds"][notebook_cells.TRAIN]
    return train / len(metrics["epochs"])


def optimizer_failures(folder, metrics):
    """{optimization: count} of Theano's logged optimizer failures in the run's stderr."""
    path = Path(folder) / Path(metrics["notebook"]).name
    if not path.is_file():
        raise NotComparable(f"{folder} holds no executed notebook ({path.name})")
    nb = nbformat.read(path, as_version=4)
    failed = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("name") == "stderr":
                for line in out["text"].splitlines():
                    if OPT_FAILURE in line:
                        name = line.split(OPT_FAILURE, 1)[1].strip()
                        failed[name] = failed.get(name, 0) + 1
    return failed


def read_pair(gpu, cpu):
    runs = {name: run_record.read_finished(folder) for name, folder in [("GPU", gpu), ("CPU", cpu)]}
    if runs["GPU"]["seed"] is None or runs["GPU"]["seed"] != runs["CPU"]["seed"]:
        raise NotComparable(f"seeds {runs['GPU']['seed']} and {runs['CPU']['seed']}: not one seed")
    if "gpu" not in runs["GPU"]["environment"]:
        raise NotComparable(f"{gpu} did not run on a GPU (its record names none)")
    return runs["GPU"], runs["CPU"]


def printed(folder):
    """The forward pass's line and the epochs' lines the notebook printed."""
    lines = (Path(folder) / "stdout.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith(("[array(", "Epoch "))]


def line_rows(gpu_folder, cpu_folder, gpu, cpu):
    """(label, GPU line, CPU line, largest |GPU - CPU|) for the forward pass and each epoch."""
    g_lines, c_lines = printed(gpu_folder), printed(cpu_folder)
    numbers = [(gpu["forward_pass"], cpu["forward_pass"])] + [
        ([g[n] for n in run_record.EPOCH_NAMES], [c[n] for n in run_record.EPOCH_NAMES])
        for g, c in zip(gpu["epochs"], cpu["epochs"], strict=True)
    ]
    labels = ["forward pass"] + [f"epoch {e['epoch']}" for e in gpu["epochs"]]
    return [
        (label, g_line, c_line, max(abs(a - b) for a, b in zip(g, c, strict=True)))
        for label, g_line, c_line, (g, c) in zip(labels, g_lines, c_lines, numbers, strict=True)
    ]


def render(gpu_folder, cpu_folder, gpu, cpu, rows, verdict, failures):
    device = gpu["environment"]["gpu"]
    same = sum(g == c for _, g, c, _ in rows)
    lines = [
        f"# The notebook on a GPU, numpy seed {gpu['seed']}",
        "",
        f"- GPU: `{gpu_folder}`, {device['name']} ({device['architecture']}), driver "
        f"{device['driver']}, CUDA {device['cuda']}, NVRTC {device['nvrtc']}, cuBLAS "
        f"{device['cublas']}; Python {gpu['environment']['python']}, Theano "
        f"{gpu['environment']['theano']}",
        f"- CPU: `{cpu_folder}`, Python {cpu['environment']['python']}, Theano "
        f"{cpu['environment']['theano']}, device {cpu['environment']['theano_config']['device']}",
        f"- seconds per epoch: GPU {seconds_per_epoch(gpu):.2f}, CPU {seconds_per_epoch(cpu):.2f}",
        f"- band verdict on the GPU run (historical/compare.py): {verdict}",
        f"- printed lines identical to the CPU's: {same} of {len(rows)}",
    ]
    if failures:
        listed = ", ".join(f"{name} ({n})" for name, n in sorted(failures.items()))
        lines.append(
            f"- Theano's optimizer failed on the GPU run, leaving ops on the CPU: {listed}"
        )
    if same == len(rows):
        lines.append("- every line is the CPU's to the last digit: the CPU computed them")
    lines += ["", "| | largest difference | GPU | CPU |", "|---|---:|---|---|"]
    lines += [f"| {label} | {d:.3g} | `{g}` | `{c}` |" for label, g, c, d in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gpu", type=Path, help="the GPU run's folder")
    parser.add_argument("cpu", type=Path, help="a CPU run's folder, same seed")
    parser.add_argument("--out", type=Path, required=True, help="the report (markdown)")
    args = parser.parse_args(argv)
    try:
        gpu, cpu = read_pair(args.gpu, args.cpu)
        rows = line_rows(args.gpu, args.cpu, gpu, cpu)
        reference = json.loads(band.BAND.read_text(encoding="utf-8"))
        failed = compare.outside(compare.verdicts(gpu, reference, 3.0))
        failures = optimizer_failures(args.gpu, gpu)
    except (run_record.RecordError, compare.Mismatch, NotComparable, ValueError) as error:
        print(f"gpu_report: {error}", file=sys.stderr)
        return 1
    verdict = f"FAIL ({len(failed)} gated numbers outside)" if failed else "PASS"
    report = render(args.gpu.name, args.cpu.name, gpu, cpu, rows, verdict, failures)
    args.out.write_text(report, encoding="utf-8")
    print(report, end="")
    return 1 if failed or failures else 0


if __name__ == "__main__":
    sys.exit(main())
