"""The book's Sphinx extension (book/_ext/neuralart_book.py): progress bars as a terminal shows them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))

from neuralart_book import final_terminal_text  # noqa: E402


def test_a_redrawn_progress_bar_keeps_only_its_last_state():
    redraws = "".join(f"\r{step}/20 [{'=' * step}] - loss: {step}" + "\b" * 9 for step in range(1, 21))
    assert final_terminal_text(redraws + "\nwrote out.png\n") == \
        "20/20 [====================] - loss: 20\nwrote out.png\n"


def test_plain_text_is_unchanged():
    text = "value 0.1 -> 3.2\n  second line\n\n"
    assert final_terminal_text(text) == text


def test_redraws_already_on_lines_of_their_own_keep_the_last():
    # merged stream outputs can hold each redraw on its own line, ANSI colours included
    text = "".join(f"\x1b[1m{k}/3\x1b[0m bar - loss: {k}\n" for k in (1, 2, 3)) + "done\n1/2 x\n2/2 y\n"
    assert final_terminal_text(text) == "\x1b[1m3/3\x1b[0m bar - loss: 3\ndone\n2/2 y\n"
