"""Exercises: the student edition of the notebooks, and running an exercise's check.

In every chapter an exercise is a code cell tagged ``solution`` (the reference
answer, usually one function) followed by a code cell tagged ``check`` (which
calls it on fixed inputs and compares with expected numbers). The student
edition keeps the check cells and replaces each solution by a stub: the same
signature and docstring, with a body that raises ``NotImplementedError``.

``neuralart lab`` writes the same chapters as an nbgrader course (:func:`lab_source`):
the answer's body between nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION``,
the check cells as autograded tests. The student edition is that course's nbgrader
release (:func:`student_edition`), so the two cannot drift.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import nbformat

from neuralart_helpers.errors import NeuralArtError

STUB_HEADER = "# Exercise: write the body of the function(s) below, then run the check cell.\n"

# The nbgrader course (``neuralart lab``) and the student edition share one conversion:
# ``mark_solution`` puts nbgrader's solution delimiters around the answer's body, and
# ``clear_solution`` replaces each delimited region by ``CODE_STUB`` exactly as nbgrader's
# ``ClearSolutions`` preprocessor does (``nbgrader_config.py`` sets its code stub to
# ``CODE_STUB``), so the student edition is the nbgrader release, cell for cell.
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CODE_STUB = "# Your code here.\nraise NotImplementedError(\"Exercise: write this answer\")"

# Points of an exercise's check cell in the nbgrader course: an open exercise takes
# 20-30 minutes of a lab session, the others 5-10.
EXERCISE_POINTS = 1
OPEN_EXERCISE_POINTS = 3


def mark_solution(solution: str) -> str:
    """A solution cell's source with nbgrader's delimiters around each answer.

    Each top-level function keeps its decorators, signature and docstring outside the
    ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region, and the rest of its body goes
    inside it. Top-level imports stay outside. A cell without any function is one region.
    Any other top-level statement is an error: the student edition could neither show it
    (it may give the answer away) nor drop it (the functions may need it).
    """
    tree = ast.parse(solution)
    lines = solution.splitlines()
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not functions:
        return "\n".join([BEGIN_SOLUTION, *lines, END_SOLUTION]) + "\n"
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Import, ast.ImportFrom)):
            raise NeuralArtError(
                f"a solution cell has top-level code other than imports and functions (line "
                f"{node.lineno}: {lines[node.lineno - 1].strip()!r}); move it into the function "
                f"or into an earlier cell.")
    marked = list(lines)
    for node in reversed(functions):  # from the bottom up, so line numbers stay valid
        has_docstring = ast.get_docstring(node) is not None
        body = node.body[1:] if has_docstring else node.body
        if body and lines[body[0].lineno - 1][:body[0].col_offset].strip():
            raise NeuralArtError(f"the body of {node.name} must start on a line of its own.")
        # The region starts right after the docstring (comments under it are part of the
        # answer), or at the first statement of a function without a docstring.
        start = node.body[0].end_lineno + 1 if has_docstring else body[0].lineno
        indent = " " * (node.body[0].col_offset)
        marked[start - 1:node.end_lineno] = ([indent + BEGIN_SOLUTION]
                                             + lines[start - 1:node.end_lineno]
                                             + [indent + END_SOLUTION])
    return "\n".join(marked) + "\n"


def clear_solution(marked: str, stub: str = CODE_STUB) -> str:
    """``marked`` with each solution region replaced by ``stub``, as nbgrader's ClearSolutions does.

    The line holding ``BEGIN SOLUTION`` becomes the stub's lines, with that line's
    indentation; everything up to and including the ``END SOLUTION`` line goes.
    """
    out, inside = [], False
    for line in marked.split("\n"):
        if "BEGIN SOLUTION" in line:
            if inside:
                raise NeuralArtError("nested BEGIN SOLUTION regions in a solution cell")
            inside = True
            indent = line[:len(line) - len(line.lstrip())]
            out += [indent + stub_line for stub_line in stub.split("\n")]
        elif "END SOLUTION" in line:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise NeuralArtError("a BEGIN SOLUTION region without its END SOLUTION")
    return "\n".join(out)


def stub_source(solution: str) -> str:
    """The student's starting point for a solution cell's source.

    Each top-level function keeps its decorators, signature and docstring; its body
    becomes ``CODE_STUB`` (which raises ``NotImplementedError``). This is the nbgrader
    release of the cell that :func:`lab_source` writes.
    """
    return clear_solution(STUB_HEADER + mark_solution(solution))


def exercises(notebook) -> list[tuple[int, int]]:
    """``(solution_index, check_index)`` for each exercise of a notebook (cell indices)."""
    pairs, solution = [], None
    for index, cell in enumerate(notebook.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "solution" in tags:
            solution = index
        elif "check" in tags and solution is not None:
            pairs.append((solution, index))
            solution = None
    return pairs


NBGRADER_SCHEMA_VERSION = 3  # nbgrader 0.9's cell metadata schema

NBGRADER_CONFIG = f"""\
# nbgrader configuration of the course Neural Art with TensorFlow, written by `neuralart lab`.
# Run nbgrader in this folder: nbgrader generate_assignment CHAPTER, nbgrader autograde CHAPTER.
c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "neural-art"
# The stub of the student edition (`neuralart student-edition`): the signature and docstring
# stay, the body between BEGIN and END SOLUTION becomes these lines.
c.ClearSolutions.code_stub = {{"python": {CODE_STUB!r}}}
# A chapter's slowest cell runs for tens of seconds on a two-core lab PC (nbgrader's default
# limit is 30 s per cell).
c.Execute.timeout = 600
"""


def _function_name(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    return next((node.name for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))), None)


def lab_source(notebook):
    """The nbgrader source version of a chapter (outputs cleared), for ``neuralart lab``.

    Each exercise's solution cell becomes an nbgrader "autograded answer" cell, its answer
    between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (:func:`mark_solution`); its
    check cell becomes a read-only "autograder tests" cell worth :data:`EXERCISE_POINTS`, or
    :data:`OPEN_EXERCISE_POINTS` for an open exercise (check tagged ``open``). Grade ids are
    the function's name and ``check_`` followed by it.
    """
    source = copy.deepcopy(notebook)
    for cell in source.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("nbgrader", None)
    grade_ids: set[str] = set()
    for number, (solution, check) in enumerate(exercises(source), start=1):
        answer, test = source.cells[solution], source.cells[check]
        name = _function_name(answer.source) or f"exercise_{number}"
        if name in grade_ids:
            name = f"{name}_{number}"
        grade_ids.add(name)
        try:
            answer.source = STUB_HEADER + mark_solution(answer.source)
        except (NeuralArtError, SyntaxError) as error:
            raise NeuralArtError(f"solution cell {solution}: {error}") from None
        answer.metadata["tags"] = [t for t in answer.metadata.get("tags", []) if t != "hide-input"]
        answer.metadata["nbgrader"] = {
            "grade": False, "solution": True, "locked": False, "grade_id": name,
            "schema_version": NBGRADER_SCHEMA_VERSION}
        points = OPEN_EXERCISE_POINTS if "open" in test.metadata.get("tags", []) else EXERCISE_POINTS
        test.metadata["nbgrader"] = {
            "grade": True, "solution": False, "locked": True, "grade_id": f"check_{name}",
            "points": points, "schema_version": NBGRADER_SCHEMA_VERSION}
    return source


def student_edition(notebook):
    """A copy of ``notebook`` with every solution replaced by its stub (outputs cleared).

    It is the nbgrader release of :func:`lab_source`'s notebook (same cells, same sources:
    :func:`clear_solution` is nbgrader's ``ClearSolutions``), without nbgrader's metadata.
    """
    edition = lab_source(notebook)
    for cell in edition.cells:
        if cell.metadata.pop("nbgrader", {}).get("solution"):
            cell.source = clear_solution(cell.source)
    return edition


def _chapters(source_dir: Path) -> list[Path]:
    notebooks = sorted(source_dir.glob("*.ipynb"))
    if not notebooks:
        raise NeuralArtError(f"No notebooks (*.ipynb) in {source_dir}; pass the course's notebooks/ folder.")
    return notebooks


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def write_student_edition(source_dir: str | Path, output_dir: str | Path) -> list[Path]:
    """Write the student edition of every ``*.ipynb`` in ``source_dir`` into ``output_dir``."""
    from neuralart_helpers.files import atomic_write

    source_dir, output_dir = Path(source_dir), Path(output_dir)
    notebooks = _chapters(source_dir)
    if output_dir.resolve() == source_dir.resolve():
        raise NeuralArtError("The student edition must go to another folder than the notebooks themselves.")
    written = []
    for path in notebooks:
        edition = _converted(student_edition, path)
        written.append(atomic_write(output_dir / path.name,
                                     lambda tmp, nb=edition: nbformat.write(nb, tmp)))
    return written


def write_lab_course(source_dir: str | Path, output_dir: str | Path) -> list[Path]:
    """Write an nbgrader course folder for the notebooks of ``source_dir`` into ``output_dir``.

    ``output_dir`` gets ``nbgrader_config.py`` and ``source/CHAPTER/CHAPTER.ipynb`` (see
    :func:`lab_source`) for each chapter; it must be new or empty. Returns the files written.
    """
    from neuralart_helpers.files import atomic_write, atomic_write_text

    source_dir, output_dir = Path(source_dir), Path(output_dir)
    notebooks = _chapters(source_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise NeuralArtError(f"{output_dir} already exists and is not an empty folder; "
                             f"give a new folder for the course.")
    sources = [(path, _converted(lab_source, path)) for path in notebooks]  # all checked first
    written = [atomic_write_text(output_dir / "nbgrader_config.py", NBGRADER_CONFIG)]
    for path, source in sources:
        written.append(atomic_write(output_dir / "source" / path.stem / path.name,
                                    lambda tmp, nb=source: nbformat.write(nb, tmp)))
    return written


def _converted(convert, path: Path):
    try:
        return convert(_read(path))
    except NeuralArtError as error:
        raise NeuralArtError(f"{path.name}: {error}") from None


def setup_namespace(notebook, before: int) -> dict:
    """A namespace with the imports and literal constants of the code cells before cell ``before``.

    Enough to run an exercise's solution and check cells without running the
    whole chapter.
    """
    namespace: dict = {}
    for cell in notebook.cells[:before]:
        if cell.cell_type != "code":
            continue
        for statement in ast.parse(cell.source).body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)) or _is_constant(statement):
                exec(compile(ast.Module([statement], []), "<setup>", "exec"), namespace)
    return namespace


def _is_constant(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.Assign):
        return False
    try:
        ast.literal_eval(statement.value)
    except ValueError:
        return False
    return True


def run_exercise(notebook, solution_source: str, check_index: int) -> None:
    """Run ``solution_source`` then the check cell at ``check_index``; raises if the check fails."""
    namespace = setup_namespace(notebook, check_index)
    exec(compile(solution_source, "<solution>", "exec"), namespace)
    exec(compile(notebook.cells[check_index].source, "<check>", "exec"), namespace)
