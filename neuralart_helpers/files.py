"""Writing files so that nothing a user made is lost: write to a temporary name, then rename.

Used for every image, GIF, checkpoint note and notebook the course writes. An
interrupted write leaves the old file (if any) untouched, and the new file gets the
permissions any other program would give it (``0666`` less the user's umask, so
``0644`` under the usual umask ``022``), not the ``0600`` of a temporary file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    Args:
        path: the file to create or replace; missing parent folders are created.
        write: writes the whole content to the path it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`. If ``write`` raises, the temporary file is
        removed, ``path`` is left as it was and the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(tmp_name)
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text file."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of a binary file."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
