"""Atomic writes: the umask's permissions (not mkstemp's 0600), nothing lost, nothing left behind."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from neuralart_helpers import files, images


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_gives_the_umask_mode(tmp_path, umask, mask, expected):
    umask(mask)
    path = files.atomic_write(tmp_path / "out.txt", lambda tmp: Path(tmp).write_text("hello"))
    assert path == tmp_path / "out.txt" and path.read_text() == "hello"
    assert mode(path) == expected
    assert os.umask(mask) == mask  # the write left the umask as it was


def test_replacing_a_file_also_gets_the_umask_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "notes.txt"
    target.write_text("old")
    os.chmod(target, 0o600)
    files.atomic_write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    files.atomic_write_bytes(target, b"old content")

    def broken(tmp):
        with open(tmp, "wb") as stream:
            stream.write(b"half writ")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(target, broken)
    assert target.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_an_interrupted_first_write_leaves_nothing(tmp_path):
    def interrupted(tmp):
        Path(tmp).write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(tmp_path / "new.txt", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_no_temporary_file_is_left_after_a_write(tmp_path):
    files.atomic_write_text(tmp_path / "a.txt", "é")
    files.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]
    assert (tmp_path / "a.txt").read_bytes() == "é".encode("utf-8")


def test_missing_parent_folders_are_created(tmp_path):
    path = files.atomic_write_text(tmp_path / "x" / "y" / "z.txt", "deep")
    assert path.read_text() == "deep"


def test_saved_images_and_gifs_get_0644_under_umask_022(tmp_path, umask):
    umask(0o022)
    picture = np.full((4, 6, 3), 100.0, np.float32)
    for name in ("a.png", "b.jpg"):
        assert mode(images.save_image(tmp_path / name, picture)) == 0o644
    assert mode(images.save_gif(tmp_path / "c.gif", [picture, picture])) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.jpg", "c.gif"]
