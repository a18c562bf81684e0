"""What is "style"? Statistics of a layer's activations that forget where things are.

Chapter 04 (``notebooks/04_style_transfer.ipynb``, section "What is style?") puts four
views side by side. Each statistic summarises activations ``F`` of shape
``(h, w, C)`` (or ``(1, h, w, C)``), seen as ``M = h * w`` points in ``R^C``, by
numbers that do not depend on the order of the positions:

* ``"gram"``: ``G = F^T F / M``, ``(C, C)`` (Gatys et al. 2016; ``style.gram_matrix``);
* ``"covariance"``: ``G - mu mu^T``, ``(C, C)``: the co-variation without the means;
* ``"mean-std"``: the per-channel mean and standard deviation, ``(2, C)``: the
  statistic that adaptive instance normalisation (AdaIN, Huang and Belongie 2017)
  transfers, with no interaction between channels at all.

Matching any of them is ``style.style_layer_loss``, the mean squared difference. Li
et al. (2017, "Demystifying neural style transfer") read the Gram loss as a
**maximum mean discrepancy** (MMD) between the two sets of points: with the kernel
``k(x, y) = (x . y)^2``, ``MMD^2 = ||G_x - G_y||_F^2`` exactly, and with the linear
kernel ``x . y`` it is ``||mu_x - mu_y||^2``; :func:`mmd_squared` computes it from the
points, to check both identities.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from neuralart_helpers.errors import NeuralArtError

STATISTICS = ("gram", "covariance", "mean-std")
KERNELS = ("quadratic", "linear", "gaussian")


def _points(features) -> tf.Tensor:
    """Activations ``(h, w, C)`` or ``(1, h, w, C)`` as float32 points ``(M, C)``."""
    features = tf.convert_to_tensor(features, tf.float32)
    return tf.reshape(features, (-1, features.shape[-1]))


def channel_mean_std(features) -> tf.Tensor:
    """Per-channel mean and standard deviation over positions: ``(2, C)``, rows mu and sigma.

    The standard deviation is the population one (divided by ``M``), with ``1e-8`` added
    under the square root so that its gradient stays finite for a constant channel.
    """
    points = _points(features)
    mean = tf.reduce_mean(points, axis=0)
    variance = tf.reduce_mean(tf.square(points - mean), axis=0)
    return tf.stack([mean, tf.sqrt(variance + 1e-8)])


def covariance_matrix(features) -> tf.Tensor:
    """``(C, C)`` covariance of the channels over positions: ``F^T F / M - mu mu^T``."""
    points = _points(features)
    centred = points - tf.reduce_mean(points, axis=0)
    return tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(points)[0], tf.float32)


def gram(features) -> tf.Tensor:
    """``(C, C)`` Gram matrix ``F^T F / M`` (the same as ``style.gram_matrix``, one image)."""
    points = _points(features)
    return tf.matmul(points, points, transpose_a=True) / tf.cast(tf.shape(points)[0], tf.float32)


def gatys_style_layer_loss(features, target_features) -> tf.Tensor:
    """Gatys et al.'s per-layer style loss on raw Grams: ``sum((G - A)**2) / (4 C**2 M**2)``.

    ``C`` is the number of channels and ``M = h * w`` the number of positions of
    ``features`` (``(h, w, C)``, same shape as ``target_features``). It is
    ``style.style_layer_loss`` of location-normalised Grams divided by 4 (chapter 04,
    section 4), so the two differ only by a constant folded into the layer weights.
    """
    x, y = _points(features), _points(target_features)
    channels, locations = float(x.shape[1]), tf.cast(tf.shape(x)[0], tf.float32)
    difference = tf.matmul(x, x, transpose_a=True) - tf.matmul(y, y, transpose_a=True)
    return tf.reduce_sum(tf.square(difference)) / (4.0 * channels**2 * locations**2)


def statistic_function(statistic: str | Callable) -> Callable:
    """The function for a name of ``STATISTICS``, or ``statistic`` itself if it is callable.

    A callable takes activations ``(h, w, C)`` or ``(1, h, w, C)`` and returns a tensor
    of a fixed shape made of TensorFlow operations (so that gradients flow through it).

    Raises:
        NeuralArtError: an unknown name.
    """
    if callable(statistic):
        return statistic
    functions = {"gram": gram, "covariance": covariance_matrix, "mean-std": channel_mean_std}
    if statistic not in functions:
        raise NeuralArtError(f"Unknown style statistic {statistic!r}; use one of {STATISTICS} "
                             f"or a function of the activations.")
    return functions[statistic]


def mmd_squared(features_x, features_y, kernel: str = "quadratic",
                bandwidth: float | None = None) -> tf.Tensor:
    """Squared maximum mean discrepancy between two sets of activation vectors.

    ``MMD^2 = mean k(x_i, x_j) + mean k(y_i, y_j) - 2 mean k(x_i, y_j)`` over all pairs,
    with ``k`` ``"quadratic"`` ``(x . y)^2``, ``"linear"`` ``x . y`` or ``"gaussian"``
    ``exp(-|x - y|^2 / (2 bandwidth^2))`` (default bandwidth: the root mean square
    distance between the two sets). It forms ``M x M`` kernel matrices: keep ``M``
    to a few thousand positions.

    Args:
        features_x, features_y: activations ``(h, w, C)`` or ``(1, h, w, C)``, same ``C``.

    Returns:
        A float32 scalar ``>= 0`` (up to rounding).
    """
    x, y = _points(features_x), _points(features_y)
    if kernel not in KERNELS:
        raise NeuralArtError(f"Unknown kernel {kernel!r}; use one of {KERNELS}.")
    if kernel == "gaussian":
        if bandwidth is None:
            bandwidth = tf.sqrt(tf.reduce_mean(_squared_distances(x, y)))
        k = lambda a, b: tf.exp(-_squared_distances(a, b) / (2.0 * bandwidth**2))  # noqa: E731
    else:
        power = 2.0 if kernel == "quadratic" else 1.0
        k = lambda a, b: tf.pow(tf.matmul(a, b, transpose_b=True), power)  # noqa: E731
    return tf.reduce_mean(k(x, x)) + tf.reduce_mean(k(y, y)) - 2.0 * tf.reduce_mean(k(x, y))


def _squared_distances(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """``|a_i - b_j|^2`` for all pairs: ``(len(a), len(b))``."""
    return (tf.reduce_sum(a * a, axis=1)[:, None] + tf.reduce_sum(b * b, axis=1)[None, :]
            - 2.0 * tf.matmul(a, b, transpose_b=True))
