"""Laplacian pyramid: exact reconstruction, band shapes, unit-scale normalisation."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import pyramid
from neuralart_helpers.ascent import normalize_by_rms
from neuralart_helpers.errors import NeuralArtError


def _image(height, width, seed=0):
    return tf.random.stateless_uniform((height, width, 3), seed=(seed, 7), maxval=255.0)


def test_kernel_is_normalised_binomial():
    kernel = pyramid.binomial_kernel(3).numpy()
    assert kernel.shape == (5, 5, 3, 3)
    np.testing.assert_allclose(kernel[:, :, 0, 0].sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(kernel[2, :, 1, 1] * 256, [6, 24, 36, 24, 6], rtol=1e-6)  # 6 * [1, 4, 6, 4, 1]
    assert kernel[:, :, 0, 1].sum() == 0  # channels are blurred independently


@pytest.mark.parametrize("shape", [(64, 64), (37, 50), (33, 17), (8, 9)])
def test_split_merge_reconstructs_exactly(shape):
    image = _image(*shape)
    bands = pyramid.lap_split_n(image, 4)
    assert len(bands) == 5
    assert tuple(bands[-1].shape) == (*shape, 3)  # finest band at full size
    assert float(tf.reduce_max(tf.abs(pyramid.lap_merge(bands) - image))) < 1e-5 * 255


def test_split_blurs_a_checkerboard_away():
    # Exact reconstruction holds for any downsampling; what makes it a Laplacian pyramid is
    # the binomial blur: it removes a +-1 checkerboard (the highest frequency) entirely, so
    # away from the border the low band is 0 and the high band is the whole board.
    rows, cols = np.indices((16, 16))
    board = np.repeat(np.where((rows + cols) % 2 == 0, 1.0, -1.0)[..., None], 3, axis=2)
    low, high = pyramid.lap_split(tf.constant(board, tf.float32))
    np.testing.assert_allclose(low.numpy()[1:-1, 1:-1], 0.0, atol=1e-6)
    np.testing.assert_allclose(high.numpy()[4:-4, 4:-4], board[4:-4, 4:-4], atol=1e-5)


def test_band_sizes_halve_rounding_up():
    bands = pyramid.lap_split_n(_image(37, 50), 3)
    assert [tuple(band.shape[:2]) for band in bands] == [(5, 7), (10, 13), (19, 25), (37, 50)]


def test_low_band_keeps_mean_and_high_band_has_none():
    image = _image(64, 64)
    low, high = pyramid.lap_split(image)
    # away from the zero-padded border, blurring keeps the mean and the detail averages out
    np.testing.assert_allclose(tf.reduce_mean(low[2:-2, 2:-2]), tf.reduce_mean(image), rtol=0.02)
    assert abs(float(tf.reduce_mean(high[4:-4, 4:-4]))) < 0.02 * float(tf.reduce_mean(image))


def test_constant_image_has_empty_interior_high_band():
    low, high = pyramid.lap_split(tf.fill((32, 32, 3), 100.0))
    np.testing.assert_allclose(high[4:-4, 4:-4].numpy(), 0.0, atol=1e-3)
    np.testing.assert_allclose(low[2:-2, 2:-2].numpy(), 100.0, rtol=1e-5)


def test_normalize_by_rms_gives_unit_rms():
    x = _image(16, 16) * 3.7 - 100
    normalised = normalize_by_rms(x)
    np.testing.assert_allclose(tf.sqrt(tf.reduce_mean(tf.square(normalised))), 1.0, rtol=1e-5)
    rms = float(tf.sqrt(tf.reduce_mean(tf.square(x))))
    np.testing.assert_allclose(normalised.numpy(), x.numpy() / rms, rtol=1e-5)  # one divisor
    assert float(tf.reduce_max(tf.abs(normalize_by_rms(tf.zeros((4, 4, 3)))))) == 0.0


def test_normalised_bands_have_unit_scale():
    gradient = _image(64, 48, seed=3) - 127.5
    gradient = gradient * tf.linspace(0.01, 100.0, 48)[None, :, None]  # wildly uneven scales
    bands = [normalize_by_rms(band) for band in pyramid.lap_split_n(gradient, 4)]
    for band in bands:
        np.testing.assert_allclose(tf.sqrt(tf.reduce_mean(tf.square(band))), 1.0, rtol=1e-4)
    merged = pyramid.lap_normalize(gradient, 4)
    assert merged.shape == gradient.shape
    np.testing.assert_allclose(merged, pyramid.lap_merge(bands), rtol=1e-5, atol=1e-5)
    rms = float(tf.sqrt(tf.reduce_mean(tf.square(merged))))
    assert 0.5 < rms < 5.0


def test_lap_normalize_damps_high_frequency_noise():
    """A smooth ramp plus strong pixel noise: Laplacian normalisation lifts the smooth part."""
    ramp = tf.tile(tf.linspace(-1.0, 1.0, 64)[None, :, None], (64, 1, 3))
    noise = tf.random.stateless_normal((64, 64, 3), seed=(1, 1)) * 5.0
    plain = normalize_by_rms(ramp + noise)
    laplacian = pyramid.lap_normalize(ramp + noise, 4)

    def correlation_with_ramp(x):
        return float(tf.reduce_sum(x * ramp) / tf.norm(x) / tf.norm(ramp))

    assert correlation_with_ramp(laplacian) > 3 * correlation_with_ramp(plain)


def test_zero_levels_is_identity_and_negative_is_refused():
    image = _image(8, 8)
    bands = pyramid.lap_split_n(image, 0)
    assert len(bands) == 1
    np.testing.assert_array_equal(pyramid.lap_merge(bands), image)
    with pytest.raises(ValueError, match="0 or more"):
        pyramid.lap_split_n(image, -1)


def test_energy_share_splits_two_sinusoids_by_wavelength():
    rows, columns = np.mgrid[0:64, 0:64]
    coarse = 3.0 * np.sin(2 * np.pi * columns / 16)   # wavelength 16 px, energy 9 / 2 per pixel
    fine = 1.0 * np.sin(2 * np.pi * rows * 20 / 64)   # wavelength 3.2 px, energy 1 / 2 per pixel
    image = np.stack([coarse + 0 * fine, coarse, coarse], axis=-1) + 50.0
    assert pyramid.energy_share(image, longer_than=8) == pytest.approx(1.0)
    assert pyramid.energy_share(image, shorter_than=4) == pytest.approx(0.0, abs=1e-12)
    mixed = image + np.stack([fine, fine, fine], axis=-1)
    share = pyramid.energy_share(mixed, longer_than=8)
    assert share == pytest.approx(4.5 / (4.5 + 0.5), abs=1e-9)  # amplitude 3 against amplitude 1
    assert share + pyramid.energy_share(mixed, shorter_than=4) == pytest.approx(1.0, abs=1e-9)
    assert pyramid.energy_share(np.full((8, 8, 3), 7.0)) == 0.0
    with pytest.raises(NeuralArtError, match="expects an"):
        pyramid.energy_share(np.zeros((2, 8, 8, 3)))


@pytest.mark.parametrize("levels", [0, 1, 3])
def test_band_vector_round_trip_on_odd_sizes(levels):
    image = np.random.default_rng(levels).uniform(0, 255, (37, 50, 3)).astype(np.float32)
    shapes = pyramid.band_shapes(image.shape, levels)
    assert shapes == [tuple(band.shape) for band in pyramid.lap_split_n(image, levels)]
    vector = pyramid.to_band_vector(image, levels)
    assert vector.dtype == np.float32 and vector.shape == (sum(np.prod(s) for s in shapes),)
    assert levels == 0 or vector.size > image.size  # the coarse bands come on top
    back = pyramid.from_band_vector(tf.constant(vector), image.shape, levels).numpy()
    np.testing.assert_allclose(back, image, atol=1e-3)


def test_a_step_in_the_coarsest_band_moves_a_smooth_patch():
    # One unit in the residual of a 2-level pyramid: a blurred blob over many pixels, not one pixel.
    shape = (32, 32, 3)
    vector = np.zeros(len(pyramid.to_band_vector(np.zeros(shape, np.float32), 2)), np.float32)
    vector[(4 * 8 + 4) * 3] = 1.0  # residual pixel (4, 4), red
    image = pyramid.from_band_vector(tf.constant(vector), shape, 2).numpy()
    moved = np.count_nonzero(np.abs(image[..., 0]) > 1e-6)
    assert 40 <= moved <= 13 * 13 and np.abs(image[..., 1:]).max() == 0
    np.testing.assert_allclose(image.sum(), 16.0, rtol=1e-5)  # each level's upsampling keeps 4x the sum
