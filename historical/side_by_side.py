"""Run the notebook on today's stack and on the 2016 stack with one numpy seed; compare stdout.

    python historical/side_by_side.py --seed 1 [--runs runs] [--report FILE] [--notebook NB]

Both runs are kept as run folders (``run_notebook.py --seed S``, once on the notebook's
kernel ``vae-legacy``, once on ``vae-legacy-2016``, which ``make stack-2016`` builds).
Every printed line gets a verdict, identical or differs with both lines, on the
terminal and in a report, ``side-by-side-seed<S>.md`` in today's run folder unless
``--report`` names another file. Exit 0 only when every line is identical; 1 when one
differs or a run failed, 2 when a run cannot start, 130 on Ctrl-C.
"""

import argparse
import itertools
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

import mnist_prep
import run_notebook
import run_record
from stack2016 import build as stack2016

REPO = run_notebook.REPO
TODAY, STACK_2016 = "vae-legacy", stack2016.KERNEL_NAME


def stdout_lines(folder):
    return (folder / "stdout.txt").read_text(encoding="utf-8").splitlines()


def verdict(today, then):
    """The line-by-line verdict of two stdouts, and how many lines differ."""
    lines, differ = [], 0
    pairs = itertools.zip_longest(today, then)
    for number, (ours, theirs) in enumerate(pairs, 1):
        if ours == theirs:
            lines.append(f"{number:3d} identical  {ours}")
        else:
            differ += 1
            lines.append(f"{number:3d} DIFFERS")
            lines.append(f"      today: {'(no line)' if ours is None else ours}")
            lines.append(f"      2016:  {'(no line)' if theirs is None else theirs}")
    return lines, differ


def stack_line(name, folder):
    env = run_record.read(folder).get("environment") or {}
    versions = ", ".join(
        f"{package} {env.get(key, '?')}"
        for package, key in [
            ("Python", "python"),
            ("numpy", "numpy"),
            ("Theano", "theano"),
            ("Lasagne", "lasagne"),
        ]
    )
    shown = folder.relative_to(REPO) if folder.is_relative_to(REPO) else folder
    return f"{name}: `{shown}` ({versions})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seed", required=True, help="numpy's seed, in both kernels (0 to 2**32 - 1)"
    )
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--report", type=Path, help="where the report goes")
    parser.add_argument("--notebook", type=Path, default=REPO / "vae_exercise.ipynb")
    parser.add_argument("--no-data", action="store_true", help="do not build mnist.npz")
    args = parser.parse_args(argv)
    try:
        args.seed = run_notebook.numpy_seed(args.seed)
    except run_notebook.RunError as error:
        print(f"side_by_side: {error}", file=sys.stderr)
        return 2
    try:
        KernelSpecManager().get_kernel_spec(STACK_2016)
    except NoSuchKernel:
        print(
            f"side_by_side: no kernel '{STACK_2016}': build it with make stack-2016",
            file=sys.stderr,
        )
        return 1
    if not args.no_data:
        status = mnist_prep.main(["--out", str(args.notebook.resolve().parent / "mnist.npz")])
        if status:
            return status
    folders = {}
    for name, kernel in [("today", TODAY), ("2016", STACK_2016)]:
        print(f"side_by_side: seed {args.seed} on {kernel}", file=sys.stderr, flush=True)
        try:
            folders[name], failure = run_notebook.run(
                args.notebook, args.runs, seed=args.seed, kernel=kernel
            )
        except run_notebook.RunError as error:
            print(f"side_by_side: {error}", file=sys.stderr)
            return 2
        if failure:
            if run_record.read(folders[name])["status"] == "interrupted":
                print(
                    f"side_by_side: interrupted; partial run kept in {folders[name]}",
                    file=sys.stderr,
                )
                return 130
            print(f"side_by_side: the {name} run failed: {failure['error']}", file=sys.stderr)
            print(f"side_by_side: partial run kept in {folders[name]}", file=sys.stderr)
            return 1
    printed = {name: stdout_lines(folder) for name, folder in folders.items()}
    lines, differ = verdict(printed["today"], printed["2016"])
    total = max(map(len, printed.values()))
    summary = f"{total - differ} of {total} printed lines identical (numpy seed {args.seed})"
    report = args.report or folders["today"] / f"side-by-side-seed{args.seed}.md"
    report.write_text(
        f"# The notebook on both stacks, numpy seed {args.seed}\n\n"
        + "".join(f"- {stack_line(name, folder)}\n" for name, folder in folders.items())
        + f"\n{summary}.\n\n```\n"
        + "\n".join(lines)
        + "\n```\n",
        encoding="utf-8",
    )
    print("\n".join(lines))
    print(f"side_by_side: {'PASS' if not differ else 'FAIL'}: {summary}; report {report}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
