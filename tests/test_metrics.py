"""Classifier FID and class histogram: the numbers that say whether a GAN is any good."""

import numpy as np
import pytest
import scipy.linalg

from neuralart_helpers import data, metrics
from neuralart_helpers import errors


@pytest.fixture(scope="module")
def fashion():
    train_images, train_labels = data.load_fashion_mnist("train")
    test_images, test_labels = data.load_fashion_mnist("test")
    return (data.scale_images(train_images[:6000]), train_labels[:6000],
            data.scale_images(test_images), test_labels)


@pytest.fixture(scope="module")
def classifier(fashion):
    train_images, train_labels, _, _ = fashion
    return metrics.train_classifier(train_images, train_labels, epochs=2, seed=0)


def test_frechet_distance_of_one_dimensional_gaussians():
    # For 1-D Gaussians the distance is (m_a - m_b)^2 + (s_a - s_b)^2.
    assert metrics.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(5.0)
    assert metrics.frechet_distance([2.0], [[1.0]], [2.0], [[1.0]]) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_matches_the_matrix_square_root_formula():
    rng = np.random.default_rng(0)
    for dim in (3, 16):
        a, b = rng.normal(size=(dim, dim)), rng.normal(size=(dim, 2 * dim))
        cov_a, cov_b = a @ a.T, b @ b.T / 2
        mean_a, mean_b = rng.normal(size=dim), rng.normal(size=dim)
        expected = (np.sum((mean_a - mean_b) ** 2)
                    + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real))
        value = metrics.frechet_distance(mean_a, cov_a, mean_b, cov_b)
        assert value == pytest.approx(expected, rel=1e-7)
        assert value == pytest.approx(metrics.frechet_distance(mean_b, cov_b, mean_a, cov_a))


def test_frechet_distance_handles_singular_covariances_and_bad_shapes():
    singular = np.diag([1.0, 0.0, 0.0])
    assert metrics.frechet_distance(np.zeros(3), singular, np.zeros(3), singular) == \
        pytest.approx(0.0, abs=1e-9)
    with pytest.raises(errors.NeuralArtError, match="Shapes"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(errors.NeuralArtError, match="N >= 2"):
        metrics.feature_statistics(np.zeros((1, 4)))


def test_feature_statistics():
    features = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mean, cov = metrics.feature_statistics(features)
    np.testing.assert_allclose(mean, [2.0, 2.0])
    np.testing.assert_allclose(cov, [[4.0, 3.0], [3.0, 3.0]])


@pytest.mark.slow
def test_classifier_learns_fashion_mnist(classifier, fashion):
    _, _, test_images, test_labels = fashion
    predictions = np.argmax(classifier.predict(test_images, verbose=0), axis=1)
    assert np.mean(predictions == test_labels) > 0.75
    features = metrics.feature_extractor(classifier).predict(test_images[:10], verbose=0)
    assert features.shape == (10, 64)


@pytest.mark.slow
def test_fid_of_real_against_real_is_near_zero_and_against_noise_large(classifier, fashion):
    train_images, _, test_images, _ = fashion
    extractor = metrics.feature_extractor(classifier)
    real_vs_real = metrics.classifier_fid(extractor, test_images[:5000], test_images[5000:])
    noise = np.random.default_rng(0).uniform(-1, 1, size=(5000, 28, 28, 1)).astype(np.float32)
    real_vs_noise = metrics.classifier_fid(extractor, test_images[:5000], noise)
    print(f"FID real/real {real_vs_real:.3f}, real/noise {real_vs_noise:.1f}")
    assert real_vs_real < 1.0
    assert real_vs_noise > 100 * real_vs_real and real_vs_noise > 20
    # Blurred images are in between: the FID orders image sets by quality.
    blurred = (test_images[5000:] + np.roll(test_images[5000:], 2, axis=1)
               + np.roll(test_images[5000:], 2, axis=2)) / 3
    real_vs_blurred = metrics.classifier_fid(extractor, test_images[:5000], blurred)
    assert real_vs_real < real_vs_blurred < real_vs_noise


def test_class_histogram_is_uniform_for_real_data_and_shows_missing_classes(classifier, fashion):
    _, _, test_images, test_labels = fashion
    histogram = metrics.class_histogram(classifier, test_images)
    assert histogram.shape == (10,) and histogram.sum() == pytest.approx(1.0)
    print("real histogram", np.round(histogram, 3))
    assert np.max(np.abs(histogram - 0.1)) < 0.07
    # A "collapsed" generator that only draws trousers and bags.
    collapsed = test_images[(test_labels == 1) | (test_labels == 8)]
    histogram = metrics.class_histogram(classifier, collapsed)
    assert histogram[1] + histogram[8] > 0.9 and np.sum(histogram < 0.02) >= 7


class FixedLogits:
    """A stand-in classifier whose predict returns the same logits whatever the images."""

    def __init__(self, probabilities):
        self.logits = np.log(np.asarray(probabilities, np.float32))

    def predict(self, images, batch_size=None, verbose=0):
        return self.logits


def test_confident_share_counts_the_images_above_the_threshold():
    rest = lambda p: [p] + [(1 - p) / 9] * 9  # noqa: E731
    classifier = FixedLogits([rest(0.99), rest(0.91), rest(0.89), rest(0.5), rest(0.1)])
    images = np.zeros((5, 28, 28, 1), np.float32)
    assert metrics.confident_share(classifier, images) == pytest.approx(2 / 5)
    assert metrics.confident_share(classifier, images, threshold=0.6) == pytest.approx(3 / 5)
    assert metrics.confident_share(classifier, images, threshold=0.995) == 0.0


# --- periodic energy: checkerboards and stripes at every multiple of pi/2 ------------------

ROWS, COLUMNS = np.meshgrid(np.arange(28), np.arange(28), indexing="ij")
CHECKERBOARD = (-1.0) ** (ROWS + COLUMNS)               # (pi, pi)
ROW_STRIPES = (-1.0) ** ROWS                            # (pi, 0): rows alternate
COLUMN_STRIPES = (-1.0) ** COLUMNS                      # (0, pi)
ROWS_BY_TWO = np.where(ROWS % 4 < 2, 1.0, -1.0)         # (pi/2, 0): rows + + - -


@pytest.mark.parametrize("pattern, key", [(CHECKERBOARD, "(π, π)"), (ROW_STRIPES, "(π, 0)"),
                                          (COLUMN_STRIPES, "(0, π)"), (ROWS_BY_TWO, "(π/2, 0)"),
                                          (ROWS_BY_TWO.T, "(0, π/2)"),
                                          (ROWS_BY_TWO * ROWS_BY_TWO.T, "(π/2, π/2)")])
def test_a_pure_pattern_puts_all_its_energy_at_its_frequency(pattern, key):
    # On an offset and scaled to the GAN's range: the mean and the scale do not count.
    energy = metrics.periodic_energy((0.3 + 0.5 * pattern)[None, :, :, None])
    assert set(energy) == {*metrics.PERIODIC_FREQUENCIES, "total"}
    assert energy[key] == pytest.approx(1.0, abs=1e-12)
    assert energy["total"] == pytest.approx(1.0, abs=1e-12)
    assert sum(value for name, value in energy.items() if name not in (key, "total")) == \
        pytest.approx(0.0, abs=1e-12)


def test_a_mixture_splits_its_energy_by_squared_amplitudes_averaged_over_images():
    # Orthogonal +-1 patterns: amplitudes 3, 4 and 12 carry energies 9 : 16 : 144.
    mixture = 3 * CHECKERBOARD + 4 * ROW_STRIPES + 12 * ROWS_BY_TWO.T + 7.0
    energy = metrics.periodic_energy(mixture[None])
    assert energy["(π, π)"] == pytest.approx(9 / 169, abs=1e-12)
    assert energy["(π, 0)"] == pytest.approx(16 / 169, abs=1e-12)
    assert energy["(0, π/2)"] == pytest.approx(144 / 169, abs=1e-12)
    assert energy["(π/2, 0)"] == pytest.approx(0.0, abs=1e-12)
    # Two images: each image's shares, averaged (a faint image weighs as much as a bright one).
    energy = metrics.periodic_energy(np.stack([mixture, 0.01 * CHECKERBOARD]))
    assert energy["(π, π)"] == pytest.approx((9 / 169 + 1) / 2, abs=1e-12)
    assert energy["total"] == pytest.approx(1.0, abs=1e-12)


def test_periodic_energy_of_random_images_matches_direct_formulas():
    image = np.random.default_rng(0).normal(size=(28, 28))
    energy = metrics.periodic_energy(image[None, :, :, None])
    centred = image - image.mean()
    # (pi, pi): the squared correlation with the checkerboard over 28 * 28 times the energy.
    assert energy["(π, π)"] == pytest.approx(
        np.sum(CHECKERBOARD * centred) ** 2 / (784 * np.sum(centred ** 2)), rel=1e-9)
    # total: the energy of the mean 4x4 tile, repeated over the 7x7 tile positions.
    tile = centred.reshape(7, 4, 7, 4).mean(axis=(0, 2))
    assert energy["total"] == pytest.approx(49 * np.sum(tile ** 2) / np.sum(centred ** 2),
                                            rel=1e-9)
    assert energy["total"] == pytest.approx(sum(energy[key] for key in
                                                metrics.PERIODIC_FREQUENCIES), rel=1e-12)
    # White noise: each frequency holds 1 / 783 of the energy on average; 15 frequencies in all.
    noise = np.random.default_rng(1).normal(size=(2000, 28, 28))
    energy = metrics.periodic_energy(noise)
    assert energy["(π, π)"] == pytest.approx(1 / 783, rel=0.1)
    assert energy["(π/2, π/2)"] == pytest.approx(4 / 783, rel=0.1)
    assert energy["total"] == pytest.approx(15 / 783, rel=0.05)


def test_mean_power_spectrum_is_centred_and_sums_to_one_per_image():
    images = np.random.default_rng(2).uniform(-1, 1, size=(3, 28, 28, 1))
    images[2] = 0.5  # a constant image adds zeros
    spectrum = metrics.mean_power_spectrum(images)
    assert spectrum.shape == (28, 28)
    assert spectrum.sum() == pytest.approx(2 / 3, rel=1e-12)
    assert spectrum[14, 14] == pytest.approx(0.0, abs=1e-15)  # each mean removed
    np.testing.assert_allclose(spectrum[1:, 1:], spectrum[1:, 1:][::-1, ::-1], atol=1e-15)
    assert metrics.mean_power_spectrum(CHECKERBOARD[None])[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert metrics.mean_power_spectrum(ROWS_BY_TWO[None])[[7, 21], 14].tolist() == \
        pytest.approx([0.5, 0.5], abs=1e-12)


def test_periodic_energy_refuses_sizes_that_are_not_multiples_of_four_and_single_images():
    with pytest.raises(errors.NeuralArtError, match="multiples of 4.*30x28"):
        metrics.periodic_energy(np.zeros((1, 30, 28)))
    with pytest.raises(errors.NeuralArtError, match=r"images\[None\]"):
        metrics.periodic_energy(CHECKERBOARD)
