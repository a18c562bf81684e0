"""Exercises: the student edition of the notebooks, and running an exercise's check.

In every chapter an exercise is a code cell tagged ``solution`` (the reference
answer, usually one function) followed by a code cell tagged ``check`` (which
calls it on fixed inputs and compares with expected numbers). The student
edition keeps the check cells and replaces each solution by a stub: the same
signature and docstring, with a body that raises ``NotImplementedError``.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import nbformat

from neuralart_helpers.errors import NeuralArtError

STUB_HEADER = "# Exercise: write the body of the function(s) below, then run the check cell.\n"


def stub_source(solution: str) -> str:
    """The student's starting point for a solution cell's source.

    Each top-level function keeps its decorators, signature and docstring; its
    body becomes ``raise NotImplementedError``. Other statements are dropped.
    """
    tree = ast.parse(solution)
    lines = solution.splitlines()
    stubs = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first_line = min([node.lineno] + [d.lineno for d in node.decorator_list])
        body_start = node.body[0]
        kept = lines[first_line - 1: body_start.lineno - 1]
        if ast.get_docstring(node) is not None:
            kept += lines[body_start.lineno - 1: body_start.end_lineno]
        indent = " " * (node.col_offset + 4)
        kept += [f"{indent}# Your code here.",
                 f"{indent}raise NotImplementedError(\"Exercise: write {node.name}\")"]
        stubs.append("\n".join(kept))
    if not stubs:
        return STUB_HEADER + "raise NotImplementedError(\"Exercise: write your answer here\")\n"
    return STUB_HEADER + "\n\n\n".join(stubs) + "\n"


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


def student_edition(notebook):
    """A copy of ``notebook`` with every solution cell replaced by its stub (outputs cleared)."""
    edition = copy.deepcopy(notebook)
    for solution, _ in exercises(edition):
        cell = edition.cells[solution]
        cell.source = stub_source(cell.source)
        cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "hide-input"]
    for cell in edition.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return edition


def write_student_edition(source_dir: str | Path, output_dir: str | Path) -> list[Path]:
    """Write the student edition of every ``*.ipynb`` in ``source_dir`` into ``output_dir``."""
    from neuralart_helpers.files import atomic_write

    source_dir, output_dir = Path(source_dir), Path(output_dir)
    notebooks = sorted(source_dir.glob("*.ipynb"))
    if not notebooks:
        raise NeuralArtError(f"No notebooks (*.ipynb) in {source_dir}; pass the course's notebooks/ folder.")
    if output_dir.resolve() == source_dir.resolve():
        raise NeuralArtError("The student edition must go to another folder than the notebooks themselves.")
    written = []
    for path in notebooks:
        edition = student_edition(nbformat.read(path, as_version=4))
        written.append(atomic_write(output_dir / path.name,
                                     lambda tmp, nb=edition: nbformat.write(nb, tmp)))
    return written


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
