"""Every exercise's check passes on the reference solution and fails on the student's stub."""

import ast
from pathlib import Path

import nbformat
import pytest

from neuralart_helpers import exercises
from neuralart_helpers.cli import main

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CASES = [(path, solution, check)
         for path in NOTEBOOKS
         for solution, check in exercises.exercises(nbformat.read(path, as_version=4))]


def test_every_chapter_has_at_least_two_exercises():
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        count = len(exercises.exercises(nbformat.read(path, as_version=4)))
        assert count >= 2, f"{path.name} has {count} exercise(s) with solution and check cells"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in ("01", "02", "03", "04")],
                         ids=lambda p: p.stem)
def test_chapters_01_to_04_have_one_open_exercise(path):
    notebook = nbformat.read(path, as_version=4)
    open_checks = [check for _, check in exercises.exercises(notebook)
                   if "open" in notebook.cells[check].metadata.get("tags", [])]
    assert len(open_checks) == 1, f"{path.name} has {len(open_checks)} open exercises"


@pytest.mark.parametrize("path, solution, check", CASES,
                         ids=[f"{p.stem}-cell{s}" for p, s, _ in CASES])
@pytest.mark.slow
def test_check_passes_on_reference_and_fails_on_stub(path, solution, check):
    notebook = nbformat.read(path, as_version=4)
    reference = notebook.cells[solution].source
    exercises.run_exercise(notebook, reference, check)
    stub = exercises.stub_source(reference)
    assert "NotImplementedError" in stub
    with pytest.raises((NotImplementedError, AssertionError)):
        exercises.run_exercise(notebook, stub, check)
    if "open" in notebook.cells[check].metadata.get("tags", []):
        # An open exercise has a target, not one answer: the naive answer must miss it.
        with pytest.raises(AssertionError):
            exercises.run_exercise(notebook, OPEN_NAIVE_ANSWERS[_defined(reference)], check)
        return
    # A stub fails any check that calls it; a nearly right answer must fail too, so the
    # check really compares numbers: every function's result nudged by 1 % fails it.
    with pytest.raises(AssertionError):
        exercises.run_exercise(notebook, reference + nudge_results(reference), check)


# What a student who changed nothing would hand in, for each open exercise.
OPEN_NAIVE_ANSWERS = {
    # chapter 01: section 1's plain pixel render
    "my_readable_recipe": ("def my_readable_recipe(size, seed):\n"
                           "    return {'image_param': param.pixel_image(size, size, seed=seed)}\n"),
    # chapter 02: section 3's three octaves of 20 steps
    "my_octave_schedule": ("def my_octave_schedule():\n"
                           "    return {'num_octaves': 3, 'octave_scale': 1.4, 'num_steps': 20}\n"),
    # chapter 03: the three-octave Laplacian dream the check compares with
    "my_smooth_dream_settings": ("def my_smooth_dream_settings():\n    return {'num_octaves': 3, "
                                 "'octave_scale': 1.4, 'num_steps': 20, 'laplacian_levels': 4}\n"),
    "my_adam_settings": "def my_adam_settings():\n    return {}\n",  # chapter 04: Adam's defaults
}


def _defined(source: str) -> str:
    return next(node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef))


def nudge_results(source: str) -> str:
    """Code that wraps every function ``source`` defines so its results are 1 % off."""
    names = [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    assert names, "a solution cell defines no function"
    return f"""

def _nudged(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_nudged(item) for item in value)
    return value * 1.01 + 0.01

for _name in {names!r}:
    globals()[_name] = (lambda function: lambda *args, **kwargs:
                        _nudged(function(*args, **kwargs)))(globals()[_name])
"""


def test_stub_keeps_signature_and_docstring():
    source = ('import math\n\n@staticmethod\ndef area(radius: float) -> float:\n'
              '    """Area of a circle."""\n    return math.pi * radius ** 2\n')
    stub = exercises.stub_source(source)
    assert "@staticmethod\ndef area(radius: float) -> float:\n    \"\"\"Area of a circle.\"\"\"" in stub
    assert "math.pi" not in stub
    namespace = {}
    exec(stub.replace("@staticmethod\n", ""), namespace)
    with pytest.raises(NotImplementedError, match="Exercise: write"):
        namespace["area"](1.0)
    # Other top-level code could give the answer away or be needed: the author must move it.
    with pytest.raises(exercises.NeuralArtError, match="x = 3"):
        exercises.stub_source(source + "\nx = 3\n")


def test_student_edition_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    assert main(["student-edition", str(tmp_path / "student"), "--notebooks", str(notebooks)]) == 0
    written = sorted((tmp_path / "student").glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for original_path, student_path in zip(NOTEBOOKS, written):
        original = nbformat.read(original_path, as_version=4)
        student = nbformat.read(student_path, as_version=4)
        assert len(student.cells) == len(original.cells)
        for solution, check in exercises.exercises(original):
            assert student.cells[solution].source.startswith(exercises.STUB_HEADER)
            assert student.cells[check].source == original.cells[check].source
    assert main(["student-edition", str(tmp_path / "x"), "--notebooks", str(tmp_path / "none")]) == 2
    assert "no such folder" in capsys.readouterr().err


# The usual wrong answers of chapter 04, written as a student would: each check must reject
# it and name it (the check cells list them in `mistakes=`; see checks.diagnose).
STYLE_MISTAKES = [
    ("my_gram_matrix", "tf.matmul(flat, flat, transpose_a=True) / (height * width)",
     "tf.matmul(flat, flat, transpose_a=True) / (height * width * channels)", "d2l.ai's gram"),
    ("my_gram_matrix", "tf.matmul(flat, flat, transpose_a=True) / (height * width)",
     "tf.matmul(flat, flat, transpose_a=True)", "the raw Gram"),
    ("my_style_loss", "tf.reduce_mean(tf.square(gram", "tf.reduce_sum(tf.square(gram",
     "a sum over the Gram entries"),
    ("my_style_loss", "total += weight *", "total += 1.0 *", "the layer weights left out"),
    ("my_total_variation", "tf.square", "tf.abs", "the L1 form"),
    ("my_total_variation", "tf.reduce_mean(tf.square(down)) + ", "",
     "only the horizontal differences"),
    ("my_two_loop", "return -q", "return q", "opposite sign"),
    ("my_mean_std", "tf.sqrt(tf.reduce_mean(tf.square(flat - mean), axis=0) + 1e-8)",
     "tf.reduce_mean(tf.square(flat - mean), axis=0)", "the variance instead"),
    ("my_mean_std", "tf.reduce_mean(tf.square(flat - mean), axis=0) + 1e-8",
     "tf.reduce_sum(tf.square(flat - mean), axis=0) / (flat.shape[0] - 1)",
     "the sample standard deviation"),
]


@pytest.mark.parametrize("function, right, wrong, named", STYLE_MISTAKES,
                         ids=[case[3] for case in STYLE_MISTAKES])
def test_style_checks_name_the_usual_mistakes(function, right, wrong, named):
    notebook = nbformat.read(NOTEBOOKS[3], as_version=4)
    assert NOTEBOOKS[3].stem == "04_style_transfer"
    solution, check = next((s, c) for s, c in exercises.exercises(notebook)
                           if f"def {function}(" in notebook.cells[s].source)
    source = notebook.cells[solution].source
    assert right in source
    with pytest.raises(AssertionError, match=named):
        exercises.run_exercise(notebook, source.replace(right, wrong), check)
