"""Tests for neuralart_helpers.receptive: theoretical and effective receptive fields, crops."""

import keras
import numpy as np
import pytest

from neuralart_helpers import receptive
from neuralart_helpers.backbones import Backbone, load_backbone
from neuralart_helpers.errors import NeuralArtError


def tiny_backbone(pool=keras.layers.AveragePooling2D, seed=0) -> Backbone:
    """Two 3x3 convolutions then a 2x2 pool of stride 2, no ReLU: field 6 px, stride 2."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, name="conv_a")(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv_b")(x)
    x = pool(2, strides=2, name="pool")(x)
    return Backbone("tiny", keras.Model(inputs, x), lambda v: v, lambda v: v, 8, {}, (), "", ())


def sum_backbone() -> Backbone:
    """One 3x3 convolution of stride 2 whose only channel sums the 27 values it sees."""
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(1, 3, strides=2, use_bias=False, name="sum")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.ones((3, 3, 3, 1), np.float32)])
    return Backbone("sum", model, lambda v: v, lambda v: v, 3, {}, (), "", ())


def test_receptive_field_of_two_convs_and_a_pool_is_exact():
    backbone = tiny_backbone(keras.layers.MaxPooling2D)
    assert receptive.receptive_field(backbone, "conv_a") == (3, 1, 1.0)
    assert receptive.receptive_field(backbone, "conv_b") == (5, 1, 2.0)
    # the pool adds (2 - 1) * 1 pixel and doubles the stride; unit 0 spans pixels 0 to 5
    assert receptive.receptive_field(backbone.model, "pool", axis=1) == (6, 2, 2.5)
    assert receptive.unit_centre(backbone, "pool", 3, 1) == (8.5, 4.5)


def test_receptive_field_of_a_fire_module_is_that_of_its_3x3_branch():
    inputs = keras.Input((None, None, 3))
    squeeze = keras.layers.Conv2D(2, 1, name="squeeze")(inputs)
    left = keras.layers.Conv2D(2, 1, name="left")(squeeze)
    right = keras.layers.Conv2D(2, 3, padding="same", name="right")(squeeze)
    model = keras.Model(inputs, keras.layers.Concatenate(name="concat")([left, right]))
    assert receptive.receptive_field(model, "left") == (1, 1, 0.0)
    assert receptive.receptive_field(model, "concat") == (3, 1, 0.0)


def test_squeezenet_fields():
    backbone = load_backbone("squeezenet", weights=None)
    # conv1 3 px / 2, pool1 7 / 4, each fire's 3x3 expand adds 2 strides, pools add 2 strides
    expected = {"relu_conv1": (3, 2), "pool1": (7, 4), "fire2_concat": (15, 4),
                "fire3_concat": (23, 4), "fire5_concat": (63, 8), "fire8_concat": (175, 16),
                "fire8_expand1x1": (143, 16), "fire9_concat": (207, 16)}
    for layer, (size, stride) in expected.items():
        assert receptive.receptive_field(backbone, layer)[:2] == (size, stride), layer
    assert receptive.receptive_field(backbone, "fire8_concat").start == 15.0
    with pytest.raises(NeuralArtError, match="no layer named"):
        receptive.receptive_field(backbone, "fire10_concat")


def test_effective_field_is_the_theoretical_box_exactly():
    backbone = tiny_backbone()
    image = np.random.default_rng(0).uniform(0, 255, (20, 20, 3)).astype(np.float32)
    weights, centre = receptive.effective_receptive_field(backbone, "pool", 1, image)
    # 20 -> 18 -> 16 -> 8 units; the centre unit (4, 4) sees pixels 8 to 13 on both axes
    assert centre == (10.5, 10.5)
    assert weights.shape == (20, 20) and weights.sum() == pytest.approx(1.0)
    support = np.zeros((20, 20), bool)
    support[8:14, 8:14] = True
    assert np.all(weights[~support] == 0) and np.all(weights[support] > 0)


def test_effective_field_of_a_dead_unit_raises():
    backbone = tiny_backbone()
    with pytest.raises(NeuralArtError, match="zero gradient"):
        receptive.effective_receptive_field(
            Backbone("dead", backbone.model, lambda v: 0 * v, lambda v: v, 8, {}, (), "", ()),
            "pool", 0, np.ones((20, 20, 3), np.float32))


def test_mass_radius():
    weights = np.zeros((11, 11))
    weights[5, 5], weights[5, 8], weights[1, 5] = 0.5, 0.3, 0.2
    assert receptive.mass_radius(weights, (5, 5), 0.5) == 0.0
    assert receptive.mass_radius(weights, (5, 5), 0.8) == 3.0
    assert receptive.mass_radius(weights, (5, 5), 0.9) == 4.0
    assert receptive.mass_radius(weights, (5, 5), 1.0) == 4.0
    assert receptive.mass_radius(weights, (1, 5), 0.2) == 0.0


def test_ring_amplitude():
    rows, columns = np.indices((64, 64))
    wave = np.cos(2 * np.pi * columns / 8)  # 1/8 cycle per pixel along the columns
    assert receptive.ring_amplitude(wave, 1 / 8) > 100 * receptive.ring_amplitude(wave, 1 / 4) + 1
    assert receptive.ring_amplitude(wave, 1 / 4) == pytest.approx(0, abs=1e-9)
    noise = np.random.default_rng(0).normal(size=(64, 64, 3))
    assert receptive.ring_amplitude(3 * noise, 0.2) == pytest.approx(3 * receptive.ring_amplitude(noise, 0.2))
    # filtering by 1/f**2 divides the amplitude at 1/4 by 16 relative to 1/16 (within the ring's width)
    frequency = np.hypot(np.fft.fftfreq(64)[:, None], np.fft.fftfreq(64)[None, :])
    filtered = np.fft.ifft2(np.fft.fft2(noise[..., 0]) / np.maximum(frequency, 1 / 64) ** 2).real
    ratio = [receptive.ring_amplitude(filtered, f) / receptive.ring_amplitude(noise[..., 0], f)
             for f in (1 / 16, 1 / 4)]
    assert ratio[0] / ratio[1] == pytest.approx(16, rel=0.05)


def test_crop_corner():
    assert receptive.crop_corner(41.0, 16, 64) == 34  # pixels 34..49, centred at 41.5
    assert receptive.crop_corner(41.0, 15, 64) == 34  # pixels 34..48, centred at 41
    assert receptive.crop_corner(3.0, 16, 64) == 0 and receptive.crop_corner(62.0, 16, 64) == 48


def test_top_crops_geometry():
    backbone = sum_backbone()  # field 3 px, stride 2, unit (i, j) centred at (1 + 2i, 1 + 2j)
    first, second = np.zeros((64, 64, 3), np.float32), np.zeros((64, 48, 3), np.float32)
    first[41, 21] = 100.0   # seen by unit (20, 10) only: centre (41, 21)
    first[45, 21] = 90.0    # 4 px away from the first: suppressed (crop 16, half 8)
    first[9, 1] = 80.0      # unit (4, 0), centre (9, 1): its crop is moved to the left edge
    second[31, 31] = 95.0   # unit (15, 15) of the other photo
    crops = receptive.top_crops(backbone, "sum", 0, [first, second], crop_size=16, count=3)
    assert [(c.photo, c.activation, c.top, c.left) for c in crops] == [
        (0, 300.0, 34, 14), (1, 285.0, 24, 24), (0, 240.0, 2, 0)]
    assert crops[0].pixels.shape == (16, 16, 3) and crops[0].pixels[41 - 34, 21 - 14, 0] == 100.0
    assert crops[2].pixels[9 - 2, 1, 0] == 80.0
    assert len(receptive.top_crops(backbone, "sum", 0, [first], 16, 10)) == 10
