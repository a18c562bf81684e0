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


def confident_share(classifier: keras.Model, images, threshold: float = 0.9,
                    batch_size: int = 500) -> float:
    """The share of ``images`` the classifier puts in one class with probability >= ``threshold``.

    A generator's share is read against real images' (about 0.6 with the one-epoch classifier
    of chapters 05 and 06): a sharper classifier is sure of more of everything.
    """
    logits = classifier.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    return float(np.mean(probabilities.max(axis=1) >= threshold))


def class_agreement(classifier: keras.Model, images, labels, batch_size: int = 500) -> np.ndarray:
    """For each class ``c``, the share of the images labelled ``c`` that the classifier calls ``c``.

    Args:
        images: float32 ``(N, 28, 28, 1)`` in ``[-1, 1]``.
        labels: ints ``(N,)``: the class each image was asked for (a conditional
            generator's samples) or its true class (real images: then the result is
            the classifier's accuracy per class).

    Returns:
        ``(10,)`` in ``[0, 1]``, NaN for a class with no image.
    """
    logits = classifier.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    predicted, labels = np.argmax(logits, axis=1), np.asarray(labels)
    return np.array([np.mean(predicted[labels == c] == c) if np.any(labels == c) else np.nan
                     for c in range(len(data.CLASS_NAMES))])


# --- Section 8: checkerboards and stripes, measured in the frequency domain --------------

# Where a stride-2 upsampling leaves its artefacts: every multiple of pi/2 in each axis,
# named "(vertical, horizontal)" in radians per pixel, with the index of each frequency
# in quarters of the spectrum: 2 = pi (period 2 pixels), 1 = pi/2 (period 4), 0 = constant.
PERIODIC_FREQUENCIES = {"(π, π)": (2, 2), "(π, 0)": (2, 0), "(0, π)": (0, 2),
                        "(π/2, 0)": (1, 0), "(0, π/2)": (0, 1), "(π/2, π/2)": (1, 1),
                        "(π/2, π)": (1, 2), "(π, π/2)": (2, 1)}


def _grey_batch(images) -> np.ndarray:
    """Images ``(N, H, W)`` or ``(N, H, W, 1)`` as float64 ``(N, H, W)``."""
    pixels = np.asarray(images, dtype=np.float64)
    if pixels.ndim == 4 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim != 3 or len(pixels) == 0:
        raise NeuralArtError(f"Expected a batch of grey images (N, H, W) or (N, H, W, 1) with "
                             f"N >= 1, got shape {np.shape(images)}; add a batch axis to one "
                             f"image with images[None].")
    return pixels


def mean_power_spectrum(images) -> np.ndarray:
    """Where the images' energy lies in frequency: float64 ``(H, W)``, each image's share, averaged.

    Each image loses its mean; its power ``|FFT|**2`` is divided by its sum, so every
    image's spectrum sums to 1 and a faint image weighs as much as a bright one (a
    constant image adds zeros); then the spectra are averaged over the batch. Zero
    frequency is at the centre, ``[H // 2, W // 2]`` (``np.fft.fftshift``): row ``r``
    is the vertical frequency ``2π (r - H // 2) / H`` radians per pixel and column
    ``c`` the horizontal one, so for even sizes ``[0, 0]`` is ``(π, π)``, the
    checkerboard. Compare generated with real images on a log scale,
    ``np.log10(mean_power_spectrum(images))``.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, 1)``, any range (``[-1, 1]`` or pixels).
    """
    pixels = _grey_batch(images)
    shares = np.zeros(pixels.shape[1:])
    for start in range(0, len(pixels), 1000):  # in chunks, to bound memory
        chunk = pixels[start:start + 1000]
        power = np.abs(np.fft.fft2(chunk - chunk.mean(axis=(1, 2), keepdims=True))) ** 2
        total = power.sum(axis=(1, 2), keepdims=True)
        shares += np.divide(power, total, out=np.zeros_like(power), where=total > 0).sum(axis=0)
    return np.fft.fftshift(shares / len(pixels))


def periodic_energy(images) -> dict[str, float]:
    """Share of the images' energy at every multiple of π/2 in each axis, and their ``"total"``.

    A stride-2 upsampling layer that treats even and odd output pixels differently
    draws patterns of period 2 (frequency π); two of them in a row, period 4 (π/2).
    The keys, ``PERIODIC_FREQUENCIES``, are ``"(vertical, horizontal)"`` frequencies:
    ``"(π, π)"`` is the checkerboard ``(-1)**(i + j)``, ``"(π, 0)"`` rows alternating
    (horizontal stripes), ``"(0, π)"`` vertical stripes, ``"(π/2, 0)"`` rows going
    ``+ + - -``, and so on. Each key holds both signs of its frequencies (so
    ``"(π/2, π/2)"`` both diagonals). ``"total"``, their sum, is the share of the
    energy in the part of the image that repeats every 4 pixels both ways.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, 1)``, any range; ``H`` and ``W`` multiples of 4.

    Returns:
        ``{key: share}``, nine floats in ``[0, 1]``, the shares of ``mean_power_spectrum``
        (each image's, averaged). A pure pattern gives 1 at its key; white noise about
        ``bins / (H W)`` (1 bin at ``(π, π)``, 2 at ``(π/2, 0)``, 4 at ``(π/2, π/2)``).
    """
    height, width = _grey_batch(images).shape[1:]
    if height % 4 or width % 4:
        raise NeuralArtError(f"periodic_energy needs heights and widths that are multiples of 4 "
                             f"(π/2 is then a frequency of the grid), got {height}x{width}; "
                             f"crop the images.")
    spectrum = np.fft.ifftshift(mean_power_spectrum(images))  # zero frequency back at [0, 0]

    def indices(quarters: int, size: int) -> list[int]:  # +- the frequency, as FFT indices
        return sorted({quarters * size // 4, -quarters * size // 4 % size})

    energy = {name: float(spectrum[np.ix_(indices(ky, height), indices(kx, width))].sum())
              for name, (ky, kx) in PERIODIC_FREQUENCIES.items()}
    return {**energy, "total": float(sum(energy.values()))}
