"""The ``neuralart`` console command: one subcommand per module in this package.

Each subcommand module has ``register(subparsers)``, which adds its parser and
sets ``func`` (called with the parsed arguments, returning the exit status).
Every error a user can cause (a :class:`~neuralart_helpers.errors.NeuralArtError`, or an
``OSError`` such as a missing folder or a full disk) is printed as one line on stderr, exit
status 2. Anything else is a bug and keeps its traceback. ``NEURALART_DEBUG=1`` also shows
TensorFlow's own log lines.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from neuralart_helpers.errors import NeuralArtError

# Subcommand modules, in the order `neuralart --help` lists them.
COMMANDS = ("fetch", "doctor", "visualize", "dream", "style", "style-train", "gan", "diffusion",
            "student-edition", "lab")




def positive_int(text: str) -> int:
    """An argparse ``type``: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def add_notebooks_argument(parser: argparse.ArgumentParser) -> None:
    """``--notebooks DIR``: the course's notebooks folder (``student-edition``, ``lab``)."""
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"), metavar="DIR",
                        help="the course's notebooks folder (default: ./notebooks)")


def notebooks_folder(args: argparse.Namespace) -> Path:
    """``args.notebooks`` if it is a folder, else a one-line error saying what to pass."""
    if not args.notebooks.is_dir():
        raise NeuralArtError(f"--notebooks {args.notebooks}: no such folder; run from the course "
                             f"repository or pass --notebooks PATH/TO/notebooks.")
    return args.notebooks


def with_defaults(args: argparse.Namespace, defaults: dict) -> dict:
    """``defaults`` updated with every option the user gave (options default to ``SUPPRESS``).

    Subcommands leave an option out of ``args`` unless it was given, so the library's
    defaults (:mod:`neuralart_helpers.presets`) are the only ones: never re-typed here.
    """
    return {**defaults, **{key: value for key, value in vars(args).items() if key in defaults}}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line on stderr, exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="neuralart", description=(
        "Neural art from the command line: feature visualisation, DeepDream, style "
        "transfer, a Fashion-MNIST GAN and diffusion model, with the helpers of the course book."))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"neuralart_helpers.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``neuralart`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    if not os.environ.get("NEURALART_DEBUG"):
        _silence_native_stderr()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("neuralart: interrupted", file=sys.stderr)
        return 130
    except (NeuralArtError, OSError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"neuralart {args.command}: error: {message}", file=sys.stderr)
        return 2


def _silence_native_stderr() -> None:
    """Send TensorFlow's C++ log lines (written straight to file descriptor 2) to /dev/null.

    Python's ``sys.stderr`` keeps writing to the real stderr, so our one-line errors,
    warnings and progress bars still show. Set ``NEURALART_DEBUG=1`` to see everything.
    """
    try:
        real_stderr = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(real_stderr, "w", buffering=1)
    except (OSError, ValueError):  # no real file descriptors (e.g. inside a notebook)
        pass


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
