"""DeepDream: the loss, octave schedule, exact reinjection, tiling, seeds, errors."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import backbones, dream, images


@pytest.fixture(scope="module")
def squeezenet():
    return backbones.load_backbone("squeezenet")


@pytest.fixture(scope="module")
def model(squeezenet):
    return dream.DreamModel(squeezenet, {"fire3_concat": 1.0, "fire5_concat": 2.0})


@pytest.fixture(scope="module")
def photo():
    return images.content_photo("coffee", max_dim=96)  # 64x96


def test_dream_loss_on_crafted_features():
    features = {"a": tf.fill((1, 6, 6, 2), 3.0), "b": tf.ones((1, 1, 1, 4)) * 2.0}
    # a: mean(9) = 9, weight 1; b: border cannot crop a 1x1 map, mean(4) = 4, weight 0.5
    assert float(dream.dream_loss(features, {"a": 1.0, "b": 0.5})) == pytest.approx(11.0)
    ramp = tf.reshape(tf.range(36.0), (1, 6, 6, 1))
    inner = ramp[:, 2:4, 2:4, :]  # border 2 leaves the central 2x2
    expected = float(tf.reduce_mean(tf.square(inner)))
    assert float(dream.dream_loss({"r": ramp}, {"r": 1.0}, border=2)) == pytest.approx(expected)
    assert float(dream.dream_loss({"r": ramp}, {"r": 1.0}, border=0)) == pytest.approx(
        float(tf.reduce_mean(tf.square(ramp))))


def test_octave_shapes_follow_the_schedule():
    assert dream.octave_shapes(300, 200, 3, 1.5) == [(133, 89), (200, 133), (300, 200)]
    assert dream.octave_shapes(64, 64, 1, 2.0) == [(64, 64)]
    with pytest.raises(ValueError, match="greater than 1"):
        dream.octave_shapes(64, 64, 3, 1.0)
    with pytest.raises(ValueError, match="at least 1"):
        dream.octave_shapes(64, 64, 0, 1.4)


def test_too_small_for_the_octaves_says_how_many_fit(model):
    with pytest.raises(backbones.ImageTooSmallError) as error:
        dream.dream(model, np.zeros((80, 120, 3), np.float32), octaves=4, octave_scale=1.5,
                    steps=1, verbose=False)
    message = str(error.value)
    assert "24x36" in message and "31 px" in message and "at most 3 octaves" in message


def test_zero_steps_returns_the_original(model, photo):
    out, history = dream.dream(model, photo, octaves=3, octave_scale=1.3, steps=0, verbose=False)
    assert out.shape == photo.shape and history == [[], [], []]
    assert np.abs(out - photo).max() < 1e-3


def test_lost_detail_is_what_shrinking_removed(photo):
    shrunk = dream.resize(tf.constant(photo), (32, 48))
    detail = dream.lost_detail(photo, shrunk, photo.shape[:2])
    np.testing.assert_allclose(dream.resize(shrunk, photo.shape[:2]) + detail, photo, atol=1e-3)
    assert float(tf.reduce_mean(tf.abs(detail))) > 1.0  # shrinking does lose something


def test_loss_increases_over_steps(model, photo):
    image, losses = dream.gradient_ascent(model, photo, steps=8, step_size=2.0)
    assert len(losses) == 8
    assert losses[-1] > 1.5 * losses[0]
    assert all(later > earlier for earlier, later in zip(losses, losses[1:]))
    assert 0.0 <= float(tf.reduce_min(image)) and float(tf.reduce_max(image)) <= 255.0


def test_laplacian_ascent_also_climbs(model, photo):
    _, losses = dream.gradient_ascent(model, photo, steps=6, step_size=2.0, laplacian_levels=3)
    assert losses[-1] > 1.3 * losses[0]


def test_max_loss_stops_early(model, photo):
    _, losses = dream.gradient_ascent(model, photo, steps=50, step_size=2.0)
    threshold = losses[3]
    _, stopped = dream.gradient_ascent(model, photo, steps=50, step_size=2.0, max_loss=threshold)
    assert len(stopped) == 4 and stopped == pytest.approx(losses[:4], rel=1e-5)


def test_one_tile_covering_the_image_equals_untiled(model, photo):
    loss, gradient = model.gradient(tf.constant(photo))
    tiled_loss, tiled = model.gradient(tf.constant(photo), tile_size=96, shift=(0, 0))
    np.testing.assert_allclose(tiled_loss, loss, rtol=1e-5)
    np.testing.assert_allclose(tiled, gradient, rtol=1e-4, atol=1e-6 * float(np.abs(gradient).max()))


def test_tiled_dream_runs_and_changes_the_image(model):
    photo = images.content_photo("astronaut", max_dim=160)
    out, history = dream.dream(model, photo, octaves=2, octave_scale=1.4, steps=3, step_size=2.0,
                               tile_size=64, seed=1, verbose=False)
    assert out.shape == photo.shape
    assert 3.0 < np.abs(out - photo).mean() < 60.0
    assert history[1][-1] > history[1][0]


def test_seeded_runs_reproduce(model, photo):
    first, _ = dream.dream(model, photo, octaves=2, steps=3, tile_size=48, seed=7, verbose=False)
    second, _ = dream.dream(model, photo, octaves=2, steps=3, tile_size=48, seed=7, verbose=False)
    other, _ = dream.dream(model, photo, octaves=2, steps=3, tile_size=48, seed=8, verbose=False)
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - other).max() > 0.1  # the seed does move the tile seams


def test_step_is_traced_once_per_shape(squeezenet, photo):
    fresh = dream.DreamModel(squeezenet, {"fire4_concat": 1.0})
    dream.dream(fresh, photo, octaves=2, steps=3, verbose=False)
    dream.dream(fresh, photo, octaves=2, steps=3, verbose=False)  # a second call: no new traces
    assert fresh.ascent_step.experimental_get_tracing_count() == 2


def test_unknown_layer_and_bad_weights(squeezenet):
    with pytest.raises(backbones.LayerNameError, match="fire2_concat"):
        dream.DreamModel(squeezenet, {"mixed4": 1.0})
    with pytest.raises(ValueError, match="finite and non-zero"):
        dream.DreamModel(squeezenet, {"fire2_concat": float("nan")})


def test_non_finite_loss_is_reported(squeezenet, photo):
    model = dream.DreamModel(squeezenet, {"fire2_concat": 1.0})
    model.ascent_step = lambda image, *args: (tf.constant(np.inf), image)
    with pytest.raises(dream.NonFiniteLossError, match="step size"):
        dream.gradient_ascent(model, photo, steps=2)


def test_inception_preset_runs_one_octave_with_random_weights():
    inception = backbones.load_backbone("inception_v3", weights=None)
    model = dream.DreamModel(inception)
    assert model.layer_weights == {"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5}
    photo = images.content_photo("chelsea", max_dim=160)
    out, history = dream.dream(model, photo, octaves=1, steps=2, verbose=False)
    assert out.shape == photo.shape and len(history[0]) == 2 and np.isfinite(history[0]).all()
    assert np.abs(out - photo).mean() > 0.1
