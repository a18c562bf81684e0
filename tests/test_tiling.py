"""Tiled gradients: tile bounds, rolls, and the area weights that make tiles match the whole image."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import ascent, errors, objectives, param, render, tiling
from neuralart_helpers.backbones import load_backbone


@pytest.fixture(scope="module")
def squeezenet():
    return load_backbone("squeezenet")


# ---------------------------------------------------------------- tile bounds


def test_tile_bounds_merge_a_remainder_shorter_than_half_a_tile():
    assert tiling.tile_bounds(700, 256) == [(0, 256), (256, 512), (512, 700)]  # 188 >= 128: kept
    assert tiling.tile_bounds(768, 512) == [(0, 512), (512, 768)]  # 256 == 512 // 2: not merged
    assert tiling.tile_bounds(767, 512) == [(0, 767)]              # 255 < 256: merged
    assert tiling.tile_bounds(300, 128) == [(0, 128), (128, 300)]  # 44 < 64: merged
    assert tiling.tile_bounds(320, 128) == [(0, 128), (128, 256), (256, 320)]  # 64: kept
    assert tiling.tile_bounds(256, 128) == [(0, 128), (128, 256)]
    assert tiling.tile_bounds(100, 128) == [(0, 100)]  # shorter than a tile: one tile


@pytest.mark.parametrize("tile_size", [62, 96, 97])
def test_every_tile_is_between_half_and_one_and_a_half_tiles(tile_size):
    for length in range(tile_size, 800, 7):
        bounds = tiling.tile_bounds(length, tile_size)
        assert bounds[0][0] == 0 and bounds[-1][1] == length
        assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:]))
        assert all(tile_size // 2 <= stop - start <= tile_size + tile_size // 2 - 1
                   for start, stop in bounds)


def test_check_tile_size_needs_half_a_tile_to_reach_the_minimum():
    with pytest.raises(errors.ImageTooSmallError, match="at least 62") as error:
        tiling.check_tile_size(61, 31, "squeezenet")  # 61 // 2 = 30 < 31
    assert "30 pixels" in str(error.value) and "squeezenet" in str(error.value)
    tiling.check_tile_size(62, 31)  # 62 // 2 = 31: accepted
    for bad in (0, -4, 2.5):
        with pytest.raises(errors.NeuralArtError, match="tile size"):
            tiling.check_tile_size(bad, 31)
        with pytest.raises(errors.NeuralArtError, match="tile size"):
            tiling.tile_bounds(100, bad)


# ---------------------------------------------------------------- rolls


def test_roll_then_unroll_is_exact():
    image = np.random.default_rng(0).uniform(0, 255, (17, 23, 3)).astype(np.float32)
    for shift in [(0, 0), (5, 11), (16, 22), (40, -7)]:
        rolled = tiling.random_roll(image, shift)
        assert rolled[shift[0] % 17, shift[1] % 23].tolist() == image[0, 0].tolist()
        np.testing.assert_array_equal(tiling.unroll(rolled, shift), image)


def test_random_shift_is_seeded_and_below_the_tile_size():
    shifts = [tiling.random_shift(64, np.random.default_rng(3)) for _ in range(2)]
    assert shifts[0] == shifts[1]
    draws = [tiling.random_shift(64, np.random.default_rng(seed)) for seed in range(50)]
    assert all(0 <= dy < 64 and 0 <= dx < 64 for dy, dx in draws) and len(set(draws)) > 40


# ---------------------------------------------------------------- area weights (the key test)

SIZE, TILE = 700, 256  # tiles of 256, 256 and a 188 px remainder strip (512..700) each way


def _conv_loss():
    """A mean over positions, like the course's losses: mean square of a fixed random 3x3 conv.

    'SAME' padding keeps one output per pixel, so a tile's mean is over exactly its area. The
    receptive field is 3x3: an output next to a seam reads the tile's zero padding, and a
    pixel's gradient reads the outputs around it, so only pixels within 2 px of a seam differ.
    """
    kernel = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32))
    return ascent.compiled_gradient(
        lambda x: tf.reduce_mean(tf.square(tf.nn.conv2d(x / 255.0, kernel, 1, "SAME"))))


def _far_from(length, boundaries, margin=2):
    """``(length,)`` mask of positions not within ``margin`` px of any boundary (wrapping)."""
    positions = np.arange(length)
    far = np.ones(length, bool)
    for boundary in boundaries:
        offset = (positions - boundary) % length
        far &= (offset >= margin) & (offset < length - margin)
    return far


@pytest.fixture(scope="module")
def conv_case():
    loss_and_gradient = _conv_loss()
    image = np.random.default_rng(1).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)
    whole_loss, whole = loss_and_gradient(image[None])
    return loss_and_gradient, image, float(whole_loss), whole[0].numpy()


def _strip_over_rest(gradient):
    """Mean |gradient| in the remainder strip (rows or columns 512..700) over the 256 px tiles'."""
    magnitude = np.abs(gradient).mean(axis=-1)
    strip = np.zeros((SIZE, SIZE), bool)
    strip[512:, :] = strip[:, 512:] = True
    return magnitude[strip].mean() / magnitude[~strip].mean()


def test_tiled_gradient_equals_the_whole_image_gradient_away_from_the_seams(conv_case):
    loss_and_gradient, image, whole_loss, whole = conv_case
    loss, tiled = tiling.tiled_loss_and_gradient(loss_and_gradient, image, TILE)
    assert tiled.shape == image.shape and tiled.dtype == np.float32
    scale = np.abs(whole).max()
    rows = _far_from(SIZE, [256, 512])  # the image's own border is zero-padded either way
    far = rows[:, None] & rows[None, :]
    assert far[600, 600] and far[600, 100] and not far[511, 100] and not far[100, 257]
    assert np.abs(tiled - whole)[far].max() < 1e-4 * scale  # the strip included
    assert np.abs(tiled - whole)[~far].max() > 0.1 * scale  # the seams do differ
    # the tiled loss is the area-weighted mean of the tiles' losses, and so the whole loss
    # up to the seams (a 2 px border of each tile, under 2% of the image)
    by_hand = sum((bottom - top) * (right - left) / SIZE ** 2
                  * float(loss_and_gradient(image[None, top:bottom, left:right])[0])
                  for top, bottom in tiling.tile_bounds(SIZE, TILE)
                  for left, right in tiling.tile_bounds(SIZE, TILE))
    assert loss == pytest.approx(by_hand, rel=1e-6)
    assert loss == pytest.approx(whole_loss, rel=5e-3)
    # four tile shapes (256 and 188 px sides) and the whole image: one trace
    assert loss_and_gradient.experimental_get_tracing_count() == 1


def test_the_remainder_strip_moves_as_fast_as_the_rest(conv_case):
    loss_and_gradient, image, _, whole = conv_case
    _, tiled = tiling.tiled_loss_and_gradient(loss_and_gradient, image, TILE)
    assert _strip_over_rest(whole) == pytest.approx(1.0, abs=0.02)  # a uniform random image
    assert _strip_over_rest(tiled) == pytest.approx(1.0, abs=0.1)
    # Without the area weights each tile's gradient is its own mean's: scaled by one over the
    # tile's area, 256**2 / (256 * 188) = 1.36 in the strip, 1.85 in the corner. The same
    # measure then says the strip moves over 30% faster, so this test can fail.
    unweighted = np.zeros_like(image)
    for top, bottom in tiling.tile_bounds(SIZE, TILE):
        for left, right in tiling.tile_bounds(SIZE, TILE):
            _, gradient = loss_and_gradient(image[None, top:bottom, left:right])
            unweighted[top:bottom, left:right] = gradient[0].numpy()
    assert _strip_over_rest(unweighted) > 1.3
    # after the std normalisation of a step, the strip would move that much farther
    step = ascent.normalize_by_std(unweighted).numpy()
    assert _strip_over_rest(step) > 1.3
    assert _strip_over_rest(ascent.normalize_by_std(tiled).numpy()) == pytest.approx(1.0, abs=0.1)


def test_a_shifted_tiling_is_the_unrolled_tiling_of_the_rolled_image(conv_case):
    loss_and_gradient, image, whole_loss, whole = conv_case
    shift = (100, 333)
    loss, tiled = tiling.tiled_loss_and_gradient(loss_and_gradient, image, TILE, shift)
    rolled_loss, rolled = tiling.tiled_loss_and_gradient(
        loss_and_gradient, tiling.random_roll(image, shift), TILE)
    np.testing.assert_allclose(tiled, tiling.unroll(rolled, shift), rtol=1e-6,
                               atol=1e-7 * np.abs(whole).max())
    assert loss == pytest.approx(rolled_loss, rel=1e-6)
    assert loss == pytest.approx(whole_loss, rel=5e-3)
    # In the image's own coordinates the seams sit at (b - shift) mod 700 for b = 0, 256, 512,
    # and the image border is now inside a tile (it sees the wrapped-around pixels there).
    rows = _far_from(SIZE, [(b - shift[0]) % SIZE for b in (0, 256, 512)] + [0])
    cols = _far_from(SIZE, [(b - shift[1]) % SIZE for b in (0, 256, 512)] + [0])
    far = rows[:, None] & cols[None, :]
    scale = np.abs(whole).max()
    assert np.abs(tiled - whole)[far].max() < 1e-4 * scale
    assert np.abs(tiled - whole)[~far].max() > 0.1 * scale


# ---------------------------------------------------------------- on SqueezeNet


def sum_objective(layer, index):
    """Sum (not mean) of a channel: the tiled loss is then exactly a sum over positions."""
    return objectives.Objective(lambda acts: tf.reduce_sum(acts[layer][..., index]), [layer])


def _plain_gradient(value_fn, image):
    """The untiled gradient of ``value_fn`` at one ``(H, W, 3)`` image, for comparison."""
    pixels = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        value = value_fn(pixels)
    return float(value), tape.gradient(value, pixels)[0].numpy()


def test_tiled_gradient_with_one_tile_equals_the_plain_gradient(squeezenet):
    value_fn = render.value_function(objectives.channel("fire5_concat", 48), squeezenet)
    image = param.grey_noise(72, 88, spread=80.0, seed=2)[0]
    loss, tiled = tiling.tiled_loss_and_gradient(ascent.compiled_gradient(value_fn), image, 128)
    plain_loss, plain = _plain_gradient(value_fn, image)
    assert tiled.shape == image.shape and tiled.dtype == np.float32
    assert loss == pytest.approx(plain_loss, rel=1e-5)  # one tile: its share is 1
    np.testing.assert_allclose(tiled, plain, rtol=1e-4, atol=1e-6 * np.abs(plain).max())


def test_tiled_gradient_is_the_unrolled_gradient_of_the_rolled_image(squeezenet):
    loss_and_gradient = ascent.compiled_gradient(
        render.value_function(sum_objective("fire3_expand3x3", 5), squeezenet))
    image = param.grey_noise(80, 96, spread=80.0, seed=3)[0]
    shift = (13, 70)
    _, rolled = tiling.tiled_loss_and_gradient(loss_and_gradient, tiling.random_roll(image, shift),
                                               48)
    expected = tiling.unroll(rolled, shift)
    assert np.abs(expected).max() > 0
    _, tiled = tiling.tiled_loss_and_gradient(loss_and_gradient, image, 48, shift)
    np.testing.assert_allclose(tiled, expected, rtol=1e-5, atol=1e-9)


def test_tiled_gradient_is_the_area_share_of_the_plain_gradient_away_from_seams(squeezenet):
    # Tiles start at multiples of 96, a multiple of the layer's total stride (4), so
    # activations away from a seam are the same tiled or not. fire3's receptive field
    # is 23 px: a pixel more than 2 x 12 px from a seam only reaches activations
    # whose own field stays inside its tile. The objective is a sum, so each of the six
    # equal 96x96 tiles of the 192x288 image carries 1/6 of its gradient there.
    value_fn = render.value_function(sum_objective("fire3_expand3x3", 5), squeezenet)
    image = param.grey_noise(192, 288, spread=80.0, seed=4)[0]
    _, tiled = tiling.tiled_loss_and_gradient(ascent.compiled_gradient(value_fn), image, 96)
    _, plain = _plain_gradient(value_fn, image)
    far = np.zeros(image.shape[:2], bool)
    for top in (0, 96):
        for left in (0, 96, 192):
            far[top + 26:top + 70, left + 26:left + 70] = True
    scale = np.abs(plain).max()
    assert scale > 0
    assert np.abs(6 * tiled - plain)[far].max() < 1e-4 * scale
    assert np.abs(6 * tiled - plain)[~far].max() > 1e-2 * scale  # the seams do differ


def test_tiled_gradient_compiles_once_for_all_tile_shapes(squeezenet):
    value_fn = render.value_function(objectives.channel("fire3_concat", 5), squeezenet)
    loss_and_gradient = ascent.compiled_gradient(value_fn)
    for height, width in [(100, 70), (64, 64), (150, 90)]:
        tiling.tiled_loss_and_gradient(loss_and_gradient, param.grey_noise(height, width)[0], 64,
                                       (3, 5))
    assert loss_and_gradient.experimental_get_tracing_count() == 1


def test_tiled_gradient_refuses_a_batch_or_a_bad_tile_size(squeezenet):
    loss_and_gradient = ascent.compiled_gradient(
        render.value_function(objectives.channel("fire3_concat", 5), squeezenet))
    with pytest.raises(errors.NeuralArtError, match=r"\(H, W, 3\)"):
        tiling.tiled_loss_and_gradient(loss_and_gradient, param.grey_noise(64, 64, batch=2), 64)
    with pytest.raises(errors.NeuralArtError, match="tile size"):
        tiling.tiled_loss_and_gradient(loss_and_gradient, param.grey_noise(64, 64)[0], 0)
