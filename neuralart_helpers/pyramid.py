"""Laplacian pyramids: split an image into frequency bands, merge them back exactly.

Taught in chapter 03 (``03_deepdream_laplacian``). A *band* is what one blur
removes: ``high = image - upsample(blur_and_halve(image))``. Splitting ``n`` times
gives ``n`` high-frequency bands and one small low-frequency residual; merging
undoes the split exactly (up to float rounding), for odd and even sizes alike.

Normalising each band to unit scale before merging (``lap_normalize``) gives every
scale an equal say in the step. The dream gradient is close to white noise, with as
much power per frequency at fine scales as at coarse ones, and fine scales hold most
of the frequencies; after the normalisation the step's power falls steeply with
frequency (chapter 03 measures both with :func:`radial_power_spectrum`), which is why
Laplacian-normalised DeepDreams are smooth instead of noisy.

All functions take and return images of shape ``(H, W, C)`` (any value range)
as float32 tensors.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from neuralart_helpers.ascent import normalize_by_rms
from neuralart_helpers.errors import NeuralArtError


def binomial_kernel(channels: int = 3) -> tf.Tensor:
    """The 5x5 binomial blur ``outer([1,4,6,4,1], [1,4,6,4,1]) / 256``, per channel.

    Returns:
        A ``(5, 5, channels, channels)`` kernel for ``tf.nn.conv2d`` that blurs
        each channel on its own (identity across channels). Its entries sum to 1
        per channel.
    """
    taps = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32)
    kernel_2d = np.outer(taps, taps) / np.outer(taps, taps).sum()
    return tf.constant(kernel_2d[:, :, None, None] * np.eye(channels, dtype=np.float32))


def _downsample(image: tf.Tensor) -> tf.Tensor:
    """Blur and keep every second pixel: ``(H, W, C) -> (ceil(H/2), ceil(W/2), C)``."""
    kernel = binomial_kernel(image.shape[-1])
    return tf.nn.conv2d(image[None], kernel, strides=2, padding="SAME")[0]


def _upsample(small: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    """Transposed blur back to ``shape`` (``(H, W, C)``). The factor 4 restores the brightness
    lost by spreading each pixel over a 2x2 area."""
    kernel = binomial_kernel(small.shape[-1]) * 4.0
    output_shape = tf.concat([[1], shape], axis=0)
    return tf.nn.conv2d_transpose(small[None], kernel, output_shape, strides=2, padding="SAME")[0]


def lap_split(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """One pyramid level: ``(low, high)`` with ``image == upsample(low) + high`` exactly.

    Args:
        image: ``(H, W, C)`` float tensor.

    Returns:
        ``low`` of shape ``(ceil(H/2), ceil(W/2), C)`` and ``high`` of shape ``(H, W, C)``.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    low = _downsample(image)
    high = image - _upsample(low, tf.shape(image))
    return low, high


def lap_split_n(image: tf.Tensor, levels: int) -> list[tf.Tensor]:
    """Split ``levels`` times. Returns ``[low_residual, coarsest_high, ..., finest_high]``."""
    if levels < 0:
        raise NeuralArtError(f"levels must be 0 or more, got {levels}.")
    bands = []
    for _ in range(levels):
        image, high = lap_split(image)
        bands.append(high)
    return [tf.convert_to_tensor(image, tf.float32)] + bands[::-1]


def lap_merge(bands: list[tf.Tensor]) -> tf.Tensor:
    """Inverse of :func:`lap_split_n`: upsample the residual and add each band, coarse to fine."""
    image = bands[0]
    for high in bands[1:]:
        image = _upsample(image, tf.shape(high)) + high
    return image


def band_shapes(shape: tuple[int, int, int], levels: int) -> list[tuple[int, int, int]]:
    """The shapes :func:`lap_split_n` gives an ``(H, W, C)`` image, residual first."""
    height, width, channels = shape
    shapes = [(height, width, channels)]
    for _ in range(levels):
        height, width = -(-height // 2), -(-width // 2)
        shapes.insert(0, (height, width, channels))
    return shapes


def to_band_vector(image, levels: int) -> np.ndarray:
    """An ``(H, W, C)`` image as one flat float32 vector of its pyramid bands, residual first.

    A change of coordinates for an optimiser that works on flat arrays (chapter 04's
    L-BFGS): a step in a coarse band moves a whole blurred patch of pixels at once.
    :func:`from_band_vector` undoes it.
    """
    bands = lap_split_n(image, levels)
    return np.concatenate([np.ravel(band) for band in bands]).astype(np.float32)


def from_band_vector(vector: tf.Tensor, shape: tuple[int, int, int], levels: int) -> tf.Tensor:
    """The ``(H, W, C)`` image whose bands :func:`to_band_vector` flattened into ``vector``."""
    shapes = band_shapes(shape, levels)
    pieces = tf.split(vector, [int(np.prod(piece)) for piece in shapes])
    return lap_merge([tf.reshape(piece, size) for piece, size in zip(pieces, shapes)])


def lap_normalize(gradient: tf.Tensor, levels: int = 4) -> tf.Tensor:
    """Normalise every band of a ``(H, W, C)`` gradient to unit scale, then merge.

    Every frequency band then contributes equally, instead of the finest
    (noisiest) band dominating the step. Each band is divided by its root mean
    square (:func:`neuralart_helpers.ascent.normalize_by_rms`).
    """
    return lap_merge([normalize_by_rms(band) for band in lap_split_n(gradient, levels)])


def radial_power_spectrum(image) -> tuple[np.ndarray, np.ndarray]:
    """Mean power per frequency ring of an ``(H, W, C)`` array, relative to white noise.

    Each channel's mean is removed and the power ``|FFT|**2`` is summed over channels.
    The frequency plane is cut into rings one frequency step (``1 / max(H, W)``
    cycles per pixel) wide, from that step up to 0.5. Each ring's power is
    **averaged**, not summed: outer rings hold more frequencies, so a sum would rise
    with frequency even for white noise. The averages are divided by the mean power
    over all non-zero frequencies, so white noise of any variance gives 1 at every
    frequency (in expectation), and scaling the array changes nothing.

    Returns:
        ``(frequency, power)``: ring centres in cycles per pixel, and the mean power of
        each ring relative to white noise with the same total variance.
    """
    array = np.asarray(image, np.float64)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or min(array.shape[:2]) < 4:
        raise NeuralArtError(f"radial_power_spectrum expects an (H, W, C) array of at least "
                             f"4x4 pixels, got shape {array.shape}.")
    array = array - array.mean(axis=(0, 1))
    power = (np.abs(np.fft.fft2(array, axes=(0, 1))) ** 2).sum(axis=2)
    size = max(array.shape[:2])
    fy = np.fft.fftfreq(array.shape[0])[:, None]
    fx = np.fft.fftfreq(array.shape[1])[None, :]
    ring = np.rint(np.sqrt(fx ** 2 + fy ** 2) * size).astype(int)
    reference = power[ring > 0].mean()
    rings = np.arange(1, size // 2 + 1)
    totals = np.bincount(ring.ravel(), weights=power.ravel(), minlength=rings[-1] + 1)
    counts = np.bincount(ring.ravel(), minlength=rings[-1] + 1)
    mean_power = totals[rings] / np.maximum(counts[rings], 1) / max(reference, 1e-300)
    return rings / size, mean_power


def energy_share(values, longer_than: float = 0.0, shorter_than: float = np.inf) -> float:
    """Share of an array's energy at wavelengths between ``longer_than`` and ``shorter_than`` px.

    The energy is the squared Fourier amplitude of ``(H, W, C)`` values (any range,
    each channel's mean removed), summed over channels. A frequency ``f`` (cycles per
    pixel, the length of ``(fy, fx)``) has the wavelength ``1 / f`` pixels; the share
    counts the frequencies with ``longer_than < 1 / f < shorter_than``. Chapter 02
    measures coarse change with ``longer_than=8``, chapter 01 pixel noise with
    ``shorter_than=4``.

    Returns:
        A number in ``[0, 1]`` (0 for a constant array).
    """
    array = np.asarray(values, np.float64)
    array = array[:, :, None] if array.ndim == 2 else array
    if array.ndim != 3:
        raise NeuralArtError(f"energy_share expects an (H, W, C) array, got shape {array.shape}.")
    power = (np.abs(np.fft.fft2(array - array.mean(axis=(0, 1)), axes=(0, 1))) ** 2).sum(axis=2)
    fy, fx = np.meshgrid(np.fft.fftfreq(array.shape[0]), np.fft.fftfreq(array.shape[1]), indexing="ij")
    frequency = np.hypot(fy, fx)
    highest = 1 / longer_than if longer_than > 0 else np.inf
    inside = (frequency < highest) & (frequency > 1 / shorter_than)
    total = power.sum()
    return float(power[inside].sum() / total) if total > 0 else 0.0
