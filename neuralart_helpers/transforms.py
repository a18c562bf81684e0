"""Transformation robustness: small random changes before the network looks (chapter 01, section 5).

A *transform* maps a batch of images and a seed to new images::

    transform(images, seed) -> images

with ``images`` a ``(B, H, W, 3)`` float32 tensor in ``[0, 255]`` (the size may
change: jitter crops, pad grows, scale resizes) and ``seed`` a shape ``(2,)``
int32 tensor. Randomness is *stateless*: the same seed gives the same result,
so a compiled render step is traced once and a seeded render reproduces
exactly. A list of transforms composes with :func:`compose`.

If the image must keep activating the channel after being shifted, scaled and
rotated a little, the high-frequency patterns that only fool one exact pixel
grid stop paying off (Olah et al. 2017, "Feature Visualization").
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import tensorflow as tf

from neuralart_helpers.errors import NeuralArtError

Transform = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]




def _choice(values: Sequence[float], seed: tf.Tensor) -> tf.Tensor:
    """One of ``values``, chosen uniformly with a stateless seed (float32 scalar)."""
    index = tf.random.stateless_uniform([], seed, 0, len(values), dtype=tf.int32)
    return tf.gather(tf.constant(values, tf.float32), index)


def jitter(pixels: int) -> Transform:
    """Random crop ``pixels`` smaller on each side: shifts the content by up to ``pixels``.

    Output ``(B, H - pixels, W - pixels, 3)``; the same shift for the whole batch.
    """
    if pixels < 1:
        raise NeuralArtError(f"jitter needs a positive number of pixels, got {pixels}.")

    def crop(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(images)
        offset = tf.random.stateless_uniform([2], seed, 0, pixels + 1, dtype=tf.int32)
        return images[:, offset[0]:offset[0] + shape[1] - pixels,
                      offset[1]:offset[1] + shape[2] - pixels, :]

    return crop


def pad(pixels: int, mode: str = "REFLECT", value: float = 127.5) -> Transform:
    """Pad every side by ``pixels`` (``"REFLECT"`` or ``"CONSTANT"`` with ``value``); not random.

    Padding before jitter/rotate keeps the borders of the real image from
    being cropped away more often than its centre.
    """
    if pixels < 1:
        raise NeuralArtError(f"pad needs a positive number of pixels, got {pixels}.")
    if mode not in ("REFLECT", "CONSTANT", "SYMMETRIC"):
        raise NeuralArtError(f"pad mode {mode!r}: use 'REFLECT', 'SYMMETRIC' or 'CONSTANT'.")
    paddings = [[0, 0], [pixels, pixels], [pixels, pixels], [0, 0]]

    def add_border(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return tf.pad(images, paddings, mode=mode, constant_values=value)

    return add_border


def random_scale(scales: Sequence[float]) -> Transform:
    """Resize by a factor drawn from ``scales`` (e.g. ``[0.95, 1.0, 1.05]``), bilinear."""
    if not scales or min(scales) <= 0:
        raise NeuralArtError(f"random_scale needs a non-empty list of positive factors, "
                             f"got {scales}.")

    def rescale(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        factor = _choice(scales, seed)
        size = tf.cast(tf.round(tf.cast(tf.shape(images)[1:3], tf.float32) * factor), tf.int32)
        return tf.image.resize(images, size, method="bilinear")

    return rescale


def rotation_matrix(angle: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """The 8 projective-transform numbers that rotate by ``angle`` radians about the image centre.

    They map an *output* pixel ``(x, y)`` to the input point it samples, as
    ``tf.raw_ops.ImageProjectiveTransformV3`` expects: ``(1, 8)`` float32.
    """
    cos, sin = tf.cos(angle), tf.sin(angle)
    center_x = (tf.cast(width, tf.float32) - 1.0) / 2.0
    center_y = (tf.cast(height, tf.float32) - 1.0) / 2.0
    offset_x = center_x - cos * center_x + sin * center_y
    offset_y = center_y - sin * center_x - cos * center_y
    return tf.reshape(tf.stack([cos, -sin, offset_x, sin, cos, offset_y, 0.0, 0.0]), [1, 8])


def random_rotate(degrees: Sequence[float], fill_mode: str = "REFLECT") -> Transform:
    """Rotate about the centre by an angle drawn from ``degrees``, bilinear; same size out."""
    if not degrees:
        raise NeuralArtError("random_rotate needs a non-empty list of angles in degrees.")

    def rotate(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        angle = _choice(degrees, seed) * (math.pi / 180.0)
        shape = tf.shape(images)
        matrix = rotation_matrix(angle, shape[1], shape[2])
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=tf.tile(matrix, [shape[0], 1]), output_shape=shape[1:3],
            fill_value=127.5, interpolation="BILINEAR", fill_mode=fill_mode)

    return rotate


def compose(transforms: Sequence[Transform]) -> Transform:
    """One transform applying ``transforms`` in order, each with its own seed split from ``seed``."""
    transforms = list(transforms)

    def apply_all(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        for index, transform in enumerate(transforms):
            images = transform(images, tf.random.experimental.stateless_fold_in(seed, index))
        return images

    return apply_all


def standard_transforms() -> list[Transform]:
    """The mild set that makes channel visualisations readable (after Lucid's defaults).

    Pad 12 px, jitter 8 px, scale by 0.9-1.1, rotate by -10..10 degrees, jitter 4 px.
    Net effect: the image gets 16 px larger, then is moved, resized and turned a little.
    """
    return [pad(12),
            jitter(8),
            random_scale([1.0 + step / 50.0 for step in range(-5, 6)]),
            random_rotate(list(range(-10, 11)) + [0] * 5),
            jitter(4)]
