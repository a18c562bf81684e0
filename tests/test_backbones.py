"""Backbones: SqueezeNet's ImageNet weights, presets, minimum sizes, pre/deprocessing."""

import h5py
import numpy as np
import pytest
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view

from neuralart_helpers import assets, backbones, images
from neuralart_helpers import errors


@pytest.fixture(scope="module")
def squeezenet():
    return backbones.load_backbone("squeezenet")


@pytest.fixture(scope="module", params=["inception_v3", "vgg19"])
def classic(request):
    return backbones.load_backbone(request.param, weights=None)


# ------------------------------------------------- an independent NumPy SqueezeNet (first block)

def _h5_layer(weights_file, name):
    """Kernel and bias of one layer, read straight from the original HDF5 file."""
    arrays = []
    weights_file[name].visititems(
        lambda _, obj: arrays.append(np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None)
    kernel = next(a for a in arrays if a.ndim == 4)
    bias = next(a for a in arrays if a.ndim == 1)
    return kernel, bias


def _conv(x, kernel, bias, stride=1, same=False):
    """Cross-correlation of (H, W, Cin) with (kh, kw, Cin, Cout), as Keras Conv2D computes it."""
    kh, kw = kernel.shape[:2]
    if same:
        x = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(0, 1))[::stride, ::stride]  # (h, w, Cin, kh, kw)
    return np.einsum("hwcij,ijco->hwo", windows, kernel) + bias


def _maxpool(x):
    return sliding_window_view(x, (3, 3), axis=(0, 1))[::2, ::2].max(axis=(3, 4))


def _relu(x):
    return np.maximum(x, 0)


def _numpy_fire2(pixels, weights_path):
    bgr = pixels[:, :, ::-1] - np.array([103.939, 116.779, 123.68])
    with h5py.File(weights_path, "r") as weights_file:
        x = _maxpool(_relu(_conv(bgr, *_h5_layer(weights_file, "conv1"), stride=2)))
        squeezed = _relu(_conv(x, *_h5_layer(weights_file, "fire2/squeeze1x1")))
        left = _relu(_conv(squeezed, *_h5_layer(weights_file, "fire2/expand1x1")))
        right = _relu(_conv(squeezed, *_h5_layer(weights_file, "fire2/expand3x3"), same=True))
    return np.concatenate([left, right], axis=-1)


def test_squeezenet_imagenet_activations_match_numpy_reference(squeezenet):
    photo = images.content_photo("astronaut", max_dim=63).astype(np.float64)
    expected = _numpy_fire2(photo, assets.fetch("squeezenet_weights"))
    features = squeezenet.extractor(["fire2_concat"])(squeezenet.preprocess(photo[None]))
    actual = features["fire2_concat"][0].numpy()
    assert actual.shape == expected.shape == (15, 15, 128)
    assert expected.mean() > 1.0  # real weights give real activations, not zeros
    np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


def test_squeezenet_random_weights_differ_from_imagenet(squeezenet):
    random_model = backbones.load_backbone("squeezenet", weights=None)
    photo = images.content_photo("coffee", max_dim=64)[None]
    pretrained = squeezenet.extractor(["conv1"])(squeezenet.preprocess(photo))["conv1"]
    random = random_model.extractor(["conv1"])(random_model.preprocess(photo))["conv1"]
    assert float(tf.reduce_mean(tf.abs(pretrained - random))) > 1.0


def test_extractor_returns_dict_of_named_layers(squeezenet):
    extractor = squeezenet.extractor(["conv1", "fire9_concat"])
    out = extractor(tf.zeros((2, 224, 224, 3)))
    assert set(out) == {"conv1", "fire9_concat"}
    assert tuple(out["conv1"].shape) == (2, 111, 111, 64)
    assert tuple(out["fire9_concat"].shape) == (2, 13, 13, 512)
    assert squeezenet.extractor(["conv1", "fire9_concat"]) is extractor  # cached
    assert squeezenet.channels("fire6_concat") == 384


def test_features_of_pixels_are_the_extractor_of_the_preprocessed_batch(squeezenet):
    layers = ["conv1", "fire3_concat"]
    photo = images.content_photo("chelsea", max_dim=64)  # (43, 64, 3) in [0, 255]
    features = squeezenet.features(photo, layers)
    expected = squeezenet.extractor(layers)(squeezenet.preprocess(photo[None]))
    assert set(features) == set(layers)
    for layer in layers:
        assert features[layer].shape[0] == 1
        np.testing.assert_array_equal(features[layer].numpy(), expected[layer].numpy())
    # a batch, as a tensor: each image's features are its own
    batch = np.stack([photo, 255.0 - photo])
    batched = squeezenet.features(tf.constant(batch), layers)
    assert batched["fire3_concat"].shape[:1] == (2,)
    np.testing.assert_allclose(batched["fire3_concat"][0], features["fire3_concat"][0],
                               rtol=1e-5, atol=1e-4)
    alone = squeezenet.features(batch[1], ["fire3_concat"])["fire3_concat"][0]
    np.testing.assert_allclose(batched["fire3_concat"][1], alone, rtol=1e-5, atol=1e-4)
    assert float(tf.reduce_max(tf.abs(batched["fire3_concat"][1] - batched["fire3_concat"][0]))) > 1


def test_features_are_differentiable_with_respect_to_pixels(squeezenet):
    pixels = tf.constant(images.content_photo("coffee", max_dim=48))
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        value = tf.reduce_mean(squeezenet.features(pixels, ["fire2_concat"])["fire2_concat"])
    gradient = tape.gradient(value, pixels)
    assert gradient.shape == pixels.shape and float(tf.reduce_max(tf.abs(gradient))) > 0
    with pytest.raises(errors.LayerNameError, match="fire9_concat"):
        squeezenet.features(pixels, ["mixed4"])


def test_unknown_layer_lists_valid_names(squeezenet):
    with pytest.raises(errors.LayerNameError) as error:
        squeezenet.extractor(["fire10_concat"])
    message = str(error.value)
    assert "'fire10_concat'" in message and "fire9_concat" in message and "conv1" in message


def test_minimum_size(squeezenet):
    size = squeezenet.min_size
    assert size == 31
    assert tuple(squeezenet.model(tf.zeros((1, size, size, 3))).shape) == (1, 1, 1, 512)
    squeezenet.check_size(size, 500)
    with pytest.raises(errors.ImageTooSmallError, match="at least 31"):
        squeezenet.check_size(size - 1, 500)


@pytest.mark.slow
def test_classic_minimum_size_is_exact(classic):
    size = classic.min_size
    assert min(classic.model(tf.zeros((1, size, size, 3))).shape[1:3]) == 1
    # One pixel less and the last map is empty: depending on the TensorFlow version the
    # layers raise, or return a 0x0 map (TensorFlow 2.21 does the latter).
    try:
        smaller = classic.model(tf.zeros((1, size - 1, size - 1, 3)))
    except (ValueError, tf.errors.OpError):
        return
    assert min(smaller.shape[1:3]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", backbones.BACKBONES)
def test_preprocess_round_trip(name):
    backbone = backbones.load_backbone(name, weights=None)
    pixels = tf.random.stateless_uniform((2, 9, 7, 3), seed=(1, 2), maxval=255.0)
    back = backbone.deprocess(backbone.preprocess(pixels))
    assert float(tf.reduce_max(tf.abs(back - pixels))) < 1e-3
    assert float(tf.reduce_max(tf.abs(backbone.preprocess(pixels) - pixels))) > 1.0  # it does something


def test_caffe_preprocess_values():
    red = tf.constant([[[255.0, 0.0, 0.0]]])
    np.testing.assert_allclose(backbones.caffe_preprocess(red).numpy(),
                               [[[-103.939, -116.779, 255 - 123.68]]], rtol=1e-6)
    np.testing.assert_allclose(backbones.inception_preprocess(red).numpy(), [[[1.0, -1.0, -1.0]]])


@pytest.mark.slow
def test_presets_name_real_layers(squeezenet, classic):
    for backbone in (squeezenet, classic):
        backbone.check_layers(list(backbone.dream_layers) + list(backbone.style_layers)
                              + [backbone.content_layer] + list(backbone.visualize_layers))
        assert all(weight > 0 for weight in backbone.dream_layers.values())


@pytest.mark.slow
def test_classic_presets_match_the_papers():
    inception = backbones.load_backbone("inception_v3", weights=None)
    assert inception.dream_layers == {"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5}
    vgg = backbones.load_backbone("vgg19", weights=None)
    assert vgg.style_layers == tuple(f"block{i}_conv1" for i in range(1, 6))
    assert vgg.content_layer == "block5_conv2"


@pytest.mark.slow
def test_a_second_inception_keeps_the_preset_layer_names():
    # Keras numbers unnamed layers across the session: without care the second copy's first
    # convolution is "conv2d_94", and the "conv2d" style layer of the preset is gone.
    first = backbones.load_backbone("inception_v3", weights=None)
    second = backbones.load_backbone("inception_v3", weights=None)
    assert "conv2d" in second.layer_names and second.layer_names == first.layer_names
    second.check_layers(second.style_layers)
    import keras

    assert keras.layers.Conv2D(1, 1).name not in first.layer_names  # later names stay unique


@pytest.mark.slow
def test_classic_extractor_runs_with_random_weights(classic):
    layer = next(iter(classic.dream_layers))
    out = classic.extractor([layer])(classic.preprocess(tf.zeros((1, 96, 96, 3))))
    assert out[layer].shape[0] == 1 and out[layer].shape[-1] == classic.channels(layer)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="squeezenet, inception_v3, vgg19"):
        backbones.load_backbone("resnet")


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(errors.AssetError) as error:
        backbones.load_backbone("squeezenet")
    assert str(tmp_path / "models" / "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5") \
        in str(error.value)


def test_renaming_to_first_build_names_keeps_the_weights_and_the_order():
    import keras

    def small():
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3)(inputs)
        x = keras.layers.Conv2D(4, 1)(keras.layers.BatchNormalization()(x))
        return keras.Model(inputs, keras.layers.Conv2D(2, 1)(x))

    small()  # a first build takes the names conv2d, conv2d_1, ...
    later = small()
    renamed = backbones._with_fresh_session_names(later)
    names = [layer.name for layer in renamed.layers[1:]]
    assert names == ["conv2d", "batch_normalization", "conv2d_1", "conv2d_2"]
    assert [layer.name for layer in later.layers[1:]] != names  # the original kept its own names
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(renamed(x).numpy(), later(x).numpy())
    assert backbones._with_fresh_session_names(renamed) is renamed  # nothing left to rename
