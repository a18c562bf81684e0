"""Small Sphinx fixes for the book (loaded through `local_extensions` in _config.yml).

sphinx-thebe 0.3.1 and sphinx-togglebutton register their inline scripts twice
(once with filename None, once with "", so Sphinx does not merge them), and every page declared
`const THEBE_JS_URL` twice: a JavaScript error in every reader's console. This
drops a script that a page already has.

On a reader's first visit the theme finds no colour mode saved and logs
"Got invalid theme mode" as an error; a default of "auto" avoids that.

A progress bar (``keras.utils.Progbar``) redraws itself with carriage returns and
backspaces; a browser shows every redraw as a line of its own, so one loop printed
about 30 lines. Each output line is cut to what a terminal would finally show: the
text after its last carriage return, without backspaces.

The front page pastes each chapter's best picture from that chapter's glue cache
(myst-nb's ``{glue}`` with ``:doc:``). myst-nb points the image at
``_images/<sha256>.png`` but writes that file only when the chapter itself shows the
picture, which ``plotting.glue_cover`` does not; so the glued pictures are written here.

The student edition: every chapter (a notebook under ``notebooks/``) is also written to
``student/<chapter>.ipynb`` in the site with each solution replaced by its stub
(``neuralart_helpers.exercises.student_edition``, the conversion ``neuralart student-edition``
and the nbgrader release use), and its page gets a box linking to that download and to Colab
and Binder on the repository's ``student`` branch, which the pages workflow
(.github/workflows/pages.yml) fills with the same conversion of main. The repository and the
launch services come from _config.yml (``repository``, ``launch_buttons``), named once there.
"""

import base64
import hashlib
import json
import posixpath
import re
from pathlib import Path
from urllib.parse import urlsplit

from docutils import nodes
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

logger = logging.getLogger(__name__)

_DEFAULT_MODE = ('if (!document.documentElement.dataset.mode) '
                 '{ document.documentElement.dataset.mode = "auto"; }')


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {}) or {}
        filename = getattr(script, "filename", script) or ""  # inline: None or ""
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


_BAR = re.compile(r"^(?:\x1b\[[0-9;]*m)*\s*\d+/(\d+)(?:\x1b\[[0-9;]*m)*\s")


def final_terminal_text(text: str) -> str:
    """What a terminal shows after printing ``text``: each line from its last ``\\r`` on,
    and of consecutive redraws of one progress bar (``k/N ...`` lines) only the last."""
    lines = []
    for line in text.replace("\x08", "").split("\n"):
        redraws = [part for part in line.split("\r") if part.strip()]
        line = redraws[-1] if redraws else ""
        bar, previous = _BAR.match(line), _BAR.match(lines[-1]) if lines else None
        if bar and previous and bar.group(1) == previous.group(1):
            lines[-1] = line  # the same bar drawn again
        else:
            lines.append(line)
    return "\n".join(lines)


def _collapse_redraws(app, doctree):
    for block in list(doctree.findall(nodes.literal_block)):
        text = block.astext()
        collapsed = final_terminal_text(text)
        if collapsed != text:
            block.children = [nodes.Text(collapsed)]


def _write_glued_images(app, exception):
    """Write every PNG glued in an executed notebook where myst-nb's cross-page paste links it."""
    if exception is not None or app.builder.format != "html":
        return
    images = Path(app.builder.outdir) / app.builder.imagedir
    for cache in Path(app.env.mystnb_config.output_folder).rglob("*.glue.json"):
        for output in json.loads(cache.read_text(encoding="utf-8")).values():
            if "image/png" in output.get("data", {}):
                data = base64.b64decode(output["data"]["image/png"])
                target = images / f"{hashlib.sha256(data).hexdigest()}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)


# --- The student edition ------------------------------------------------------------------

CHAPTERS_FOLDER = "notebooks"  # the chapters: the notebooks of this folder in the toc
STUDENT_FOLDER = "student"     # <site>/student/<chapter>.ipynb
STUDENT_BRANCH = "student"     # pushed by .github/workflows/pages.yml: main without the answers


def github_repository(url: str | None) -> str | None:
    """``"org/repo"`` of a GitHub repository URL, or None for no URL or another host."""
    parts = urlsplit(url or "")
    path = parts.path.strip("/").removesuffix(".git")
    if parts.netloc.lower() not in ("github.com", "www.github.com") or path.count("/") != 1:
        return None
    return path


def student_links(page_uri: str, notebook_path: str, repository: str | None,
                  colab_url: str = "https://colab.research.google.com",
                  binderhub_url: str = "https://mybinder.org") -> dict[str, str]:
    """Where a chapter's student edition is: ``download`` (relative to the page at ``page_uri``),
    and, for a GitHub ``repository`` ("org/repo"), ``colab`` and ``binder``, which open
    ``notebook_path`` (relative to the repository root) on the student branch."""
    links = {"download": relative_uri(page_uri, f"{STUDENT_FOLDER}/{posixpath.basename(notebook_path)}")}
    if repository:
        links["colab"] = f"{colab_url.rstrip('/')}/github/{repository}/blob/{STUDENT_BRANCH}/{notebook_path}"
        links["binder"] = (f"{binderhub_url.rstrip('/')}/v2/gh/{repository}/{STUDENT_BRANCH}"
                           f"?labpath={notebook_path}")
    return links


def _is_chapter(env, docname: str) -> bool:
    """Whether ``docname`` is a chapter: a notebook under CHAPTERS_FOLDER/."""
    return docname.startswith(CHAPTERS_FOLDER + "/") and str(env.doc2path(docname)).endswith(".ipynb")


def _repository_path(app, docname: str) -> str:
    """The chapter's notebook relative to the repository root (``path_to_book`` in _config.yml)."""
    book = app.config.html_theme_options.get("path_to_docs", "").strip("/")
    return posixpath.join(book, docname + ".ipynb") if book else docname + ".ipynb"


def _student_edition_box(links: dict[str, str]) -> nodes.Element:
    texts = {"download": "download the notebook", "colab": "open it in Colab", "binder": "in Binder"}
    paragraph = nodes.paragraph("", "The exercises without their answers: ")
    for number, (key, url) in enumerate(links.items()):
        if number:
            paragraph += nodes.Text(" · ")
        paragraph += nodes.reference("", texts[key], refuri=url, classes=[f"student-{key}"])
    paragraph += nodes.Text(".")
    return nodes.admonition("", nodes.title("", "Student edition"), paragraph,
                            classes=["tip", "student-edition"])


def _add_student_edition_box(app, doctree, docname):
    """Below a chapter's title: the box linking to its student edition."""
    if app.builder.format != "html" or not _is_chapter(app.env, docname):
        return
    section = doctree.next_node(nodes.section)
    if section is None:
        return
    options = app.config.html_theme_options
    launch = options.get("launch_buttons", {})
    repository = github_repository(options.get("repository_url"))
    if repository is None:
        logger.warning("repository.url in _config.yml is not a GitHub repository: the student "
                       "edition of %s has no Colab and Binder links", docname, location=docname)
    links = student_links(app.builder.get_target_uri(docname), _repository_path(app, docname), repository,
                          **{key: launch[key] for key in ("colab_url", "binderhub_url") if launch.get(key)})
    below_title = 1 if section.children and isinstance(section[0], nodes.title) else 0
    section.insert(below_title, _student_edition_box(links))


def write_student_notebooks(notebooks, folder: Path) -> list[Path]:
    """Write the student edition of each notebook path of ``notebooks`` into ``folder``."""
    import nbformat

    from neuralart_helpers.errors import NeuralArtError
    from neuralart_helpers.exercises import student_edition
    from neuralart_helpers.files import atomic_write

    written = []
    for path in map(Path, notebooks):
        try:
            edition = student_edition(nbformat.read(path, as_version=4))
        except NeuralArtError as error:
            raise NeuralArtError(f"the student edition of {path.name}: {error}") from None
        written.append(atomic_write(folder / path.name, lambda tmp, nb=edition: nbformat.write(nb, tmp)))
    return written


def _write_student_edition(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    chapters = sorted(docname for docname in app.env.found_docs if _is_chapter(app.env, docname))
    write_student_notebooks([app.env.doc2path(docname) for docname in chapters],
                            Path(app.builder.outdir) / STUDENT_FOLDER)


def setup(app):
    app.connect("build-finished", _write_glued_images)
    app.connect("build-finished", _write_student_edition)
    app.connect("doctree-resolved", _add_student_edition_box)
    app.connect("doctree-read", _collapse_redraws)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.add_js_file(None, body=_DEFAULT_MODE, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
