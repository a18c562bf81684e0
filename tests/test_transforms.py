"""Tests for neuralart_helpers.transforms: shapes, contents, seeding, gradients, bad parameters."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import transforms
from neuralart_helpers import errors


@pytest.fixture()
def images():
    rng = np.random.default_rng(0)
    return tf.constant(rng.uniform(0, 255, size=(2, 20, 24, 3)).astype(np.float32))


def seed(a, b=0):
    return tf.constant([a, b], tf.int32)


def test_jitter_is_a_crop_of_the_input_shifted_by_at_most_the_jitter(images):
    array = images.numpy()
    offsets = set()
    for value in range(12):
        out = transforms.jitter(3)(images, seed(value)).numpy()
        assert out.shape == (2, 17, 21, 3)
        matches = [(dy, dx) for dy in range(4) for dx in range(4)
                   if np.array_equal(out, array[:, dy:dy + 17, dx:dx + 21])]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 3  # the offset really is random


def test_pad_reflects_the_border(images):
    out = transforms.pad(2)(images, seed(0)).numpy()
    assert out.shape == (2, 24, 28, 3)
    np.testing.assert_array_equal(out[:, 2:-2, 2:-2], images.numpy())
    np.testing.assert_array_equal(out[:, 0, 2:-2], images.numpy()[:, 2])  # reflect: row 2 -> row -2
    constant = transforms.pad(1, mode="CONSTANT", value=7.0)(images, seed(0)).numpy()
    assert np.all(constant[:, 0] == 7.0)


def test_random_scale_picks_one_of_the_factors(images):
    sizes = {transforms.random_scale([0.5, 1.0, 1.5])(images, seed(value)).shape[1:3]
             for value in range(20)}
    assert sizes == {(10, 12), (20, 24), (30, 36)}
    same = transforms.random_scale([1.0])(images, seed(3))
    np.testing.assert_allclose(same.numpy(), images.numpy(), atol=1e-3)


def test_random_rotate_by_zero_is_the_identity_and_by_90_degrees_is_rot90():
    square = tf.constant(np.random.default_rng(1).uniform(0, 255, (1, 7, 7, 3)).astype(np.float32))
    still = transforms.random_rotate([0])(square, seed(0)).numpy()
    np.testing.assert_allclose(still, square.numpy(), atol=1e-3)
    turned = transforms.random_rotate([90])(square, seed(0)).numpy()
    np.testing.assert_allclose(turned[0], np.rot90(square.numpy()[0], 1), atol=1e-2)


def test_rotation_matrix_keeps_the_centre_fixed():
    matrix = transforms.rotation_matrix(tf.constant(0.3), 9, 13).numpy()[0]
    center_x, center_y = 6.0, 4.0
    x_in = matrix[0] * center_x + matrix[1] * center_y + matrix[2]
    y_in = matrix[3] * center_x + matrix[4] * center_y + matrix[5]
    assert (x_in, y_in) == pytest.approx((center_x, center_y), abs=1e-5)


def test_standard_transforms_are_seeded_and_random(images):
    composed = transforms.compose(transforms.standard_transforms())
    first = composed(images, seed(5, 1)).numpy()
    np.testing.assert_array_equal(first, composed(images, seed(5, 1)).numpy())
    others = [composed(images, seed(5, k)).numpy() for k in range(2, 6)]
    assert any(other.shape != first.shape or not np.array_equal(other, first) for other in others)
    assert 0.0 <= first.min() and first.max() <= 255.0 + 1e-3


def test_compose_applies_in_order(images):
    pad, jitter = transforms.pad(4), transforms.jitter(2)
    composed = transforms.compose([pad, jitter])(images, seed(0)).numpy()
    fold = tf.random.experimental.stateless_fold_in
    by_hand = jitter(pad(images, fold(seed(0), 0)), fold(seed(0), 1)).numpy()
    np.testing.assert_array_equal(composed, by_hand)
    reversed_order = transforms.compose([jitter, pad])(images, seed(0)).numpy()
    assert composed.shape == reversed_order.shape == (2, 26, 30, 3)
    assert not np.array_equal(composed, reversed_order)  # the order matters, and is kept
    assert transforms.compose([])(images, seed(0)) is images


def test_the_gradient_of_a_jitter_is_its_crop_window(images):
    # sum(crop) has gradient 1 on the 17x21 window the crop kept and 0 elsewhere.
    with tf.GradientTape() as tape:
        tape.watch(images)
        value = tf.reduce_sum(transforms.jitter(3)(images, seed(4)))
    gradient = tape.gradient(value, images).numpy()
    assert set(np.unique(gradient)) == {0.0, 1.0}
    assert gradient.sum() == 2 * 17 * 21 * 3
    rows, cols = np.nonzero(gradient[0, :, :, 0])
    assert rows.max() - rows.min() + 1 == 17 and cols.max() - cols.min() + 1 == 21


def test_gradients_flow_through_every_transform(images):
    composed = transforms.compose(transforms.standard_transforms())
    with tf.GradientTape() as tape:
        tape.watch(images)
        value = tf.reduce_sum(composed(images, seed(9)) ** 2)
    gradient = tape.gradient(value, images)
    assert gradient is not None and float(tf.reduce_mean(tf.abs(gradient))) > 0.0


def test_transforms_run_inside_a_tf_function_without_retracing(images):
    composed = transforms.compose(transforms.standard_transforms())
    compiled = tf.function(composed)
    for value in range(4):
        compiled(images, seed(value))
    assert compiled.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("make", [
    lambda: transforms.jitter(0),
    lambda: transforms.pad(-1),
    lambda: transforms.pad(2, mode="WRAP"),
    lambda: transforms.random_scale([]),
    lambda: transforms.random_scale([1.0, 0.0]),
    lambda: transforms.random_rotate([]),
])
def test_bad_parameters_raise_transform_error(make):
    with pytest.raises(errors.NeuralArtError):
        make()
