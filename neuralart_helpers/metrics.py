"""Is the GAN any good? A classifier FID and a class histogram (chapter 05_fashion_mnist_gan).

The Fréchet Inception Distance (Heusel et al. 2017) fits a Gaussian to the
features of real images and one to the features of generated images, and
measures how far apart the two Gaussians are. Papers take the features from
InceptionV3 trained on ImageNet; here they come from a small Fashion-MNIST
classifier trained in seconds (``train_classifier``). The idea is the same, but
the numbers are on another scale: a "classifier FID" is *not* comparable with
the FIDs published in papers, only with other classifier FIDs computed with the
same classifier.

Images are float32 ``(N, 28, 28, 1)`` in ``[-1, 1]`` throughout, like the GAN's.
"""

from __future__ import annotations

import keras
import numpy as np

from neuralart_helpers import data
from neuralart_helpers.errors import NeuralArtError

FEATURE_LAYER = "features"   # name of the classifier's penultimate layer




def classifier_model() -> keras.Model:
    """A small CNN: images ``(N, 28, 28, 1)`` in ``[-1, 1]`` -> 10 class logits.

    Two strided 3x3 convolutions, then a 64-unit dense layer named ``"features"``
    (the space the FID is measured in), then the logits.
    """
    image = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    features = keras.layers.Dense(64, activation="relu", name=FEATURE_LAYER)(x)
    return keras.Model(image, keras.layers.Dense(10, name="logits")(features), name="classifier")


def train_classifier(images, labels, epochs: int = 2, batch_size: int = 128, seed: int = 0,
                     verbose: int = 0) -> keras.Model:
    """Train ``classifier_model`` on labelled images; a few seconds per epoch on a CPU.

    Args:
        images: float32 ``(N, 28, 28, 1)`` in ``[-1, 1]`` (``data.scale_images``).
        labels: integers ``(N,)`` in ``[0, 9]``.
        seed: fixes the initial weights and the shuffling, so the FID scale is reproducible.

    Returns:
        The trained classifier (logits output; see ``feature_extractor``).
    """
    keras.utils.set_random_seed(seed)
    classifier = classifier_model()
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    classifier.fit(np.asarray(images, np.float32), np.asarray(labels, np.int32), epochs=epochs,
                   batch_size=batch_size, shuffle=True, verbose=verbose)
    return classifier


def feature_extractor(classifier: keras.Model) -> keras.Model:
    """The classifier cut at its ``"features"`` layer: images -> ``(N, 64)`` features."""
    return keras.Model(classifier.inputs, classifier.get_layer(FEATURE_LAYER).output,
                       name="classifier_features")


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (float64) of features ``(N, D)``, ``N >= 2``."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise NeuralArtError(f"Need features of shape (N, D) with N >= 2, got {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mean_a, cov_a, mean_b, cov_b) -> float:
    """Fréchet distance between the Gaussians ``N(mean_a, cov_a)`` and ``N(mean_b, cov_b)``.

        d^2 = |mean_a - mean_b|^2 + Tr(cov_a + cov_b - 2 (cov_a cov_b)^(1/2))

    Means are ``(D,)``, covariances ``(D, D)``. Returns ``d^2`` (a float >= 0),
    the quantity called FID when the Gaussians are fitted to network features.
    """
    mean_a, mean_b = np.atleast_1d(mean_a).astype(np.float64), np.atleast_1d(mean_b).astype(np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(np.float64), np.atleast_2d(cov_b).astype(np.float64)
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape or cov_a.shape != (len(mean_a),) * 2:
        raise NeuralArtError(f"Shapes do not match: means {mean_a.shape}, {mean_b.shape}; "
                          f"covariances {cov_a.shape}, {cov_b.shape}.")
    # Tr((cov_a cov_b)^(1/2)) is the sum of the square roots of the eigenvalues of
    # cov_a cov_b, which are real and >= 0 (up to round-off): no matrix square root needed.
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b).real
    trace_root = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root
    return float(max(distance, 0.0))


def classifier_fid(extractor: keras.Model, real_images, fake_images, batch_size: int = 500) -> float:
    """FID between two image sets in the feature space of ``extractor`` (``feature_extractor``).

    Both sets are ``(N, 28, 28, 1)`` in ``[-1, 1]``; use thousands of images on each side
    (the covariance is 64x64), and the same number when comparing runs.
    """
    real = extractor.predict(np.asarray(real_images, np.float32), batch_size=batch_size, verbose=0)
    fake = extractor.predict(np.asarray(fake_images, np.float32), batch_size=batch_size, verbose=0)
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def class_histogram(classifier: keras.Model, images, batch_size: int = 500) -> np.ndarray:
    """Fraction of ``images`` the classifier puts in each of the 10 classes: ``(10,)``, sums to 1.

    For real Fashion-MNIST this is close to 0.1 everywhere; a GAN whose histogram
    has empty classes has lost those modes (mode collapse).
    """
    logits = classifier.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    counts = np.bincount(np.argmax(logits, axis=1), minlength=len(data.CLASS_NAMES))
    return counts / max(len(logits), 1)
