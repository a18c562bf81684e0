"""``neuralart lab``: an nbgrader course folder for university labs."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralart_helpers.cli import add_notebooks_argument, notebooks_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "lab", help="write an nbgrader course folder (source/ and nbgrader_config.py)",
        description="Write an nbgrader course folder: nbgrader_config.py and "
                    "source/CHAPTER/CHAPTER.ipynb for every chapter. Each exercise's solution "
                    "cell is an nbgrader answer cell (the body between ### BEGIN SOLUTION and "
                    "### END SOLUTION), each check cell a read-only autograded test cell worth "
                    "1 point (3 for an open exercise). Then, in OUTDIR: nbgrader "
                    "generate_assignment CHAPTER, and nbgrader autograde CHAPTER on the "
                    "submissions in submitted/STUDENT/CHAPTER/.")
    parser.add_argument("output", type=Path, metavar="OUTDIR",
                        help="the course folder to create (new or empty)")
    add_notebooks_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neuralart_helpers.exercises import write_lab_course

    for path in write_lab_course(notebooks_folder(args), args.output):
        print(f"wrote {path}")
    return 0
