"""Tiled gradients: the gradient of an image of any size, one tile at a time (chapters 01-03).

The image is rolled by a random shift (so the tile seams move at every step),
cut into tiles, and each tile's loss and gradient is computed on its own; memory
then stays flat however large the image is.

**Area weighting.** The losses the course tiles are *means* over positions (a
channel's mean activation, the dream loss). The mean over the whole image is the
area-weighted average of the tiles' means,

$$L(x) \\approx \\sum_t \\frac{|t|}{|x|} L(x_t),$$

so each tile's loss and gradient is multiplied by its share of the image's area.
Without the weights a pixel's gradient would be scaled by one over its tile's
area, and the short strip at the image's edge would move several times faster
than the rest. With them, for a layer whose positions are proportional to the
area (``"same"`` padding), the tiled gradient equals the whole-image gradient away
from the seams (``tests/test_tiling.py``). Unpadded layers (SqueezeNet's first
convolution and pools) lose a border in every tile, so a tile has a few per cent
fewer positions per pixel than the whole image and the tiled gradient comes out
that much larger everywhere; the normalised step of every chapter divides it away.

Images are ``(H, W, 3)`` float32 NumPy arrays in pixel space ``[0, 255]``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from neuralart_helpers.errors import ImageTooSmallError, NeuralArtError

# compiled ``(1, h, w, 3) -> (scalar loss, (1, h, w, 3) gradient)``, see ascent.compiled_gradient
LossAndGradient = Callable[[np.ndarray], tuple]


def tile_bounds(length: int, tile_size: int) -> list[tuple[int, int]]:
    """Split ``range(length)`` into ``(start, stop)`` tiles of ``tile_size`` pixels.

    A remainder shorter than half a tile is merged into the tile before it, so
    every tile is between ``tile_size // 2`` and ``tile_size + tile_size // 2 - 1``
    pixels long (unless ``length`` itself is shorter). One rule for every chapter.
    """
    if int(tile_size) != tile_size or tile_size < 1:
        raise NeuralArtError(f"The tile size must be a positive number of pixels, got {tile_size}.")
    starts = list(range(0, int(length), int(tile_size)))
    if len(starts) > 1 and length - starts[-1] < tile_size // 2:
        starts.pop()
    return list(zip(starts, starts[1:] + [int(length)]))


def check_tile_size(tile_size: int, min_size: int, network: str = "the network") -> None:
    """Raise :class:`ImageTooSmallError` unless the shortest tile (half a tile) reaches ``min_size``."""
    if int(tile_size) != tile_size or tile_size < 1:
        raise NeuralArtError(f"The tile size must be a positive number of pixels, got {tile_size}.")
    if tile_size // 2 < min_size:
        raise ImageTooSmallError(
            f"A tile size of {tile_size} can leave tiles of {tile_size // 2} pixels, below "
            f"{network}'s minimum of {min_size}: use a tile size of at least {2 * min_size}.")


def random_shift(max_shift: int, rng: np.random.Generator) -> tuple[int, int]:
    """Draw a ``(dy, dx)`` roll, each uniform in ``[0, max_shift)`` (pass the tile size)."""
    return int(rng.integers(max_shift)), int(rng.integers(max_shift))


def random_roll(image: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Roll an ``(H, W, C)`` array down by ``dy`` and right by ``dx`` pixels, wrapping around.

    ``out[(i + dy) % H, (j + dx) % W] = image[i, j]``; :func:`unroll` undoes it exactly.
    """
    return np.roll(image, shift=(int(shift[0]), int(shift[1])), axis=(0, 1))


def unroll(image: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Exact inverse of :func:`random_roll` with the same ``shift``."""
    return np.roll(image, shift=(-int(shift[0]), -int(shift[1])), axis=(0, 1))


def tiled_loss_and_gradient(loss_and_gradient: LossAndGradient, image: np.ndarray, tile_size: int,
                            shift: tuple[int, int] | None = None) -> tuple[float, np.ndarray]:
    """The area-weighted loss and its gradient, tile by tile, of a rolled image.

    Args:
        loss_and_gradient: a compiled ``(1, h, w, 3) -> (loss, gradient)`` from
            :func:`neuralart_helpers.ascent.compiled_gradient`.
        image: ``(H, W, 3)`` pixels in ``[0, 255]`` (NumPy or tensor).
        tile_size: the tile side in pixels (see :func:`tile_bounds`).
        shift: ``(dy, dx)`` roll applied before tiling and undone after (``None``: none).

    Returns:
        ``(loss, gradient)``: ``sum_t |t| / |x| * L(x_t)`` as a float, and its
        ``(H, W, 3)`` float32 gradient. With one tile and no shift they are the
        plain loss and gradient.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise NeuralArtError(f"Tiled gradients take one (H, W, 3) image, got shape {image.shape}.")
    height, width = image.shape[:2]
    shift_y, shift_x = (0, 0) if shift is None else shift
    # Row r of random_roll(image, shift) is row rows[r] of image (columns alike), so a
    # tile of the rolled image is image[rows[top:bottom]][:, cols[left:right]]: this rolls
    # and unrolls one tile at a time, without two full-size copies.
    rows = (np.arange(height) - shift_y) % height
    cols = (np.arange(width) - shift_x) % width
    gradient, total = np.zeros_like(image), 0.0
    for top, bottom in tile_bounds(height, tile_size):
        for left, right in tile_bounds(width, tile_size):
            where = np.ix_(rows[top:bottom], cols[left:right])
            share = (bottom - top) * (right - left) / (height * width)
            loss, tile_gradient = loss_and_gradient(image[where][None])
            gradient[where] = np.float32(share) * tile_gradient[0].numpy()
            total += share * float(loss)
    return total, gradient
