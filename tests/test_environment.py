"""Versions: pyproject's ranges, requirements.txt's pins and every chapter's install cell agree."""

import json
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from neuralart_helpers import environment

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def pins() -> dict[str, Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            found[requirement.name.lower()] = requirement
    return found


def test_the_installed_ranges_are_pyprojects():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {Requirement(line).name.lower(): str(Requirement(line).specifier)
                for line in project["dependencies"]}
    installed = environment.ranges()
    assert str(installed.pop("python").specifier) == str(Requirement(
        f"python{project['requires-python']}").specifier)
    assert {name: str(requirement.specifier) for name, requirement in installed.items()} == declared


def test_every_pin_is_exact_and_inside_the_helpers_range_on_every_supported_python():
    required, pinned = environment.ranges(), pins()
    for python in SUPPORTED_PYTHONS:
        assert required["python"].specifier.contains(python + ".0"), python
    for name, requirement in pinned.items():
        assert str(requirement.specifier).startswith("=="), f"{name} is not pinned exactly"
        if name in required:
            version = Version(str(requirement.specifier)[2:])
            assert required[name].specifier.contains(version), (name, version)
    # Everything a learner's install needs is pinned, so the README's commands are reproducible.
    assert set(required) - {"python", "packaging"} <= set(pinned)
    assert "nbgrader" not in required  # instructors' extra, not a learner's install


def test_pins_with_a_python_marker_are_the_ones_that_need_a_newer_python():
    marked = {name: requirement for name, requirement in pins().items() if requirement.marker}
    assert set(marked) == {"nbgrader"}
    environments = {python: {"python_version": python} for python in SUPPORTED_PYTHONS}
    assert not marked["nbgrader"].marker.evaluate(environments["3.10"])
    assert all(marked["nbgrader"].marker.evaluate(environments[python])
               for python in SUPPORTED_PYTHONS[1:])


def install_cells() -> dict[str, str]:
    cells = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        first = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
        cells[path.name] = "".join(first["source"])
    return cells


def test_every_chapter_opens_with_the_same_install_cell_that_names_no_version():
    cells = install_cells()
    assert len(cells) >= 6 and len(set(cells.values())) == 1, "the install cells differ"
    cell = next(iter(cells.values()))
    assert 'find_spec("neuralart_helpers") is None' in cell and "environment.report()" in cell
    assert not re.search(r"tensorflow\s*[=<>~!]|\d+\.\d+\.\d+|--upgrade|-U\b|--force", cell), cell


def test_versions_out_of_range_are_named_with_what_to_run():
    required = environment.ranges()
    fitting = {"python": "3.12.1", "tensorflow": "2.20.0", "keras": "3.13.2", "numpy": "2.1.3"}
    assert environment.problems(fitting, required) == []
    old = dict(fitting, tensorflow="2.18.1", keras=None, python="3.9.18")
    sentences = environment.problems(old, required)
    assert len(sentences) == 3
    assert sentences[0].startswith("Python 3.9.18 does not fit")
    assert "tensorflow 2.18.1 does not fit" in sentences[1]
    assert f"pip install 'tensorflow{required['tensorflow'].specifier}'" in sentences[1]
    assert sentences[2].startswith("keras is not installed")
    replaced = environment.problems(fitting, required, loaded_tensorflow="2.19.1")
    assert replaced == ["TensorFlow 2.19.1 is loaded but 2.20.0 is installed: restart the "
                        "runtime and run this cell again."]


def test_the_report_prints_the_versions_of_this_python(capsys):
    assert environment.report() is True  # this test environment fits the course
    line = capsys.readouterr().out.strip()
    assert line.startswith("python ") and "tensorflow" in line and line.endswith("all fit the course.")
