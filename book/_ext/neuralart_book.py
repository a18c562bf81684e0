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
"""

import base64
import hashlib
import json
import re
from pathlib import Path

from docutils import nodes

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


def setup(app):
    app.connect("build-finished", _write_glued_images)
    app.connect("doctree-read", _collapse_redraws)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.add_js_file(None, body=_DEFAULT_MODE, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
