"""`neuralart lab`: an nbgrader course whose release is the student edition, graded end to end."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from neuralart_helpers import exercises
from neuralart_helpers.cli import main

nbgrader = pytest.importorskip("nbgrader")

from nbgrader.api import Gradebook  # noqa: E402
from nbgrader.nbgraderformat import MetadataValidator  # noqa: E402
from nbgrader.preprocessors import ClearSolutions  # noqa: E402
from traitlets.config.loader import PyFileConfigLoader  # noqa: E402

from test_exercises import nudge_results  # noqa: E402

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# One of the shortest chapters to execute: the round trip runs it once per student (three times).
GRADED = ["03_deepdream_laplacian"]
NBGRADER = [sys.executable, "-m", "nbgrader"]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab") / "course"
    assert main(["lab", str(folder), "--notebooks", str(NOTEBOOKS_DIR)]) == 0
    return folder


def _points(check_cell) -> int:
    open_exercise = "open" in check_cell.metadata.get("tags", [])
    return exercises.OPEN_EXERCISE_POINTS if open_exercise else exercises.EXERCISE_POINTS


def test_lab_writes_a_valid_nbgrader_source_per_chapter(course):
    assert (course / "nbgrader_config.py").is_file()
    for path in NOTEBOOKS:
        original = nbformat.read(path, as_version=4)
        source = nbformat.read(course / "source" / path.stem / path.name, as_version=4)
        MetadataValidator().validate_nb(source)
        assert len(source.cells) == len(original.cells)
        for solution, check in exercises.exercises(original):
            answer, test = source.cells[solution].metadata.nbgrader, source.cells[check].metadata.nbgrader
            assert (answer.solution, answer.grade, answer.locked) == (True, False, False)
            assert (test.solution, test.grade, test.locked) == (False, True, True)
            assert test.points == _points(original.cells[check]) and test.grade_id == f"check_{answer.grade_id}"
            marked = source.cells[solution].source
            assert exercises.BEGIN_SOLUTION in marked and exercises.END_SOLUTION in marked
            # The source still holds the whole answer, so it is the instructor's reference.
            for line in original.cells[solution].source.splitlines():
                assert line in marked
            assert source.cells[check].source == original.cells[check].source


def test_nbgrader_release_is_the_student_edition(course):
    """nbgrader's own ClearSolutions, configured by the course's nbgrader_config.py, gives
    exactly the cells of `neuralart student-edition`: the two cannot drift."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    for path in NOTEBOOKS:
        source = nbformat.read(course / "source" / path.stem / path.name, as_version=4)
        release, _ = ClearSolutions(config=config).preprocess(source, {})
        edition = exercises.student_edition(nbformat.read(path, as_version=4))
        assert [cell.source for cell in release.cells] == [cell.source for cell in edition.cells]


def test_lab_refuses_a_used_folder_and_a_folder_without_notebooks(course, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURALART_DEBUG", "1")  # keep stderr where capsys reads it
    assert main(["lab", str(course), "--notebooks", str(NOTEBOOKS_DIR)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["lab", str(tmp_path / "out"), "--notebooks", str(tmp_path / "empty")]) == 2
    assert "No notebooks" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_mark_solution_keeps_signature_and_docstring_outside_the_region():
    source = ('import math\n\n\ndef area(radius):\n    """Area of a circle."""\n'
              '    # pi r squared\n    return math.pi * radius ** 2\n')
    marked = exercises.mark_solution(source)
    assert marked == ('import math\n\n\ndef area(radius):\n    """Area of a circle."""\n'
                      '    ### BEGIN SOLUTION\n    # pi r squared\n    return math.pi * radius ** 2\n'
                      '    ### END SOLUTION\n')
    assert "pi r squared" not in exercises.clear_solution(marked)
    with pytest.raises(exercises.NeuralArtError, match="top-level code"):
        exercises.mark_solution(source + "\nANSWER = 3\n")
    with pytest.raises(exercises.NeuralArtError, match="line of its own"):
        exercises.mark_solution("def f(x): return x\n")


def _nbgrader(course: Path, *args: str) -> None:
    done = subprocess.run([*NBGRADER, *args], cwd=course, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _nudged_exercise(notebook) -> tuple[int, int]:
    """The first exercise with one right answer (not open): its answer will be 1 % off."""
    return next((s, c) for s, c in exercises.exercises(notebook)
                if "open" not in notebook.cells[c].metadata.get("tags", []))


@pytest.mark.slow
def test_nbgrader_round_trip_grades_exactly_the_wrong_answers(course):
    """generate_assignment, then one autograde per chapter of three students: one hands in
    the source (full marks), one the release unchanged (zero), one the source with one
    answer 1 % off (loses that exercise's points only)."""
    students = ("full", "blank", "nudged")
    for student in students:
        _nbgrader(course, "db", "student", "add", student)
    for chapter in GRADED:
        _nbgrader(course, "generate_assignment", chapter)
        name = f"{chapter}.ipynb"
        source = nbformat.read(course / "source" / chapter / name, as_version=4)
        release = nbformat.read(course / "release" / chapter / name, as_version=4)
        original = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
        for solution, _ in exercises.exercises(original):
            body = [line for line in original.cells[solution].source.splitlines()[1:]
                    if line.strip() and line not in release.cells[solution].source]
            assert body, f"{chapter} cell {solution}: the release kept the whole answer"
            assert release.cells[solution].source == exercises.stub_source(original.cells[solution].source)
        assert not any("BEGIN SOLUTION" in cell.source for cell in release.cells)

        nudged = nbformat.read(course / "source" / chapter / name, as_version=4)
        solution, _ = _nudged_exercise(original)
        nudged.cells[solution].source += nudge_results(original.cells[solution].source)
        for student, notebook in zip(students, (source, release, nudged)):
            folder = course / "submitted" / student / chapter
            folder.mkdir(parents=True)
            nbformat.write(notebook, folder / name)
        _nbgrader(course, "autograde", chapter)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for chapter in GRADED:
            original = nbformat.read(NOTEBOOKS_DIR / f"{chapter}.ipynb", as_version=4)
            source = nbformat.read(course / "source" / chapter / f"{chapter}.ipynb", as_version=4)
            nudged_check = _nudged_exercise(original)[1]
            checks = {source.cells[c].metadata.nbgrader.grade_id: (c, _points(original.cells[c]))
                      for _, c in exercises.exercises(original)}
            total = sum(points for _, points in checks.values())
            for student in students:
                submission = gradebook.find_submission_notebook(chapter, chapter, student)
                assert submission.max_score == total
                for grade_id, (check, points) in checks.items():
                    score = gradebook.find_grade(grade_id, chapter, chapter, student).score
                    expected = {"full": points, "blank": 0,
                                "nudged": 0 if check == nudged_check else points}[student]
                    assert score == expected, (chapter, student, grade_id, score)
            assert gradebook.find_submission_notebook(chapter, chapter, "full").score == total
            assert gradebook.find_submission_notebook(chapter, chapter, "blank").score == 0
    shutil.rmtree(course / "autograded", ignore_errors=True)
