"""How the image is represented while it is optimised: image parameterisations (chapter 01, section 5).

A parameterisation returns :class:`ImageParam`, a pair ``(variables, to_image)``:
the trainable ``tf.Variable`` list that gradient ascent changes, and a function
of no arguments that turns them into a batch of images, ``(B, H, W, 3)`` float32
in ``[0, 255]`` (the course's pixel space)::

    variables, to_image = pixel_image(128, 128, seed=0)
    images = to_image()                      # (1, 128, 128, 3)

- :func:`pixel_image`: the variable *is* the image (the naive render of chapter 01, section 1).
- :func:`fourier_image`: the variable is a scaled spectrum in a decorrelated
  colour space (Mordvintsev et al. 2018, "Differentiable Image
  Parameterizations"; Olah et al. 2017, "Feature Visualization"). The same
  gradient then favours low frequencies and natural colours.

A variable may carry a ``constraint`` (a projection, as in ``tf.Variable``);
the render loop applies it after every step (the pixel image is clipped to
``[0, 255]`` that way).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from neuralart_helpers.ascent import clip_pixels
from neuralart_helpers.errors import NeuralArtError

# Square root of the ImageNet RGB colour covariance, from its SVD (the matrix Lucid
# publishes). Multiplying decorrelated values by it gives correlated RGB colours.
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02],
                                       [0.27, 0.00, -0.05],
                                       [0.27, -0.09, 0.03]], dtype=np.float32)


class ImageParam(NamedTuple):
    """Trainable variables and the function that renders them as images.

    Attributes:
        variables: the ``tf.Variable`` objects to optimise.
        to_image: ``() -> (B, H, W, 3)`` float32 tensor in ``[0, 255]``.
    """

    variables: list[tf.Variable]
    to_image: Callable[[], tf.Tensor]




def _check_shape(height: int, width: int, batch: int) -> None:
    if min(height, width) < 1 or batch < 1:
        raise NeuralArtError(f"Image size {height}x{width} with batch {batch}: height, width and "
                         f"batch must all be positive integers.")


def grey_noise(height: int, width: int, batch: int = 1, spread: float = 20.0,
               seed: int = 0) -> np.ndarray:
    """Grey ``(batch, height, width, 3)`` float32 image (128) plus uniform noise of ``+-spread/2``."""
    _check_shape(height, width, batch)
    noise = np.random.default_rng(seed).uniform(-0.5, 0.5, size=(batch, height, width, 3))
    return (128.0 + spread * noise).astype(np.float32)


def pixel_image(height: int, width: int, batch: int = 1, seed: int = 0,
                init: np.ndarray | None = None) -> ImageParam:
    """The image itself as the variable, starting from grey noise (or from ``init``).

    Args:
        height, width: image size in pixels.
        batch: number of images optimised together.
        seed: seed of the starting noise.
        init: optional start, ``(H, W, 3)`` or ``(batch, H, W, 3)`` in ``[0, 255]``
            (its size then overrides ``height`` and ``width``).

    Returns:
        ``ImageParam`` whose single variable has shape ``(batch, H, W, 3)`` and is
        clipped to ``[0, 255]`` after each step; ``to_image`` returns it as is.
    """
    if init is None:
        start = grey_noise(height, width, batch, seed=seed)
    else:
        start = np.asarray(init, dtype=np.float32)
        start = np.broadcast_to(start[None] if start.ndim == 3 else start,
                                (batch,) + start.shape[-3:]).copy()
    image = tf.Variable(start, name="pixels", constraint=clip_pixels)
    return ImageParam([image], lambda: tf.convert_to_tensor(image))


def frequency_scale(height: int, width: int, decay_power: float = 1.0) -> np.ndarray:
    """``(height, width // 2 + 1)`` weights ``1 / f**decay_power`` for a real 2-D spectrum.

    Natural images have an amplitude spectrum falling roughly as ``1/f``;
    multiplying the trainable spectrum by it makes a step of the same size move
    low frequencies much more than high ones. The weights are scaled by
    ``sqrt(height * width)`` so the image's contrast does not depend on its size.
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequencies = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(frequencies, 1.0 / max(height, width)) ** decay_power
    return (scale * np.sqrt(height * width)).astype(np.float32)


def decorrelate_colors(image: tf.Tensor) -> tf.Tensor:
    """Map ``(..., 3)`` values from the decorrelated colour space to RGB (same shape).

    The matrix is normalised so its largest column has unit length, so values of
    the order of 1 stay of the order of 1.
    """
    matrix = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
    return tf.tensordot(image, tf.constant(matrix.T), axes=1)


def fourier_image(height: int, width: int, batch: int = 1, seed: int = 0,
                  spread: float = 0.01, decay_power: float = 1.0) -> ImageParam:
    """An image described by its Fourier spectrum, in decorrelated colours, squashed by a sigmoid.

    ``to_image`` computes

    $$x = 255\\,\\sigma\\big(C\\,\\mathcal{F}^{-1}[s \\odot z]\\big)$$

    with ``z`` the trainable complex spectrum (real and imaginary parts, normal
    noise of standard deviation ``spread`` at the start), ``s`` from
    :func:`frequency_scale`, ``C`` from :func:`decorrelate_colors` and ``sigma``
    the logistic sigmoid, so every pixel is always strictly inside ``(0, 255)``.
    At the start the image is a nearly uniform grey (sigmoid(0) = 0.5).

    Returns:
        ``ImageParam``: one variable of shape ``(batch, 3, height, width // 2 + 1, 2)``;
        ``to_image`` gives ``(batch, height, width, 3)`` in ``(0, 255)``.
    """
    _check_shape(height, width, batch)
    shape = (batch, 3, height, width // 2 + 1, 2)
    start = np.random.default_rng(seed).normal(0.0, spread, size=shape).astype(np.float32)
    spectrum = tf.Variable(start, name="spectrum")
    scale = tf.constant(frequency_scale(height, width, decay_power))

    def to_image() -> tf.Tensor:
        complex_spectrum = tf.complex(spectrum[..., 0] * scale, spectrum[..., 1] * scale)
        channels_first = tf.signal.irfft2d(complex_spectrum, fft_length=[height, width])
        decorrelated = tf.transpose(channels_first, [0, 2, 3, 1])  # (B, H, W, 3)
        return 255.0 * tf.sigmoid(decorrelate_colors(decorrelated))

    return ImageParam([spectrum], to_image)
