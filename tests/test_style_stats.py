"""What is style? The statistics of style_stats, their MMD readings, and swapping them in."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import backbones, images, style, style_stats
from neuralart_helpers.errors import NeuralArtError


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    return (rng.gamma(1.5, size=(6, 5, 4)).astype(np.float32),   # ReLU-like: positive
            rng.gamma(2.0, size=(6, 5, 4)).astype(np.float32) * 0.7)


def test_the_statistics_match_numpy(features):
    x = features[0].reshape(-1, 4).astype(np.float64)
    np.testing.assert_allclose(style_stats.gram(features[0]), x.T @ x / 30, rtol=1e-5)
    np.testing.assert_allclose(style_stats.gram(features[0][None]),
                               style.gram_matrix(features[0]), rtol=1e-5)
    np.testing.assert_allclose(style_stats.covariance_matrix(features[0]),
                               np.cov(x, rowvar=False, bias=True), rtol=1e-5, atol=1e-6)
    mean_std = style_stats.channel_mean_std(features[0][None])
    np.testing.assert_allclose(mean_std, [x.mean(axis=0), x.std(axis=0)], rtol=1e-5)
    # Gram = covariance + mu mu^T
    np.testing.assert_allclose(style_stats.gram(features[0]),
                               style_stats.covariance_matrix(features[0])
                               + np.outer(x.mean(axis=0), x.mean(axis=0)), rtol=1e-5)


@pytest.mark.parametrize("statistic", style_stats.STATISTICS)
def test_each_loss_is_zero_for_the_same_statistics_and_forgets_the_positions(features, statistic):
    summary = style_stats.statistic_function(statistic)
    x = features[0]
    shuffled = np.random.default_rng(1).permutation(x.reshape(-1, 4)).reshape(x.shape)
    assert float(style.style_layer_loss(summary(x), summary(shuffled))) < 1e-10
    assert float(style.style_layer_loss(summary(x), summary(features[1]))) > 1e-3


def test_mean_std_ignores_what_the_gram_sees(features):
    """Two layers with equal channel means and spreads but opposite correlations."""
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 1)).astype(np.float32)
    a -= a.mean()  # so that a and -a have the same mean
    together = np.concatenate([a, a], axis=1).reshape(20, 20, 2) + 3.0
    opposite = np.concatenate([a, -a], axis=1).reshape(20, 20, 2) + 3.0
    mean_std = style_stats.statistic_function("mean-std")
    assert float(style.style_layer_loss(mean_std(together), mean_std(opposite))) < 1e-10
    for statistic in ("gram", "covariance"):
        summary = style_stats.statistic_function(statistic)
        assert float(style.style_layer_loss(summary(together), summary(opposite))) > 0.1


def test_gram_loss_is_a_quadratic_kernel_mmd_and_the_mean_a_linear_one(features):
    x, y = features
    gram_gap = np.sum(np.square(style_stats.gram(x) - style_stats.gram(y)))
    np.testing.assert_allclose(style_stats.mmd_squared(x, y, "quadratic"), gram_gap, rtol=1e-4)
    mean_gap = np.sum(np.square(x.reshape(-1, 4).mean(0) - y.reshape(-1, 4).mean(0)))
    np.testing.assert_allclose(style_stats.mmd_squared(x, y, "linear"), mean_gap, rtol=1e-4)
    gaussian = float(style_stats.mmd_squared(x, y, "gaussian"))
    assert 0 < gaussian < 2 and float(style_stats.mmd_squared(x, x, "gaussian")) < 1e-6


def test_gatys_normalisation_is_a_quarter_of_the_mean_of_normalised_grams(features):
    x, y = features
    mean_form = style.style_layer_loss(style.gram_matrix(x), style.gram_matrix(y))
    np.testing.assert_allclose(4 * style.gatys_style_layer_loss(x, y), mean_form, rtol=1e-5)


def test_unknown_names_are_clear_errors(features):
    with pytest.raises(NeuralArtError, match="Unknown style statistic 'moments'"):
        style_stats.statistic_function("moments")
    with pytest.raises(NeuralArtError, match="Unknown kernel 'cubic'"):
        style_stats.mmd_squared(*features, kernel="cubic")


def test_a_statistic_swaps_into_style_transfer():
    squeezenet = backbones.load_backbone("squeezenet")
    photo = images.content_photo("chelsea", max_dim=64)
    painting = images.painting("starry_night", max_dim=96)
    default = style.StyleTransfer(squeezenet, photo, painting)
    named = style.StyleTransfer(squeezenet, photo, painting, statistic="gram")
    start = tf.constant(photo)
    assert float(default.losses(start)["style"]) == float(named.losses(start)["style"])
    mine = style.StyleTransfer(squeezenet, photo, painting,
                               statistic=lambda a: style_stats.channel_mean_std(a) * 2.0)
    library = style.StyleTransfer(squeezenet, photo, painting, statistic="mean-std")
    np.testing.assert_allclose(mine.losses(start)["style"], 4 * library.losses(start)["style"],
                               rtol=1e-4)  # twice the statistic: four times the squared loss
    result = library.run("noise", "lbfgs", 30, verbose=False)  # texture from noise
    assert min(result.losses["style"]) < 0.5 * result.losses["style"][0], result.losses["style"]
