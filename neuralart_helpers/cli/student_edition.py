"""``neuralart student-edition``: copies of the notebooks with the exercise solutions removed.

The same conversion as the nbgrader release of ``neuralart lab``
(:func:`neuralart_helpers.exercises.student_edition`), for self-learners without nbgrader.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralart_helpers.errors import NeuralArtError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "student-edition", help="write the notebooks with each solution replaced by a stub",
        description="Write copies of the chapter notebooks in which every cell tagged `solution` "
                    "is replaced by a stub (signature and docstring, body raising "
                    "NotImplementedError). The `check` cells stay, so students see at once "
                    "whether their answer is right.")
    parser.add_argument("output", type=Path, metavar="OUTDIR", help="folder for the student notebooks")
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"), metavar="DIR",
                        help="the course's notebooks folder (default: ./notebooks)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neuralart_helpers.exercises import write_student_edition

    if not args.notebooks.is_dir():
        raise NeuralArtError(f"--notebooks {args.notebooks}: no such folder; run from the course "
                         f"repository or pass --notebooks PATH/TO/notebooks.")
    for path in write_student_edition(args.notebooks, args.output):
        print(f"wrote {path}")
    return 0
