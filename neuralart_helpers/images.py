"""Images in and out: load any picture as float RGB, save atomically, write GIFs.

Convention used across the course: an *image* is a NumPy array (or tensor) of
shape ``(H, W, 3)``, dtype float32, values in ``[0, 255]``, RGB channel order.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from neuralart_helpers.errors import ImageError
from neuralart_helpers.files import atomic_write

CONTENT_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel")
# More bundled images, for variety where many are wanted (fast style transfer's training set):
# scikit-image's, and matplotlib's portrait of Grace Hopper.
MORE_PHOTOS = ("camera", "coins", "clock", "immunohistochemistry", "hubble_deep_field", "grace_hopper")
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}




def load_image(path: str | os.PathLike, max_dim: int | None = None) -> np.ndarray:
    """Read any file Pillow understands as an RGB float32 image.

    EXIF orientation is applied; grayscale, palette, CMYK and 16-bit images are
    converted to RGB; transparent images are composited on white.

    Args:
        path: the image file.
        max_dim: if given, shrink (never enlarge) so that the longer side is
            at most ``max_dim`` pixels, keeping the aspect ratio.

    Returns:
        Array of shape ``(H, W, 3)``, float32, values in ``[0, 255]``.

    Raises:
        ImageError: the file is missing, is not an image, or is truncated.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"No such file: {path}. Check the path (it is relative to {os.getcwd()}).")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file.")
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as opened:
            opened.load()
            picture = ImageOps.exif_transpose(opened)
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image Pillow can read (PNG, JPEG, GIF, TIFF, "
                         f"BMP, WebP ... are fine).") from None
    except (OSError, SyntaxError) as error:
        raise ImageError(f"{path} is damaged or truncated and cannot be decoded ({error}); "
                         f"re-download or re-export it.") from None
    image = to_rgb_array(picture)
    if max_dim is not None:
        image = resize_max_dim(image, max_dim)
    return image


def to_rgb_array(picture: Image.Image) -> np.ndarray:
    """Convert a Pillow image of any mode to an ``(H, W, 3)`` float32 array in ``[0, 255]``."""
    if picture.mode.startswith("I"):
        # 16-bit grayscale ("I;16"; older Pillow reads it as 32-bit "I"): 0..65535 -> 0..255.
        gray = np.asarray(picture, dtype=np.float32)
        if picture.mode != "I" or gray.max(initial=0) > 255:
            gray = gray / 257.0
        return np.repeat(np.clip(gray, 0, 255)[:, :, None], 3, axis=2)
    if picture.mode == "F":
        gray = np.asarray(picture, dtype=np.float32)
        if gray.max(initial=0) <= 1.0:
            gray = gray * 255.0
        return np.repeat(np.clip(gray, 0, 255)[:, :, None], 3, axis=2)
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    if has_alpha:
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba)
    return np.asarray(picture.convert("RGB"), dtype=np.float32)


def resize_max_dim(image: np.ndarray, max_dim: int) -> np.ndarray:
    """Shrink an ``(H, W, 3)`` image so its longer side is at most ``max_dim`` (aspect kept)."""
    if max_dim < 1:
        raise ImageError(f"max_dim must be a positive number of pixels, got {max_dim}.")
    return image if max(image.shape[:2]) <= max_dim else resize_longer_side(image, max_dim)


def resize_longer_side(image: np.ndarray, length: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` image, aspect kept, so its longer side is ``length`` pixels."""
    height, width = image.shape[:2]
    scale = length / max(height, width)
    if height == round(height * scale) and width == round(width * scale):
        return image
    return resize(image, max(1, round(height * scale)), max(1, round(width * scale)))


def resize(image, height: int, width: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` image or a ``(B, H, W, 3)`` batch in ``[0, 255]`` to ``height x width``.

    The one resize of the course (octaves, dreams, style images, GIF frames):
    Lanczos-3, antialiased when shrinking, clipped to ``[0, 255]``. Accepts NumPy
    arrays or tensors and returns a float32 NumPy array; the same size returns a copy.
    """
    import tensorflow as tf

    array = np.asarray(image, dtype=np.float32)
    if array.ndim not in (3, 4):
        raise ImageError(f"resize expects an (H, W, C) image or a (B, H, W, C) batch, "
                         f"got shape {array.shape}.")
    if array.shape[-3:-1] == (height, width):
        return array.copy()
    resized = tf.image.resize(array, (int(height), int(width)), method="lanczos3", antialias=True)
    return np.clip(resized.numpy(), 0, 255).astype(np.float32)


def check_image(name: str, image) -> np.ndarray:
    """Return ``image`` as an ``(H, W, 3)`` float32 array in [0, 255]; grey ``(H, W)`` or
    ``(H, W, 1)`` and RGBA ``(H, W, 4)`` are converted. Raises :class:`ImageError`."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(f"The {name} must be an (H, W, 3) RGB image, "
                         f"got shape {array.shape}.")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        array = array[:, :, :3]
    if not np.all(np.isfinite(array)):
        raise ImageError(f"The {name} contains NaN or infinite values.")
    if array.max(initial=0) <= 1.0 and array.max(initial=0) > 0:
        warnings.warn(f"The {name} has values in [0, 1]; the course's images are in [0, 255] "
                      f"(multiply by 255).", stacklevel=3)
    return np.clip(array, 0, 255)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Clip to ``[0, 255]`` and round to uint8 for saving or display."""
    return np.clip(np.round(np.asarray(image, dtype=np.float32)), 0, 255).astype(np.uint8)


def save_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Save an ``(H, W, 3)`` image in ``[0, 255]`` as PNG or JPEG (chosen by extension).

    The file is written to a temporary name and renamed, so an interrupted save
    never leaves a half-written picture behind (or destroys an older one).
    """
    path = Path(path)
    image_format = _SAVE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise ImageError(f"Cannot save {path}: use a .png, .jpg or .jpeg file name.")
    array = to_uint8(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageError(f"save_image expects an (H, W, 3) image, got shape {array.shape}.")
    options = {"quality": quality} if image_format == "JPEG" else {}
    return atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, image_format, **options))


def save_gif(path: str | os.PathLike, frames: Sequence[np.ndarray] | Iterable[np.ndarray],
             fps: float = 8.0, loop: int = 0) -> Path:
    """Write frames (each ``(H, W, 3)`` in ``[0, 255]``, all the same size) as an animated GIF."""
    import imageio.v3 as iio

    path = Path(path)
    frames = [to_uint8(frame) for frame in frames]
    if not frames:
        raise ImageError("save_gif needs at least one frame.")
    if len({frame.shape for frame in frames}) > 1:
        raise ImageError("All GIF frames must have the same shape; resize them first.")
    duration_ms = 1000.0 / fps
    return atomic_write(path, lambda tmp: iio.imwrite(
        tmp, np.stack(frames), extension=".gif", duration=duration_ms, loop=loop))


def content_photo(name: str = "astronaut", max_dim: int | None = None) -> np.ndarray:
    """A photograph bundled with scikit-image or matplotlib (no download), as RGB float32.

    Args:
        name: one of ``CONTENT_PHOTOS`` or ``MORE_PHOTOS``.
        max_dim: optional size limit for the longer side.
    """
    import skimage.data

    if name not in CONTENT_PHOTOS + MORE_PHOTOS:
        raise ImageError(f"Unknown photo {name!r}; choose one of "
                         f"{', '.join(CONTENT_PHOTOS + MORE_PHOTOS)}.")
    if name == "grace_hopper":
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
            image = to_rgb_array(Image.open(file))
    else:
        image = to_rgb_array(Image.fromarray(getattr(skimage.data, name)()))
    return resize_max_dim(image, max_dim) if max_dim else image


def painting(name: str, max_dim: int | None = None) -> np.ndarray:
    """One of the course's public-domain paintings (fetched through the asset cache)."""
    from neuralart_helpers import assets

    if name not in assets.PAINTINGS:
        raise ImageError(f"Unknown painting {name!r}; choose one of {', '.join(assets.PAINTINGS)}.")
    return load_image(assets.fetch(name), max_dim=max_dim)
