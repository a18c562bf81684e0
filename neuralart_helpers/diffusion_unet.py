"""The denoising network of chapter 06_diffusion: a small U-Net that sees the noise level.

Ho et al. (2020) denoise with a U-Net (Ronneberger et al. 2015): an encoder that halves the
image twice (28 -> 14 -> 7), a decoder that doubles it back, and skip connections that hand
each decoder level the encoder's features at the same size. Every residual block also
receives the *time*, the noise level ``t`` in ``[0, 1]``, as a sinusoidal embedding
(Vaswani et al. 2017), and, for a conditional model, a learnt embedding of the class. Class
``NULL_CLASS`` (10) means "no class": the model trained with labels dropped to it now and then
also predicts unconditionally, which classifier-free guidance needs (Ho and Salimans 2022).

Shapes: images float32 ``(B, 28, 28, 1)`` (noisy, any range), times float32 ``(B,)`` in
``[0, 1]``, labels int32 ``(B,)`` in ``0..10``; the output has the images' shape.
``neuralart_helpers.diffusion`` re-exports ``unet`` and ``time_embedding``.
"""

from __future__ import annotations

import math

import keras

from neuralart_helpers import data, presets
from neuralart_helpers.errors import NeuralArtError

NUM_CLASSES = len(data.CLASS_NAMES)  # 0 (T-shirt/top) ... 9 (ankle boot)
NULL_CLASS = NUM_CLASSES             # label 10: "no class", for classifier-free guidance
WIDTHS = presets.DIFFUSION_NETWORK["widths"]   # channels at 28, 14 and 7 pixels
GROUPS = presets.DIFFUSION_NETWORK["groups"]   # GroupNormalization groups in every block
TIME_SCALE = 1000.0  # t in [0, 1] is embedded as t * 1000, the step number of Ho et al. (T = 1000)


def time_embedding(times, dim: int):
    """Sinusoidal embedding of ``times`` ``(B,)`` in ``[0, 1]``: float32 ``(B, dim)`` in ``[-1, 1]``.

    Half the columns are ``sin(1000 t f_k)``, half ``cos(1000 t f_k)``, with frequencies
    ``f_k = 10000 ** (-k / (dim / 2))`` from 1 down to 1/10000 (the Transformer's encoding
    of positions, here of noise levels): nearby times get nearby vectors, and every scale
    of change in ``t`` moves some columns.
    """
    if dim % 2:
        raise NeuralArtError(f"time_embedding needs an even dim, got {dim}.")
    half = dim // 2
    frequencies = keras.ops.exp(-math.log(10000.0) * keras.ops.arange(half, dtype="float32") / half)
    angles = keras.ops.cast(times, "float32")[:, None] * TIME_SCALE * frequencies[None, :]
    return keras.ops.concatenate([keras.ops.sin(angles), keras.ops.cos(angles)], axis=-1)


class TimeEmbedding(keras.layers.Layer):
    """A layer computing ``time_embedding(times, dim)``: ``(B,)`` -> ``(B, dim)``, no weights."""

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)

    def call(self, times):
        return time_embedding(times, self.dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim}


def residual_block(x, embedding, filters: int, groups: int = GROUPS):
    """``x + F(x, embedding)``: GroupNorm, SiLU, 3x3 conv, add the projected embedding, again.

    ``x`` is ``(B, H, W, C)``, ``embedding`` ``(B, E)``; returns ``(B, H, W, filters)``. A 1x1
    convolution matches the shortcut's channels when ``C != filters``.
    """
    shortcut = x if x.shape[-1] == filters else keras.layers.Conv2D(filters, 1)(x)
    h = keras.layers.Activation("silu")(keras.layers.GroupNormalization(groups)(x))
    h = keras.layers.Conv2D(filters, 3, padding="same")(h)
    shift = keras.layers.Dense(filters)(keras.layers.Activation("silu")(embedding))
    h = keras.layers.Add()([h, keras.layers.Reshape((1, 1, filters))(shift)])
    h = keras.layers.Activation("silu")(keras.layers.GroupNormalization(groups)(h))
    h = keras.layers.Conv2D(filters, 3, padding="same")(h)
    return keras.layers.Add()([shortcut, h])


def _embedding(times, labels, dim: int):
    """The block's conditioning ``(B, dim)``: an MLP of the time embedding, plus the class's vector."""
    vector = TimeEmbedding(dim, name="time_sinusoids")(times)
    vector = keras.layers.Dense(dim, activation="silu")(vector)
    vector = keras.layers.Dense(dim)(vector)
    if labels is None:
        return vector
    classes = keras.layers.Embedding(NUM_CLASSES + 1, dim, name="class_vectors")(labels)
    return keras.layers.Add()([vector, classes])


def unet(widths: tuple[int, int, int] = WIDTHS, conditional: bool = False,
         groups: int = GROUPS) -> keras.Model:
    """``[images, times]`` (or ``[images, times, labels]``) -> ``(B, 28, 28, 1)``.

    One residual block per level, ``widths`` channels at 28, 14 and 7 pixels (each a
    multiple of ``groups``); strided 3x3 convolutions go down, nearest-neighbour upsampling
    and a 3x3 convolution come up, and each decoder level concatenates the encoder's
    features of its size. The last convolution starts at zero, so the untrained network
    predicts 0 (the mean of the noise it learns to predict).
    """
    if any(width % groups for width in widths):
        raise NeuralArtError(f"Every width must divide by the {groups} groups of "
                             f"GroupNormalization, got {tuple(widths)}.")
    images = keras.Input((28, 28, 1), name="images")
    times = keras.Input((), name="times")
    labels = keras.Input((), dtype="int32", name="labels") if conditional else None
    embedding = _embedding(times, labels, 2 * widths[0])
    x28 = residual_block(keras.layers.Conv2D(widths[0], 3, padding="same")(images), embedding,
                         widths[0], groups)
    x14 = residual_block(keras.layers.Conv2D(widths[1], 3, strides=2, padding="same")(x28),
                         embedding, widths[1], groups)
    x7 = residual_block(keras.layers.Conv2D(widths[2], 3, strides=2, padding="same")(x14),
                        embedding, widths[2], groups)
    x = residual_block(x7, embedding, widths[2], groups)  # the bottleneck, 7x7
    for skip, width in ((x14, widths[1]), (x28, widths[0])):
        x = keras.layers.Conv2D(width, 3, padding="same")(keras.layers.UpSampling2D(2)(x))
        x = residual_block(keras.layers.Concatenate()([x, skip]), embedding, width, groups)
    x = keras.layers.Activation("silu")(keras.layers.GroupNormalization(groups)(x))
    output = keras.layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros",
                                 name="prediction")(x)
    inputs = [images, times] if labels is None else [images, times, labels]
    return keras.Model(inputs, output, name="conditional_unet" if conditional else "unet")
