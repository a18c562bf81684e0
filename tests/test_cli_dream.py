"""`neuralart dream`: writes the dream, refuses bad input with one line and exit 2."""

import os
import stat

import numpy as np
import pytest

from neuralart_helpers import images
from neuralart_helpers.cli import main


@pytest.fixture
def photo_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    path = tmp_path / "photo.png"
    images.save_image(path, images.content_photo("chelsea", max_dim=96))
    return path


def test_dream_writes_a_changed_image(photo_file, tmp_path, capsys):
    out = tmp_path / "dream.png"
    saved_umask = os.umask(0o022)
    try:
        assert main(["dream", str(photo_file), str(out), "--octaves", "2", "--steps", "3",
                     "--laplacian", "--tile", "64", "--quiet"]) == 0
    finally:
        os.umask(saved_umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # not the 0600 of a temporary file
    before, after = images.load_image(photo_file), images.load_image(out)
    assert after.shape == before.shape
    assert np.abs(after - before).mean() > 2.0
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--octave-scale", "0.8"], "octave_scale must be at least 1"),
    (["--octaves", "0"], "number of octaves must be a whole number of at least 1"),
    (["--octaves", "6"], "use at most 3 octaves"),  # 64x96: 64, 46, 33 px fit; 23 does not
    (["--layers", "mixed5=1"], "Valid layer names: conv1"),
    (["--step-size", "0"], "--step-size must be positive"),
])
def test_bad_settings_are_one_line(photo_file, tmp_path, capsys, extra, message):
    assert main(["dream", str(photo_file), str(tmp_path / "o.png"), "--quiet"] + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_an_octave_scale_of_1_repeats_the_full_size(photo_file, tmp_path, capsys):
    out = tmp_path / "same.png"
    assert main(["dream", str(photo_file), str(out), "--octaves", "2", "--octave-scale", "1",
                 "--steps", "1", "--quiet"]) == 0
    assert images.load_image(out).shape == images.load_image(photo_file).shape


def test_refuses_to_overwrite_the_input(photo_file, capsys):
    before = photo_file.read_bytes()
    assert main(["dream", str(photo_file), str(photo_file.parent / "." / photo_file.name)]) == 2
    assert "same file as IN" in capsys.readouterr().err
    assert photo_file.read_bytes() == before


def test_not_an_image(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    assert main(["dream", str(text), str(tmp_path / "o.png")]) == 2
    assert "not an image" in capsys.readouterr().err
