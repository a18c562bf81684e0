"""The `neuralart` command: fetch, doctor, and one-line errors with exit status 2."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from neuralart_helpers import assets
from neuralart_helpers.cli import main

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NEURALART_DEBUG", "1")  # in-process: leave pytest's stderr capture alone
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def usb_stick(tmp_path_factory):
    """A folder holding good copies of every non-system asset (what a lab hands out)."""
    folder = tmp_path_factory.mktemp("usb")
    for name, asset in assets.REGISTRY.items():
        if not asset.system_dirs:
            shutil.copy(assets.fetch(name), folder / asset.filename)
    return folder


def test_doctor_reports_missing_then_ready(empty_cache, usb_stick, capsys):
    assert main(["doctor"]) == 1
    report = capsys.readouterr().out
    assert str(empty_cache) in report
    assert report.count("missing") >= 5 and "tensorflow 2." in report

    assert main(["fetch", "--from", str(usb_stick)]) == 0
    assert main(["doctor"]) == 0
    report = capsys.readouterr().out
    assert "present  squeezenet_weights" in report and "missing " not in report


def test_doctor_flags_corrupt_file(empty_cache, usb_stick, capsys):
    main(["fetch", "--from", str(usb_stick)])
    target = assets.cache_path(assets.get_asset("the_scream"))
    target.write_bytes(target.read_bytes()[:1000])
    assert main(["doctor"]) == 1
    assert "corrupt  the_scream" in capsys.readouterr().out


def test_fetch_offline_fails_with_exit_2(empty_cache, capsys):
    assert main(["fetch", "shipwreck"]) == 2
    captured = capsys.readouterr()
    assert "FAILED  shipwreck" in captured.out
    assert str(empty_cache / "datasets" / "neuralart-paintings" / "shipwreck.jpg") in captured.out
    assert captured.err.count("\n") == 1 and "1 of 1 assets" in captured.err


def test_bad_arguments_are_one_line_exit_2(empty_cache, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["paint"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["fetch", "no_such_asset"]) == 2
    assert "Unknown asset 'no_such_asset'" in capsys.readouterr().err


def test_console_script_errors_are_one_clean_line(tmp_path):
    """The installed command hides TensorFlow's native log lines: stderr is exactly our line."""
    command = [sys.executable, "-c", "from neuralart_helpers.cli import run; run()",
               "fetch", "--from", str(tmp_path / "nope")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == f"neuralart fetch: error: --from {tmp_path / 'nope'}: no such folder.\n"
