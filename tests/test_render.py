"""Tests for neuralart_helpers.render (and the `neuralart visualize` command built on it)."""

import re
import warnings

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import ascent, errors, objectives, param, render, transforms
from neuralart_helpers.backbones import load_backbone
from neuralart_helpers.cli import main
from neuralart_helpers.errors import ImageTooSmallError, LayerNameError
from neuralart_helpers.images import load_image


@pytest.fixture(scope="module")
def squeezenet():
    return load_backbone("squeezenet")


# ---------------------------------------------------------------- the compiled step


def test_normalize_gradient_gives_each_image_unit_std():
    # the render step normalises each image of the batch on its own (axes 1, 2, 3)
    gradient = tf.constant(np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype(np.float32)
                           * np.array([1e-6, 1.0, 1e4], np.float32)[:, None, None, None])
    normalized = ascent.normalize_by_std(gradient, axis=[1, 2, 3]).numpy()
    np.testing.assert_allclose(normalized.reshape(3, -1).std(axis=1), 1.0, rtol=1e-3)
    np.testing.assert_allclose(normalized[2] / normalized[2].std(),
                               gradient.numpy()[2] / gradient.numpy()[2].std(), rtol=1e-4)


def test_ascent_step_is_traced_once_for_every_seed_and_step_size(squeezenet):
    image_param = param.pixel_image(48, 48, seed=0)
    value_fn = render.value_function(objectives.channel("fire3_concat", 5), squeezenet)
    step = render.make_ascent_step(value_fn, image_param, transforms.standard_transforms())
    for index, size in enumerate([1.0, 2.0, 0.5, 1.5]):
        step(tf.constant([0, index], tf.int32), tf.constant(size, tf.float32))
    assert step.experimental_get_tracing_count() == 1


def test_one_normalised_step_moves_pixels_by_about_the_step_size(squeezenet):
    image_param = param.pixel_image(64, 64, seed=0)
    before = image_param.to_image().numpy()
    value_fn = render.value_function(objectives.channel("fire3_expand3x3", 5), squeezenet)
    step = render.make_ascent_step(value_fn, image_param)
    step(tf.constant([0, 0], tf.int32), tf.constant(2.0))
    moved = image_param.to_image().numpy() - before
    assert moved.std() == pytest.approx(2.0, rel=0.02)


@pytest.mark.slow
def test_seeded_renders_reproduce_exactly(squeezenet):
    objective = objectives.channel("fire3_concat", 7)

    def run(transform_seed, make_param):
        return render.render(objective, squeezenet, make_param(), transforms.standard_transforms(),
                             num_steps=3, step_size=1.0, seed=transform_seed, verbose=False).images

    for make_param in (lambda: param.pixel_image(56, 56, seed=1),
                       lambda: param.fourier_image(56, 56, seed=1)):
        first = run(3, make_param)
        np.testing.assert_array_equal(first, run(3, make_param))
        assert not np.array_equal(first, run(4, make_param))


def test_render_raises_the_value_and_keeps_pixels_in_range(squeezenet):
    result = render.render(objectives.channel("fire5_concat", 48), squeezenet,
                           param.pixel_image(64, 64, batch=2), num_steps=8, step_size=3.0,
                           verbose=False)
    assert result.images.shape == (2, 64, 64, 3)
    assert 0.0 <= result.images.min() and result.images.max() <= 255.0
    assert result.values[-1] > 2 * result.values[0] > 0
    assert len(result.values) == 8 and result.largest_gradient.shape == (2,)


def test_callbacks_see_every_step_and_one_can_stop_the_render(squeezenet):
    seen = []

    def callback(step, value, image_param):
        seen.append((step, value, image_param.to_image().numpy().copy()))
        return step == 2  # True ends the render after this step

    result = render.render(objectives.channel("fire5_concat", 48), squeezenet,
                           param.pixel_image(64, 64), num_steps=10, step_size=2.0,
                           verbose=False, callbacks=[callback])
    assert [step for step, _, _ in seen] == [0, 1, 2]
    assert [value for _, value, _ in seen] == result.values and len(result.values) == 3
    np.testing.assert_array_equal(seen[-1][2], result.images)  # the image after the last step
    assert (seen[1][2] - seen[0][2]).std() == pytest.approx(2.0, rel=0.05)  # one step apart
    assert result.stopped is None


def test_a_non_finite_value_stops_the_render_and_keeps_the_image(squeezenet):
    nan_objective = objectives.Objective(
        lambda acts: tf.reduce_mean(acts["fire3_concat"]) * float("nan"), ["fire3_concat"], "nan")
    image_param = param.pixel_image(48, 48, seed=2)
    start = image_param.to_image().numpy()
    with pytest.warns(errors.NonFiniteLossWarning, match="at step 1;"):  # counted from 1
        result = render.render(nan_objective, squeezenet, image_param, num_steps=5, verbose=False)
    assert result.values == [] and "at step 1;" in result.stopped
    np.testing.assert_array_equal(result.images, start)  # a non-finite step moves nothing


# ---------------------------------------------------------------- bad input


def test_unknown_layer_lists_the_valid_ones(squeezenet):
    with pytest.raises(LayerNameError, match="fire5_concat"):
        render.render(objectives.channel("mixed4d", 139), squeezenet, param.pixel_image(64, 64),
                      num_steps=1, verbose=False)


def test_channel_out_of_range_says_the_channel_count(squeezenet):
    with pytest.raises(errors.NeuralArtError, match="256 channels"):
        render.render(objectives.channel("fire5_concat", 256), squeezenet,
                      param.pixel_image(64, 64), num_steps=1, verbose=False)
    with pytest.raises(errors.NeuralArtError, match="256 channels"):
        render.check_objective(objectives.channel("fire5_concat", -1), squeezenet)


def test_too_small_an_image_is_refused(squeezenet):
    with pytest.raises(ImageTooSmallError, match="31"):
        render.render(objectives.channel("fire3_concat", 0), squeezenet, param.pixel_image(30, 64),
                      num_steps=1, verbose=False)
    with pytest.raises(errors.NeuralArtError, match="first octave"):
        render.render_octaves(objectives.channel("fire3_concat", 0), squeezenet, 40, num_octaves=3,
                              verbose=False)


@pytest.mark.parametrize("num_steps, step_size",
                         [(0, 1.0), (-3, 1.0), (2.5, 1.0), (5, 0.0), (5, -1.0)])
def test_non_positive_steps_or_step_size_are_refused(squeezenet, num_steps, step_size):
    with pytest.raises(errors.NeuralArtError):
        render.render(objectives.channel("fire3_concat", 0), squeezenet, param.pixel_image(64, 64),
                      num_steps=num_steps, step_size=step_size, verbose=False)


def test_a_dead_channel_warns_and_a_live_one_does_not():
    backbone = load_backbone("squeezenet")  # a private copy: we kill channel 0 of conv1
    conv1 = backbone.model.get_layer("conv1")
    kernel, bias = conv1.get_weights()
    kernel[..., 0], bias[0] = 0.0, -1.0
    conv1.set_weights([kernel, bias])
    with pytest.warns(errors.DeadChannelWarning, match="image"):
        render.render(objectives.channel("relu_conv1", 0), backbone, param.pixel_image(48, 48),
                      num_steps=2, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.DeadChannelWarning)
        render.render(objectives.channel("relu_conv1", 3), backbone, param.pixel_image(48, 48),
                      num_steps=2, verbose=False)


# ---------------------------------------------------------------- multiscale


def test_render_octaves_grows_the_image_octave_by_octave(squeezenet):
    result = render.render_octaves(objectives.channel("fire3_concat", 5), squeezenet, 98,
                                   num_octaves=3, octave_scale=1.4, steps_per_octave=2,
                                   transforms=[transforms.jitter(2)], batch=2, verbose=False)
    assert [snapshot.shape for snapshot in result.snapshots] == [
        (2, 50, 50, 3), (2, 70, 70, 3), (2, 98, 98, 3)]
    assert result.images.shape == (2, 98, 98, 3) and len(result.values) == 6
    np.testing.assert_array_equal(result.snapshots[-1], result.images)


# ---------------------------------------------------------------- tiled ascent


def test_tiled_octaves_raise_the_value_and_are_seeded(squeezenet):
    def run():
        return render.render_octaves(objectives.channel("fire5_concat", 48), squeezenet, 160,
                                     num_octaves=2, octave_scale=1.6, steps_per_octave=3,
                                     step_size=2.0, tile_size=64, verbose=False)

    first, second = run(), run()
    assert first.images.shape == (1, 160, 160, 3)
    assert first.values[2] > first.values[0]
    np.testing.assert_array_equal(first.images, second.images)
    with pytest.raises(errors.NeuralArtError, match="tile size of at least 62"):
        render.tiled_ascent(render.value_function(objectives.channel("fire3_concat", 0), squeezenet),
                            squeezenet, param.grey_noise(64, 64)[0], 1, 1.0, tile_size=60)


@pytest.mark.slow
def test_inception_v3_path_runs_with_random_weights():
    inception = load_backbone("inception_v3", weights=None)
    layer = inception.visualize_layers[0]
    image_param = param.fourier_image(80, 80)
    start = image_param.to_image().numpy()
    result = render.render(objectives.layer_l2(layer), inception, image_param,
                           transforms.standard_transforms(), num_steps=2, step_size=0.01,
                           verbose=False)
    assert result.images.shape == (1, 80, 80, 3) and np.isfinite(result.values).all()
    assert np.abs(result.images - start).max() > 0.1
    with pytest.raises(ImageTooSmallError, match="75"):
        render.render(objectives.channel(layer, 3), inception, param.pixel_image(64, 64),
                      num_steps=1, verbose=False)


# ---------------------------------------------------------------- neuralart visualize


@pytest.fixture()
def in_process(monkeypatch):
    monkeypatch.setenv("NEURALART_DEBUG", "1")  # leave pytest's stderr capture alone


def test_cli_visualize_writes_an_image(in_process, tmp_path, capsys):
    out = tmp_path / "channel.png"
    status = main(["visualize", "--layer", "fire3_concat", "--channel", "5", "--size", "64",
                   "--steps", "6", "--seed", "1", "--quiet", str(out)])
    assert status == 0
    assert load_image(out).shape == (64, 64, 3)
    printed = capsys.readouterr().out
    before, after = map(float, re.search(r"value (\S+) -> (\S+)\)", printed).groups())
    assert after > before + 1.0  # six ascent steps raised the channel's mean activation


def test_cli_visualize_fourier(in_process, tmp_path):
    out = tmp_path / "channel.jpg"
    assert main(["visualize", "--fourier", "--size", "48", "--steps", "3", "--quiet", str(out)]) == 0
    assert load_image(out).shape == (48, 48, 3)


@pytest.mark.parametrize("arguments, message", [
    (["--layer", "mixed4d"], "Valid layer names"),
    (["--layer", "fire5_concat", "--channel", "300"], "256 channels"),
    (["--size", "20"], "at least 31"),
    (["--steps", "0"], "positive"),
    (["--step-size", "-1"], "positive"),
])
def test_cli_visualize_bad_input_is_one_line(in_process, tmp_path, capsys, arguments, message):
    status = main(["visualize", "--quiet", *arguments, str(tmp_path / "out.png")])
    error = capsys.readouterr().err.strip()
    assert status == 2 and message in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out.png").exists()
