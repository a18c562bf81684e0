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
