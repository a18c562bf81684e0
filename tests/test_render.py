"""Tests for neuralart_helpers.render (and the `neuralart visualize` command built on it)."""

import warnings

import re

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import objectives, param, render, transforms
from neuralart_helpers.backbones import ImageTooSmallError, LayerNameError, load_backbone
from neuralart_helpers.cli import main
from neuralart_helpers.images import load_image


@pytest.fixture(scope="module")
def squeezenet():
    return load_backbone("squeezenet")


def sum_objective(layer, index):
    """Sum (not mean) of a channel: the tiled loss is then exactly a sum over positions."""
    return objectives.Objective(lambda acts: tf.reduce_sum(acts[layer][..., index]), [layer])


# ---------------------------------------------------------------- the compiled step


def test_normalize_gradient_gives_each_image_unit_std():
    gradient = tf.constant(np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype(np.float32)
                           * np.array([1e-6, 1.0, 1e4], np.float32)[:, None, None, None])
    normalized = render.normalize_gradient(gradient).numpy()
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


# ---------------------------------------------------------------- bad input


def test_unknown_layer_lists_the_valid_ones(squeezenet):
    with pytest.raises(LayerNameError, match="fire5_concat"):
        render.render(objectives.channel("mixed4d", 139), squeezenet, param.pixel_image(64, 64),
                      num_steps=1, verbose=False)


def test_channel_out_of_range_says_the_channel_count(squeezenet):
    with pytest.raises(render.RenderError, match="256 channels"):
        render.render(objectives.channel("fire5_concat", 256), squeezenet,
                      param.pixel_image(64, 64), num_steps=1, verbose=False)
    with pytest.raises(render.RenderError, match="256 channels"):
        render.check_objective(objectives.channel("fire5_concat", -1), squeezenet)


def test_too_small_an_image_is_refused(squeezenet):
    with pytest.raises(ImageTooSmallError, match="31"):
        render.render(objectives.channel("fire3_concat", 0), squeezenet, param.pixel_image(30, 64),
                      num_steps=1, verbose=False)
    with pytest.raises(render.RenderError, match="first octave"):
        render.render_octaves(objectives.channel("fire3_concat", 0), squeezenet, 40, num_octaves=3,
                              verbose=False)


@pytest.mark.parametrize("num_steps, step_size",
                         [(0, 1.0), (-3, 1.0), (2.5, 1.0), (5, 0.0), (5, -1.0)])
def test_non_positive_steps_or_step_size_are_refused(squeezenet, num_steps, step_size):
    with pytest.raises(render.RenderError):
        render.render(objectives.channel("fire3_concat", 0), squeezenet, param.pixel_image(64, 64),
                      num_steps=num_steps, step_size=step_size, verbose=False)


def test_a_dead_channel_warns_and_a_live_one_does_not():
    backbone = load_backbone("squeezenet")  # a private copy: we kill channel 0 of conv1
    conv1 = backbone.model.get_layer("conv1")
    kernel, bias = conv1.get_weights()
    kernel[..., 0], bias[0] = 0.0, -1.0
    conv1.set_weights([kernel, bias])
    with pytest.warns(render.DeadChannelWarning, match="image"):
        render.render(objectives.channel("relu_conv1", 0), backbone, param.pixel_image(48, 48),
                      num_steps=2, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", render.DeadChannelWarning)
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
    assert render.octave_sizes(1024, 4, 1.6) == [250, 400, 640, 1024]


# ---------------------------------------------------------------- tiles and rolls


def test_roll_then_unroll_is_exact():
    image = np.random.default_rng(0).uniform(0, 255, (17, 23, 3)).astype(np.float32)
    for shift in [(0, 0), (5, 11), (16, 22), (40, -7)]:
        rolled = render.random_roll(image, shift)
        assert rolled[shift[0] % 17, shift[1] % 23].tolist() == image[0, 0].tolist()
        np.testing.assert_array_equal(render.unroll(rolled, shift), image)


def test_random_shift_is_seeded_and_below_the_tile_size():
    shifts = [render.random_shift(64, np.random.default_rng(3)) for _ in range(2)]
    assert shifts[0] == shifts[1]
    draws = [render.random_shift(64, np.random.default_rng(seed)) for seed in range(50)]
    assert all(0 <= dy < 64 and 0 <= dx < 64 for dy, dx in draws) and len(set(draws)) > 40


def test_tile_bounds_merge_short_remainders_into_the_previous_tile():
    assert render.tile_bounds(300, 128) == [(0, 128), (128, 300)]  # 44 < 128 // 2: merged
    assert render.tile_bounds(300, 128, min_tile=40) == [(0, 128), (128, 256), (256, 300)]
    assert render.tile_bounds(256, 128) == [(0, 128), (128, 256)]
    assert render.tile_bounds(100, 128) == [(0, 100)]
    for length in range(31, 700, 7):
        bounds = render.tile_bounds(length, 96, min_tile=31)
        assert bounds[0][0] == 0 and bounds[-1][1] == length
        assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:]))
        assert all(31 <= stop - start <= 96 + 31 for start, stop in bounds)


def _plain_gradient(value_fn, image):
    """The untiled gradient of ``value_fn`` at one ``(H, W, 3)`` image, for comparison."""
    pixels = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        value = value_fn(pixels)
    return tape.gradient(value, pixels)[0].numpy()


def test_tiled_gradient_with_one_tile_equals_the_plain_gradient(squeezenet):
    value_fn = render.value_function(objectives.channel("fire5_concat", 48), squeezenet)
    image = param.grey_noise(72, 88, spread=80.0, seed=2)[0]
    tiled = render.tiled_gradient(value_fn, image, tile_size=128)
    plain = _plain_gradient(value_fn, image)
    assert tiled.shape == image.shape and tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, plain, rtol=1e-4, atol=1e-6 * np.abs(plain).max())


def test_tiled_gradient_is_the_unrolled_gradient_of_the_rolled_image(squeezenet):
    value_fn = render.value_function(sum_objective("fire3_expand3x3", 5), squeezenet)
    image = param.grey_noise(80, 96, spread=80.0, seed=3)[0]
    shift = (13, 70)
    expected = render.unroll(render.tiled_gradient(value_fn, render.random_roll(image, shift), 48),
                             shift)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(render.tiled_gradient(value_fn, image, 48, shift), expected,
                               rtol=1e-5, atol=1e-9)


def test_tiled_gradient_matches_the_plain_gradient_away_from_seams(squeezenet):
    # Tiles start at multiples of 96, a multiple of the layer's total stride (4), so
    # activations away from a seam are the same tiled or not. fire3's receptive field
    # is 23 px: a pixel more than 2 x 12 px from a seam only reaches activations
    # whose own field stays inside its tile, so its gradient does not change.
    value_fn = render.value_function(sum_objective("fire3_expand3x3", 5), squeezenet)
    image = param.grey_noise(192, 288, spread=80.0, seed=4)[0]
    tiled = render.tiled_gradient(value_fn, image, tile_size=96)
    plain = _plain_gradient(value_fn, image)
    far = np.zeros(image.shape[:2], bool)
    for top in (0, 96):
        for left in (0, 96, 192):
            far[top + 26:top + 70, left + 26:left + 70] = True
    scale = np.abs(plain).max()
    assert scale > 0
    assert np.abs(tiled - plain)[far].max() < 1e-4 * scale
    assert np.abs(tiled - plain)[~far].max() > 1e-2 * scale  # the seams do differ


def test_tiled_gradient_compiles_once_for_all_tile_shapes(squeezenet):
    value_fn = render.value_function(objectives.channel("fire3_concat", 5), squeezenet)
    for height, width in [(100, 70), (64, 64), (150, 90)]:
        render.tiled_gradient(value_fn, param.grey_noise(height, width)[0], 64, (3, 5))
    assert render.compiled_gradient(value_fn).experimental_get_tracing_count() == 1


def test_tiled_gradient_refuses_a_batch_or_a_bad_tile_size(squeezenet):
    value_fn = render.value_function(objectives.channel("fire3_concat", 5), squeezenet)
    with pytest.raises(render.RenderError, match=r"\(H, W, 3\)"):
        render.tiled_gradient(value_fn, param.grey_noise(64, 64, batch=2), 64)
    with pytest.raises(render.RenderError, match="tile size"):
        render.tiled_gradient(value_fn, param.grey_noise(64, 64)[0], 0)


def test_tiled_octaves_raise_the_value_and_are_seeded(squeezenet):
    def run():
        return render.render_octaves(objectives.channel("fire5_concat", 48), squeezenet, 160,
                                     num_octaves=2, octave_scale=1.6, steps_per_octave=3,
                                     step_size=2.0, tile_size=64, verbose=False)

    first, second = run(), run()
    assert first.images.shape == (1, 160, 160, 3)
    assert first.values[2] > first.values[0]
    np.testing.assert_array_equal(first.images, second.images)
    with pytest.raises(render.RenderError, match="tile size of at least 62"):
        render.tiled_ascent(render.value_function(objectives.channel("fire3_concat", 0), squeezenet),
                            squeezenet, param.grey_noise(64, 64)[0], 1, 1.0, tile_size=60)


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
