"""Browser test of the built book: run after `jupyter-book build .`.

Headless Chromium (Debian's `chromium` and `chromium-driver`) opens every page
from a local HTTP server on 127.0.0.1 and checks what a reader sees: the title,
each chapter's rendered pictures, typeset mathematics, working internal links and
images, the search page, the student edition of each chapter, and a console without
errors. A screenshot of each chapter is saved in `_build/screenshots/`.
NEURALART_SITE=DIR tests a site built elsewhere (a small test book) instead of `_build/html`.

Without Chromium the tests are skipped, unless NEURALART_REQUIRE_BROWSER=1 (CI)
makes that a failure.
"""

from __future__ import annotations

import ast
import functools
import http.server
import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("NEURALART_SITE") or ROOT / "_build" / "html").resolve()
SCREENSHOTS = SITE.parent / "screenshots"
BOOK_TITLE = "Neural Art with TensorFlow"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PAGES = sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html")
               if p.parts[len(SITE.parts)] not in ("_static", "_sources", "_images")
               and p.name not in ("genindex.html", "search.html"))
CHAPTERS = [page for page in PAGES if page.startswith("notebooks/")]


def setup_module():
    if not (SITE / "index.html").exists():
        pytest.fail(f"No built book in {SITE}: run `jupyter-book build .` first.")
    if not (CHROMIUM and CHROMEDRIVER):
        message = "chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("NEURALART_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site without logging each request or the browser closing a connection early."""

    def log_message(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(browser, url: str):
    browser.get(url)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (document.readyState === 'complete') done(); else window.addEventListener('load', () => done());")
    return browser


def _console_errors(browser) -> list[str]:
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    return errors


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_with_title_and_no_console_errors(browser, server, page):
    _open(browser, server + page)
    heading = browser.execute_script(
        "const h = document.querySelector('main h1, article h1'); return h ? h.textContent : null;")
    assert heading, f"{page} has no h1 heading"
    heading = heading.replace("#", "").strip()
    assert browser.title == f"{heading} — {BOOK_TITLE}"
    broken_images = browser.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);")
    assert broken_images == [], f"{page}: images that do not load: {broken_images}"
    assert _console_errors(browser) == []


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(page, server):
    parser = _LinkParser()
    parser.feed((SITE / page).read_text(encoding="utf-8"))
    base = server + page
    checked = set()
    for link in parser.links:
        target = urljoin(base, link)
        parts = urlsplit(target)
        if not target.startswith(server) or parts.path in checked:
            continue
        checked.add(parts.path)
        try:
            with urllib.request.urlopen(target.split("#")[0], timeout=10) as response:
                assert response.status == 200
        except urllib.error.HTTPError as error:
            pytest.fail(f"{page} links to {link}, which answers {error.code}")
    redirect = 'http-equiv="refresh"' in (SITE / page).read_text(encoding="utf-8").lower()
    assert checked or redirect, f"{page} has no internal links at all"


class _LinkParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href") and not attributes["href"].startswith(("mailto:", "javascript:")):
            self.links.append(attributes["href"])
        if tag in ("img", "script") and attributes.get("src"):
            self.links.append(attributes["src"])
        if tag == "link" and attributes.get("href"):
            self.links.append(attributes["href"])


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_shows_pictures_and_typeset_math(browser, server, page):
    _open(browser, server + page)
    sizes = browser.execute_script(
        "return [...document.querySelectorAll('.cell_output img')]"
        ".map(i => [i.naturalWidth, i.getBoundingClientRect().width]);")
    assert len(sizes) >= 3, f"{page} shows only {len(sizes)} output pictures"
    assert all(natural > 0 and shown > 0 for natural, shown in sizes)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "(window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve()).then(done);")
    typeset = browser.execute_script("return document.querySelectorAll('mjx-container').length;")
    raw = browser.execute_script("return document.querySelectorAll('.math:not(:has(mjx-container))').length;")
    assert typeset > 0 and raw == 0, f"{page}: {typeset} typeset formulas, {raw} left as raw TeX"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / (Path(page).stem + ".png")))
    assert _console_errors(browser) == []


def test_mathjax_is_served_locally(browser, server):
    _open(browser, server + CHAPTERS[0])
    sources = browser.execute_script("return [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s));")
    assert sources and all(src.startswith(server) for src in sources), sources


def test_search_finds_a_chapter_by_a_word_in_it(browser, server):
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, server + "search.html?q=lost-detail")
    WebDriverWait(browser, 30).until(
        lambda driver: driver.execute_script(
            "return document.querySelectorAll('#search-results ul.search li').length") > 0)
    hits = browser.execute_script(
        "return [...document.querySelectorAll('#search-results ul.search li a')].map(a => a.href);")
    assert any("02_deepdream_octaves" in hit for hit in hits), hits


@pytest.mark.parametrize("page", CHAPTERS)
def test_progress_bars_show_once_not_once_per_redraw(browser, server, page):
    # A Keras progress bar redraws itself with carriage returns; the site must show its
    # final state, one line per bar, not one line per redraw (about 30 before the fix).
    _open(browser, server + page)
    blocks = browser.execute_script(
        "return [...document.querySelectorAll('.cell_output pre')].map(p => p.textContent);")
    for text in blocks:
        bars = [line for line in text.splitlines() if "━" in line]
        assert len(bars) <= 4, f"{page}: an output shows {len(bars)} progress-bar lines:\n{text[:400]}"
        assert "\r" not in text and "\b" not in text


def test_front_page_shows_each_chapters_picture_linking_to_it(browser, server):
    # book/intro.md pastes one picture per chapter (glued by the chapter when it ran).
    _open(browser, server + "book/intro.html")
    cards = browser.execute_script(
        "return [...document.querySelectorAll('.chapter-cover')].map(card => {"
        "  const img = card.querySelector('img'), link = card.querySelector('a');"
        "  return [img ? img.naturalWidth : 0, img ? img.getBoundingClientRect().width : 0,"
        "          link ? link.href : ''];});")
    assert len(cards) == len(CHAPTERS), f"{len(cards)} chapter pictures on the front page, not {len(CHAPTERS)}"
    linked = sorted(urlsplit(href).path.lstrip("/") for *_, href in cards)
    assert linked == sorted(CHAPTERS), linked
    for natural, shown, href in cards:
        assert natural >= 64 and shown >= 64, f"the picture linking to {href} is {natural} px, shown {shown} px"
        with urllib.request.urlopen(href, timeout=10) as response:
            assert response.status == 200


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_links_its_student_edition_without_the_answers(browser, server, page):
    # Below the title, a box links to the chapter's student edition: a download from the
    # site, and Colab and Binder opening the same notebook on the `student` branch.
    chapter = Path(page).stem
    _open(browser, server + page)
    box = browser.execute_script(
        "const box = document.querySelector('.student-edition'), h2 = document.querySelector('article h2');"
        "return box && {links: [...box.querySelectorAll('a')].map(a => a.href),"
        "  above_first_section: !h2 || !!(box.compareDocumentPosition(h2) & Node.DOCUMENT_POSITION_FOLLOWING)};")
    assert box, f"{page} has no student-edition box"
    assert box["above_first_section"], f"{page}: the student-edition box is not at the top"
    assert len(box["links"]) == 3, box["links"]
    download, colab, binder = (urlsplit(link) for link in box["links"])

    assert download.geturl() == f"{server}student/{chapter}.ipynb"
    with urllib.request.urlopen(download.geturl(), timeout=10) as response:
        student = json.load(response)
    original = json.loads((SITE / "_sources" / "notebooks" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    answers = [_source(cell) for cell in original["cells"] if "solution" in _tags(cell)]
    stubs = [_source(cell) for cell in student["cells"] if "solution" in _tags(cell)]
    assert answers and len(stubs) == len(answers), f"{chapter}: {len(answers)} solutions, {len(stubs)} stubs"
    for answer, stub in zip(answers, stubs):
        assert "raise NotImplementedError" in stub
        assert _function_bodies(stub) != _function_bodies(answer), f"{chapter}: an answer is in the student edition"
        for body in _function_bodies(stub).values():
            assert len(body) == 1 and body[0].startswith("raise NotImplementedError"), body
    assert all(not cell.get("outputs") for cell in student["cells"])

    assert colab.netloc == "colab.research.google.com"
    org_repo, notebook = colab.path.removeprefix("/github/").split("/blob/student/")
    assert notebook == f"notebooks/{chapter}.ipynb", colab.geturl()
    assert binder.netloc == "mybinder.org" and binder.path == f"/v2/gh/{org_repo}/student", binder.geturl()
    assert parse_qs(binder.query) == {"labpath": [notebook]}, binder.geturl()


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _function_bodies(source: str) -> dict[str, list[str]]:
    """Each top-level function's statements after its docstring, as source text (a cell
    without functions: all its statements, as one)."""
    tree = ast.parse(source)
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    bodies = {node.name: node.body[1 if ast.get_docstring(node) is not None else 0:] for node in functions}
    return {name: [ast.get_source_segment(source, statement) for statement in body]
            for name, body in (bodies or {"<cell>": tree.body}).items()}
