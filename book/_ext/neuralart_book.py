"""Small Sphinx fixes for the book (loaded through `local_extensions` in _config.yml).

sphinx-thebe 0.3.1 and sphinx-togglebutton register their inline scripts twice
(once with filename None, once with "", so Sphinx does not merge them), and every page declared
`const THEBE_JS_URL` twice: a JavaScript error in every reader's console. This
drops a script that a page already has.

On a reader's first visit the theme finds no colour mode saved and logs
"Got invalid theme mode" as an error; a default of "auto" avoids that.
"""

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


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.add_js_file(None, body=_DEFAULT_MODE, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
