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


def test_glued_pictures_are_written_where_the_front_page_links_them(tmp_path):
    import base64
    import hashlib
    import io
    import json
    from types import SimpleNamespace

    from PIL import Image

    from neuralart_book import _write_glued_images

    buffer = io.BytesIO()
    Image.new("RGB", (5, 3), (200, 20, 20)).save(buffer, "PNG")
    png = buffer.getvalue()
    cache = tmp_path / "jupyter_execute" / "notebooks"
    cache.mkdir(parents=True)
    (cache / "04_style_transfer.glue.json").write_text(json.dumps({
        "cover_04": {"data": {"image/png": base64.b64encode(png).decode(), "text/plain": "<PIL>"}},
        "a_number": {"data": {"text/plain": "3.5"}}}))
    app = SimpleNamespace(
        builder=SimpleNamespace(format="html", outdir=str(tmp_path / "html"), imagedir="_images"),
        env=SimpleNamespace(mystnb_config=SimpleNamespace(output_folder=str(tmp_path / "jupyter_execute"))))
    _write_glued_images(app, None)
    written = list((tmp_path / "html" / "_images").iterdir())
    assert [p.name for p in written] == [hashlib.sha256(png).hexdigest() + ".png"]  # myst-nb's link
    assert written[0].read_bytes() == png
    _write_glued_images(app, RuntimeError("the build failed"))  # then nothing more is written
