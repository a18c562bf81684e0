"""Octaves: the schedule of image sizes that multiscale rendering and DeepDream climb through.

One rule for every chapter (01's multiscale rendering, 02 and 03's dreams, the
``neuralart`` command): octave ``i``, counted down from the full size, is
``octave_scale**i`` times smaller, so the smallest comes first. Sizes are
``(height, width)`` in pixels; nothing here imports TensorFlow.
"""

from __future__ import annotations

import math

from neuralart_helpers.errors import ImageTooSmallError, NeuralArtError


def octave_shapes(height: int, width: int, num_octaves: int,
                  octave_scale: float) -> list[tuple[int, int]]:
    """Image sizes from the smallest octave to ``(height, width)``.

    Args:
        height, width: the full size in pixels.
        num_octaves: how many sizes (at least 1).
        octave_scale: the ratio between neighbouring sizes (at least 1, e.g. 1.4).

    Returns:
        ``num_octaves`` pairs ``(round(height / s**i), round(width / s**i))`` for
        ``i = num_octaves - 1, ..., 0``; the last one is ``(height, width)``.
    """
    if int(num_octaves) != num_octaves or num_octaves < 1:
        raise NeuralArtError(f"The number of octaves must be a whole number of at least 1, "
                             f"got {num_octaves}.")
    if not octave_scale >= 1:
        raise NeuralArtError(f"octave_scale must be at least 1 (1.3 to 1.5 is usual), "
                             f"got {octave_scale}.")
    return [(round(height / octave_scale ** i), round(width / octave_scale ** i))
            for i in reversed(range(int(num_octaves)))]


def octaves_that_fit(height: int, width: int, min_size: int, octave_scale: float,
                     max_octaves: int) -> int:
    """The most octaves, up to ``max_octaves``, whose smallest size is at least ``min_size``.

    Returns 0 when even the full size is below ``min_size``.
    """
    fitting = 0  # the sizes rounded as octave_shapes rounds them (round(30.5) is 30)
    while fitting < max_octaves and min(round(height / octave_scale ** fitting),
                                        round(width / octave_scale ** fitting)) >= min_size:
        fitting += 1
    return fitting


def check_octaves(height: int, width: int, num_octaves: int, octave_scale: float,
                  min_size: int, network: str = "the network") -> list[tuple[int, int]]:
    """:func:`octave_shapes`, raising :class:`ImageTooSmallError` if the first is below ``min_size``.

    The message says how many octaves would fit, or the size the image needs.
    """
    shapes = octave_shapes(height, width, num_octaves, octave_scale)
    small_h, small_w = shapes[0]
    if min(small_h, small_w) >= min_size:
        return shapes
    fitting = octaves_that_fit(height, width, min_size, octave_scale, num_octaves)
    needed = math.ceil(min_size * octave_scale ** (num_octaves - 1))
    advice = (f"use at most {fitting} octaves at this scale, a smaller octave scale, or an image "
              f"of at least {needed} px" if fitting
              else f"enlarge the image to at least {needed} px")
    raise ImageTooSmallError(
        f"With {num_octaves} octaves at scale {octave_scale}, a {height}x{width} image starts "
        f"at {small_h}x{small_w} (the first octave), below the {min_size} px that {network} "
        f"needs: {advice}.")
