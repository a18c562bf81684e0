"""Tests for neuralart_helpers.param: shapes, value ranges, seeding, the colour and frequency pieces."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import param
from neuralart_helpers import errors


def test_grey_noise_is_seeded_grey_with_the_given_spread():
    noise = param.grey_noise(16, 20, batch=2, spread=10.0, seed=4)
    assert noise.shape == (2, 16, 20, 3) and noise.dtype == np.float32
    assert 123.0 <= noise.min() and noise.max() <= 133.0
    assert abs(noise.mean() - 128.0) < 0.5
    np.testing.assert_array_equal(noise, param.grey_noise(16, 20, batch=2, spread=10.0, seed=4))
    assert not np.array_equal(noise, param.grey_noise(16, 20, batch=2, spread=10.0, seed=5))


def test_pixel_image_is_its_variable_and_is_clipped_by_its_constraint():
    variables, to_image = param.pixel_image(8, 10, batch=3, seed=0)
    (image,) = variables
    assert tuple(image.shape) == (3, 8, 10, 3)
    np.testing.assert_array_equal(to_image().numpy(), param.grey_noise(8, 10, 3, seed=0))
    image.assign_add(tf.fill(image.shape, 300.0))
    image.assign(image.constraint(image))
    assert float(tf.reduce_max(to_image())) == 255.0


def test_pixel_image_starts_from_init_broadcast_over_the_batch():
    start = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    _, to_image = param.pixel_image(99, 99, batch=2, init=start)
    images = to_image().numpy()
    assert images.shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(images[1], start)


@pytest.mark.parametrize("height, width", [(64, 64), (48, 65)])
def test_fourier_image_shape_and_range(height, width):
    variables, to_image = param.fourier_image(height, width, batch=2, seed=1)
    assert tuple(variables[0].shape) == (2, 3, height, width // 2 + 1, 2)
    start = to_image().numpy()
    assert start.shape == (2, height, width, 3) and start.dtype == np.float32
    # Starts as an almost uniform mid grey: sigmoid(about 0) * 255.
    assert abs(start.mean() - 127.5) < 3.0 and start.std() < 10.0
    # However large the spectrum gets, the sigmoid keeps pixels inside [0, 255]
    # and a moderately large spectrum uses most of that range.
    variables[0].assign(tf.random.stateless_normal(variables[0].shape, [1, 2], stddev=0.2))
    image = to_image().numpy()
    assert 0.0 <= image.min() and image.max() <= 255.0
    assert image.max() - image.min() > 150.0
    variables[0].assign(variables[0] * 1000.0)
    image = to_image().numpy()
    assert 0.0 <= image.min() and image.max() <= 255.0 and np.isfinite(image).all()


def test_fourier_image_is_seeded():
    first = param.fourier_image(32, 32, seed=7).to_image().numpy()
    np.testing.assert_array_equal(first, param.fourier_image(32, 32, seed=7).to_image().numpy())
    assert not np.array_equal(first, param.fourier_image(32, 32, seed=8).to_image().numpy())


def test_fourier_image_is_differentiable_with_respect_to_its_spectrum():
    variables, to_image = param.fourier_image(32, 32, seed=0)
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(to_image()[..., 0])
    gradient = tape.gradient(value, variables[0])
    assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0.0


def test_frequency_scale_weights_low_frequencies_most():
    scale = param.frequency_scale(8, 12)
    assert scale.shape == (8, 7)
    # The zero frequency gets 1 / (1 / max side) = 12, times sqrt(8 * 12).
    assert scale[0, 0] == pytest.approx(12 * np.sqrt(96), rel=1e-5)
    assert np.all(np.diff(scale[0, 1:]) < 0)  # falls as 1/f along a row
    assert scale[0, 1] == pytest.approx(np.sqrt(96) * 12, rel=1e-5)  # f = 1/12 equals the floor
    assert scale[0, 6] == pytest.approx(np.sqrt(96) * 2, rel=1e-5)  # Nyquist f = 1/2
    # Down the columns too: fftfreq(8) = 0, 1/8, 1/4, 3/8, -1/2, -3/8, -1/4, -1/8.
    assert scale[4, 0] == pytest.approx(np.sqrt(96) * 2, rel=1e-5)
    assert scale[1, 0] == scale[7, 0] == pytest.approx(np.sqrt(96) * 8, rel=1e-5)
    assert scale[1, 1] == pytest.approx(np.sqrt(96) / np.hypot(1 / 8, 1 / 12), rel=1e-5)


def test_decorrelate_colors_applies_the_normalised_matrix():
    matrix = param.COLOR_CORRELATION_SVD_SQRT
    normalised = matrix / np.linalg.norm(matrix, axis=0).max()
    values = np.random.default_rng(0).normal(size=(2, 3, 4, 3)).astype(np.float32)
    expected = values @ normalised.T
    np.testing.assert_allclose(param.decorrelate_colors(tf.constant(values)).numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    # The "luminance" direction becomes a grey-ish colour: all three RGB channels positive.
    grey = param.decorrelate_colors(tf.constant([[1.0, 0.0, 0.0]])).numpy()
    assert np.all(grey > 0)


@pytest.mark.parametrize("make", [param.pixel_image, param.fourier_image])
def test_bad_sizes_raise_a_clear_error(make):
    with pytest.raises(errors.NeuralArtError, match="positive"):
        make(0, 16)
    with pytest.raises(errors.NeuralArtError, match="positive"):
        make(16, 16, batch=0)
