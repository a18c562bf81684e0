"""``neuralart student-edition``: copies of the notebooks with the exercise solutions removed.

The same conversion as the nbgrader release of ``neuralart lab``
(:func:`neuralart_helpers.exercises.student_edition`), for self-learners without nbgrader.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralart_helpers.cli import add_notebooks_argument, notebooks_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "student-edition", help="write the notebooks with each solution replaced by a stub",
        description="Write copies of the chapter notebooks in which every cell tagged `solution` "
                    "is replaced by a stub (signature and docstring, body raising "
                    "NotImplementedError). The `check` cells stay, so students see at once "
                    "whether their answer is right.")
    parser.add_argument("output", type=Path, metavar="OUTDIR", help="folder for the student notebooks")
    add_notebooks_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neuralart_helpers.exercises import write_student_edition

    for path in write_student_edition(notebooks_folder(args), args.output):
        print(f"wrote {path}")
    return 0
