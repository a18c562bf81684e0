"""DeepDream: the loss, octave schedule, exact reinjection, tiling, seeds, errors."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import backbones, dream, errors, images, tiling


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


def test_dream_climbs_the_shared_octave_schedule(model, photo, monkeypatch):
    shapes, climb = [], dream.gradient_ascent

    def recording(model, image, *args, **kwargs):
        shapes.append(tuple(np.shape(image)[:2]))
        return climb(model, image, *args, **kwargs)

    monkeypatch.setattr(dream, "gradient_ascent", recording)
    dream.dream(model, photo, num_octaves=3, octave_scale=1.3, num_steps=1, verbose=False)
    assert shapes == [(38, 57), (49, 74), (64, 96)]  # 64x96 / 1.3**2, / 1.3, / 1


def test_steps_may_differ_per_octave(model, photo):
    result = dream.dream(model, photo, num_octaves=3, octave_scale=1.3, num_steps=[3, 0, 2],
                         verbose=False)
    assert [len(losses) for losses in result.losses] == [3, 0, 2]
    same = dream.dream(model, photo, num_octaves=2, octave_scale=1.3, num_steps=[2, 2], verbose=False)
    np.testing.assert_array_equal(same.image, dream.dream(model, photo, num_octaves=2, octave_scale=1.3,
                                                          num_steps=2, verbose=False).image)
    for wrong in ([1, 2], [1, -1, 1]):
        with pytest.raises(errors.NeuralArtError, match="one such count per octave"):
            dream.dream(model, photo, num_octaves=3, num_steps=wrong, verbose=False)


def test_too_small_for_the_octaves_says_how_many_fit(model):
    with pytest.raises(errors.ImageTooSmallError) as error:
        dream.dream(model, np.zeros((80, 120, 3), np.float32), num_octaves=4, octave_scale=1.5,
                    num_steps=1, verbose=False)
    message = str(error.value)
    assert "24x36" in message and "31 px" in message and "at most 3 octaves" in message
    with pytest.raises(errors.NeuralArtError, match="at least 1"):
        dream.dream(model, np.zeros((80, 120, 3), np.float32), num_octaves=0, verbose=False)


def test_zero_steps_returns_the_original(model, photo):
    result = dream.dream(model, photo, num_octaves=3, octave_scale=1.3, num_steps=0,
                         verbose=False)
    assert isinstance(result, dream.DreamResult)
    out, history = result
    assert out.shape == photo.shape and out.dtype == np.float32 and isinstance(out, np.ndarray)
    assert history == [[], [], []]
    assert np.abs(out - photo).max() < 1e-3


def test_lost_detail_is_what_shrinking_removed(photo):
    shrunk = images.resize(photo, 32, 48)
    detail = dream.lost_detail(photo, shrunk, photo.shape[:2])
    np.testing.assert_allclose(images.resize(shrunk, *photo.shape[:2]) + detail, photo, atol=1e-3)
    assert float(np.mean(np.abs(detail))) > 1.0  # shrinking does lose something


def test_loss_increases_over_steps(model, photo):
    result = dream.gradient_ascent(model, photo, num_steps=8, step_size=2.0)
    image, losses = result.image, result.losses
    assert len(losses) == 8
    assert losses[-1] > 1.5 * losses[0]
    assert all(later > earlier for earlier, later in zip(losses, losses[1:]))
    assert isinstance(image, np.ndarray) and image.shape == photo.shape
    assert 0.0 <= image.min() and image.max() <= 255.0


def test_laplacian_ascent_also_climbs(model, photo):
    losses = dream.gradient_ascent(model, photo, num_steps=6, step_size=2.0,
                                   laplacian_levels=3).losses
    assert losses[-1] > 1.3 * losses[0]


def test_max_loss_stops_early(model, photo):
    losses = dream.gradient_ascent(model, photo, num_steps=50, step_size=2.0).losses
    threshold = losses[3]
    stopped = dream.gradient_ascent(model, photo, num_steps=50, step_size=2.0,
                                    max_loss=threshold).losses
    # the climb stops at the first step whose loss passes max_loss (step 4), after taking it
    assert len(stopped) == 5 and stopped == pytest.approx(losses[:5], rel=1e-5)
    assert stopped[-1] > threshold >= max(stopped[:-1])


def test_callbacks_see_each_step_and_can_stop_the_climb(model, photo):
    seen = []

    def callback(step, loss, image):
        seen.append((step, loss, np.array(image)))
        return step == 2

    result = dream.gradient_ascent(model, photo, num_steps=10, step_size=2.0,
                                   callbacks=[callback])
    assert [step for step, _, _ in seen] == [0, 1, 2]
    assert [loss for _, loss, _ in seen] == result.losses
    np.testing.assert_array_equal(seen[-1][2], result.image)
    assert np.abs(seen[1][2] - seen[0][2]).mean() > 0.5  # each step moves the image


def test_one_tile_covering_the_image_equals_untiled(model, photo):
    loss, gradient = model.gradient(tf.constant(photo))
    tiled_loss, tiled = tiling.tiled_loss_and_gradient(model.tile_loss_and_gradient, photo, 128,
                                                       (0, 0))
    np.testing.assert_allclose(tiled_loss, loss, rtol=1e-5)
    np.testing.assert_allclose(tiled, gradient, rtol=1e-4, atol=1e-6 * float(np.abs(gradient).max()))
    # no larger than a tile: DreamModel.gradient does not tile at all
    untiled_loss, untiled = model.gradient(photo, tile_size=96, shift=(5, 7))
    np.testing.assert_array_equal(untiled, gradient)


def test_tiled_loss_is_the_area_weighted_mean_of_the_tiles(model, photo):
    # 64x96 in 64 px tiles: a 64x64 tile (2/3 of the area) and a 64x32 strip (1/3)
    loss, gradient = model.gradient(photo, tile_size=64, shift=(0, 0))
    left = float(model.loss(tf.constant(photo[None, :, :64])))
    right = float(model.loss(tf.constant(photo[None, :, 64:])))
    assert float(loss) == pytest.approx(2 / 3 * left + 1 / 3 * right, rel=1e-5)
    assert gradient.shape == photo.shape


def test_tiled_dream_runs_and_changes_the_image(model):
    photo = images.content_photo("astronaut", max_dim=160)
    out, history = dream.dream(model, photo, num_octaves=2, octave_scale=1.4, num_steps=3,
                               step_size=2.0, tile_size=64, seed=1, verbose=False)
    assert out.shape == photo.shape
    assert 3.0 < np.abs(out - photo).mean() < 60.0
    assert history[1][-1] > history[1][0]


def test_seeded_runs_reproduce(model, photo):
    def run(seed):
        return dream.dream(model, photo, num_octaves=2, num_steps=3, tile_size=64, seed=seed,
                           verbose=False).image

    first, second, other = run(7), run(7), run(8)
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - other).max() > 0.1  # the seed does move the tile seams


def test_a_tile_below_twice_the_minimum_is_refused(model, photo):
    with pytest.raises(errors.ImageTooSmallError, match="at least 62"):
        dream.dream(model, photo, num_octaves=1, num_steps=1, tile_size=48, verbose=False)


def test_step_is_traced_once_per_shape(squeezenet, photo):
    fresh = dream.DreamModel(squeezenet, {"fire4_concat": 1.0})
    dream.dream(fresh, photo, num_octaves=2, num_steps=3, verbose=False)
    dream.dream(fresh, photo, num_octaves=2, num_steps=3, verbose=False)  # no new traces
    assert fresh.ascent_step.experimental_get_tracing_count() == 2


def test_unknown_layer_and_bad_weights(squeezenet):
    with pytest.raises(errors.LayerNameError, match="fire2_concat"):
        dream.DreamModel(squeezenet, {"mixed4": 1.0})
    with pytest.raises(ValueError, match="finite and non-zero"):
        dream.DreamModel(squeezenet, {"fire2_concat": float("nan")})


def _blowing_up(model, finite_steps):
    """Replace the compiled step: +1 per step, losses 1, 2, ..., NaN after ``finite_steps``."""
    count = [0]

    def ascent_step(image, *args):
        count[0] += 1
        loss = float(count[0]) if count[0] <= finite_steps else float("nan")
        return tf.constant(loss), image + 1.0

    model.ascent_step = ascent_step
    return model


def test_a_non_finite_loss_warns_and_keeps_the_last_good_image(squeezenet, photo):
    model = _blowing_up(dream.DreamModel(squeezenet, {"fire2_concat": 1.0}), finite_steps=2)
    with pytest.warns(errors.NonFiniteLossWarning, match="became nan at step 3") as caught:
        result = dream.gradient_ascent(model, photo, num_steps=5)  # steps counted from 1
    assert len(caught) == 1 and "step size" in str(caught[0].message)
    assert result.losses == [1.0, 2.0]
    # the image after the second step has the NaN loss; the one after the first is the last good one
    np.testing.assert_array_equal(result.image, photo + 1.0)


def test_dream_reports_a_non_finite_loss(squeezenet, photo):
    model = _blowing_up(dream.DreamModel(squeezenet, {"fire2_concat": 1.0}), finite_steps=0)
    with pytest.warns(errors.NonFiniteLossWarning, match="at step 1"):
        out, history = dream.dream(model, photo, num_octaves=1, num_steps=3, verbose=False)
    assert history == [[]]
    np.testing.assert_allclose(out, photo, atol=1e-3)  # nothing good came after the start


@pytest.mark.slow
def test_inception_preset_runs_one_octave_with_random_weights():
    inception = backbones.load_backbone("inception_v3", weights=None)
    model = dream.DreamModel(inception)
    assert model.layer_weights == {"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5}
    photo = images.content_photo("chelsea", max_dim=160)
    out, history = dream.dream(model, photo, num_octaves=1, num_steps=2, verbose=False)
    assert out.shape == photo.shape and len(history[0]) == 2 and np.isfinite(history[0]).all()
    assert np.abs(out - photo).mean() > 0.1
