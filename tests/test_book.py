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


ANSWER = '''def double(x):
    """Twice x."""
    twice = 2 * x
    return twice
'''


def test_the_site_gets_each_chapters_student_edition_without_the_answers(tmp_path):
    from types import SimpleNamespace

    import nbformat

    from neuralart_book import _write_student_edition

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell(ANSWER, metadata={"tags": ["solution", "hide-input"]},
                                  outputs=[nbformat.v4.new_output("stream", text="out")]),
        nbformat.v4.new_code_cell("assert double(2) == 4", metadata={"tags": ["check"]})])
    source = tmp_path / "book"
    (source / "notebooks").mkdir(parents=True)
    nbformat.write(notebook, source / "notebooks" / "07_doubling.ipynb")
    (source / "notebooks" / "notes.md").write_text("# Not a chapter\n")
    paths = {"notebooks/07_doubling": "notebooks/07_doubling.ipynb", "notebooks/notes": "notebooks/notes.md",
             "intro": "intro.ipynb"}
    app = SimpleNamespace(
        builder=SimpleNamespace(format="html", outdir=str(tmp_path / "html")),
        env=SimpleNamespace(found_docs=set(paths), doc2path=lambda docname: str(source / paths[docname])))
    _write_student_edition(app, None)

    folder = tmp_path / "html" / "student"
    assert [p.name for p in folder.iterdir()] == ["07_doubling.ipynb"]  # the chapters only
    student = nbformat.read(folder / "07_doubling.ipynb", as_version=4)
    stub = student.cells[1].source
    assert student.cells[1].metadata.tags == ["solution"]
    assert 'def double(x):\n    """Twice x."""' in stub and "raise NotImplementedError" in stub
    assert "twice = 2 * x" not in stub and "return twice" not in stub
    assert student.cells[1].outputs == []
    assert student.cells[2].source == "assert double(2) == 4"  # the check stays


def test_student_edition_links_download_colab_and_binder_on_the_student_branch():
    from neuralart_book import github_repository, student_links

    repository = github_repository("https://github.com/neural-art-course/neural-art-tensorflow")
    assert repository == "neural-art-course/neural-art-tensorflow"
    assert student_links("notebooks/02_deepdream_octaves.html", "notebooks/02_deepdream_octaves.ipynb",
                         repository) == {
        "download": "../student/02_deepdream_octaves.ipynb",
        "colab": "https://colab.research.google.com/github/neural-art-course/neural-art-tensorflow"
                 "/blob/student/notebooks/02_deepdream_octaves.ipynb",
        "binder": "https://mybinder.org/v2/gh/neural-art-course/neural-art-tensorflow/student"
                  "?labpath=notebooks/02_deepdream_octaves.ipynb"}


def test_only_a_github_repository_gets_colab_and_binder_links():
    from neuralart_book import github_repository, student_links

    assert github_repository("https://github.com/org/repo.git/") == "org/repo"
    for url in (None, "", "https://gitlab.com/org/repo", "https://github.com/org"):
        assert github_repository(url) is None
    assert student_links("notebooks/a.html", "notebooks/a.ipynb", None) == {"download": "../student/a.ipynb"}
