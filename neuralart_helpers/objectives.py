"""What to maximise: objectives for feature visualisation (chapter 01, section 1 and 5).

An :class:`Objective` wraps a function of the layer activations,
``{layer_name: (B, h, w, C) tensor} -> scalar``, and knows which layers it
reads, so the render loop can build one feature extractor for all of them.
Objectives compose like numbers, in the manner of Lucid::

    objective = channel("fire5_concat", 3) + 0.5 * layer_l2("fire3_concat")
    objective = sum(channel("fire8_concat", c, batch=i) for i, c in enumerate(channels))

The render loop *maximises* the objective. Values are plain scalar tensors;
nothing here reads a global (the backbone, the image size or a weight).

Range convention: objectives read activations (any real values, ``>= 0`` after
a ReLU); they never see pixels.
"""

from __future__ import annotations

from numbers import Real
from typing import Callable, Mapping, Sequence

import tensorflow as tf

Activations = Mapping[str, tf.Tensor]


class Objective:
    """A scalar function of named layer activations that the render loop maximises.

    Args:
        function: ``{layer: (B, h, w, C) activations} -> scalar tensor``.
        layers: the layer names ``function`` reads.
        name: a short label for titles and progress bars.
        channels: ``(layer, index)`` pairs the function reads, so a render
            loop can check each index against the layer's channel count.

    ``a + b``, ``a - b``, ``-a``, ``2.0 * a`` and ``sum([a, b, c])`` give new
    objectives whose layers are the union of their parts' layers.
    """

    def __init__(self, function: Callable[[Activations], tf.Tensor], layers: Sequence[str],
                 name: str = "objective", channels: Sequence[tuple[str, int]] = ()):
        self.function = function
        self.layers = tuple(dict.fromkeys(layers))  # unique, order kept
        self.name = name
        self.channels = tuple(dict.fromkeys(channels))

    def __call__(self, activations: Activations) -> tf.Tensor:
        return self.function(activations)

    def __repr__(self) -> str:
        return f"Objective({self.name}, layers={list(self.layers)})"

    def __add__(self, other: "Objective | Real") -> "Objective":
        if isinstance(other, Real) and other == 0:  # sum() starts from 0
            return self
        if isinstance(other, Real):  # a constant moves the value, not the gradient
            return Objective(lambda acts: self(acts) + float(other), self.layers,
                             f"{self.name} + {other}", self.channels)
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(lambda acts: self(acts) + other(acts), self.layers + other.layers,
                         f"{self.name} + {other.name}", self.channels + other.channels)

    __radd__ = __add__

    def __mul__(self, weight: Real) -> "Objective":
        if not isinstance(weight, Real):
            return NotImplemented  # the product of two objectives is not a weighted sum
        return Objective(lambda acts: float(weight) * self(acts), self.layers,
                         f"{weight:g} * {self.name}", self.channels)

    __rmul__ = __mul__

    def __neg__(self) -> "Objective":
        return -1.0 * self

    def __sub__(self, other: "Objective | Real") -> "Objective":
        return self + (-other)

    def __rsub__(self, other: Real) -> "Objective":
        return (-self) + other

    def __truediv__(self, divisor: Real) -> "Objective":
        if not isinstance(divisor, Real):
            return NotImplemented
        return self * (1.0 / float(divisor))


def _select_batch(activations: tf.Tensor, batch: int | None) -> tf.Tensor:
    """``(B, h, w, C)`` -> the same, or ``(1, h, w, C)`` for one batch item."""
    return activations if batch is None else activations[batch:batch + 1]


def channel(layer: str, index: int, batch: int | None = None) -> Objective:
    """Mean activation of channel ``index`` of ``layer``: what feature visualisation maximises.

    $$\\mathcal{L}(x) = \\frac{1}{hw} \\sum_{i,j} a_{ij,c}(x)$$

    Args:
        layer: a layer name of the backbone.
        index: the channel, ``0 <= index < channels``.
        batch: if given, only that image of the batch (to render several
            channels at once, one per image); else the mean over the batch.
    """
    def mean_activation(activations: Activations) -> tf.Tensor:
        return tf.reduce_mean(_select_batch(activations[layer], batch)[..., index])

    suffix = "" if batch is None else f"[{batch}]"
    return Objective(mean_activation, [layer], f"{layer}:{index}{suffix}", [(layer, index)])


def neuron(layer: str, index: int, row: int | None = None, column: int | None = None,
           batch: int | None = None) -> Objective:
    """Activation of one unit of channel ``index``: the one at ``(row, column)``, default the centre.

    A neuron sees only its receptive field, so the pattern appears once, in the
    middle of the image, instead of tiling it as :func:`channel` does.
    """
    def unit_activation(activations: Activations) -> tf.Tensor:
        values = _select_batch(activations[layer], batch)[..., index]  # (B, h, w)
        shape = tf.shape(values)
        y = shape[1] // 2 if row is None else row
        x = shape[2] // 2 if column is None else column
        return tf.reduce_mean(values[:, y, x])

    return Objective(unit_activation, [layer], f"{layer}:{index}@neuron", [(layer, index)])


def layer_l2(layer: str, batch: int | None = None) -> Objective:
    """Mean square activation of a whole layer, ``mean(a**2)``: all channels (DeepDream's loss).

    Squaring rewards strong activations of either sign, so whatever the layer
    already sees in the image gets amplified.
    """
    def mean_square(activations: Activations) -> tf.Tensor:
        return tf.reduce_mean(tf.square(_select_batch(activations[layer], batch)))

    return Objective(mean_square, [layer], f"L2({layer})")


def gram_similarity(activations: tf.Tensor) -> tf.Tensor:
    """Mean cosine similarity between the Gram matrices of every pair of images in a batch.

    Args:
        activations: ``(B, h, w, C)`` with ``B >= 2``.

    Returns:
        A scalar in ``[-1, 1]`` (in ``[0, 1]`` after a ReLU): 1 when all images
        have the same channel correlations ("style"), lower when they differ.
    """
    batch_size = tf.shape(activations)[0]
    flat = tf.reshape(activations, [batch_size, -1, tf.shape(activations)[-1]])  # (B, hw, C)
    grams = tf.matmul(flat, flat, transpose_a=True)  # (B, C, C)
    grams = tf.math.l2_normalize(tf.reshape(grams, [batch_size, -1]), axis=1)  # (B, C*C)
    similarity = tf.matmul(grams, grams, transpose_b=True)  # (B, B) cosine similarities
    pairs = tf.cast(batch_size * (batch_size - 1), similarity.dtype)
    return (tf.reduce_sum(similarity) - tf.linalg.trace(similarity)) / pairs


def diversity(layer: str) -> Objective:
    """Minus the mean Gram-matrix similarity of the images in a batch (Olah et al. 2017).

    Add it, weighted, to a channel objective rendered with a batch of several
    images: maximising it pushes the images apart, so each shows a different
    facet of what the channel responds to. Needs a batch of at least 2.
    """
    return Objective(lambda activations: -gram_similarity(activations[layer]), [layer],
                     f"diversity({layer})")
