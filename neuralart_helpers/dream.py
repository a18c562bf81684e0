"""DeepDream: gradient ascent on a photo, at several scales (octaves).

Taught in chapters 02 (``02_deepdream_octaves``: the loss, the ascent, octaves
with lost-detail reinjection, tiling) and 03 (``03_deepdream_laplacian``:
Laplacian-normalised gradients, see ``pyramid``). Mordvintsev et al. 2015.

Images are ``(H, W, 3)`` float32 tensors in pixel space ``[0, 255]``; the
backbone's preprocessing happens inside the loss, so step sizes are in pixels
and mean the same for every backbone.
"""

from __future__ import annotations

from typing import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers import pyramid, render
from neuralart_helpers.backbones import Backbone, ImageTooSmallError


class NonFiniteLossError(ValueError):
    """The dream loss became NaN or infinite."""


# ------------------------------------------------------------------ the loss


def dream_loss(features: Mapping[str, tf.Tensor], layer_weights: Mapping[str, float],
               border: int = 2) -> tf.Tensor:
    """Weighted sum over layers of the mean squared activation.

    $$L = \\sum_l w_l \\, \\mathrm{mean}(a_l^2)$$

    Args:
        features: ``{layer: (B, h, w, C) activations}``.
        layer_weights: ``{layer: weight}``.
        border: activations this many pixels from the edge are left out, since
            zero padding there makes the network see (and paint) frames.
    """
    total = tf.constant(0.0)
    for name, weight in layer_weights.items():
        activation = features[name]
        height, width = tf.shape(activation)[1], tf.shape(activation)[2]
        crop_h = tf.minimum(border, (height - 1) // 2)  # always keep at least one row/column
        crop_w = tf.minimum(border, (width - 1) // 2)
        inside = activation[:, crop_h:height - crop_h, crop_w:width - crop_w, :]
        total += weight * tf.reduce_mean(tf.square(inside))
    return total


class DreamModel:
    """A backbone and the layers to exaggerate, with the loss gradient compiled once per image shape.

    ``loss_and_gradient`` is a ``tf.function``: it is traced the first time it sees
    an image shape and reused for every later step (and later call) at that shape.
    """

    def __init__(self, backbone: Backbone, layer_weights: Mapping[str, float] | None = None,
                 border: int = 2):
        layer_weights = dict(layer_weights or backbone.dream_layers)
        backbone.check_layers(list(layer_weights))
        bad = {name: w for name, w in layer_weights.items() if not np.isfinite(w) or w == 0}
        if bad:
            raise ValueError(f"Layer weights must be finite and non-zero, got {bad}.")
        self.backbone = backbone
        self.layer_weights = layer_weights
        self.border = border
        self.extractor = backbone.extractor(list(layer_weights))
        self.loss_and_gradient = tf.function(self._loss_and_gradient)
        self.ascent_step = tf.function(self._ascent_step)
        self._tile_loss = self.loss  # one bound-method object, so render caches its compiled gradient

    def loss(self, pixels: tf.Tensor) -> tf.Tensor:
        """Dream loss of a ``(1, h, w, 3)`` batch in ``[0, 255]``."""
        features = self.extractor(self.backbone.preprocess(pixels))
        return dream_loss(features, self.layer_weights, self.border)

    def _loss_and_gradient(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = self.loss(image[None])
        return loss, tape.gradient(loss, image)

    def _ascent_step(self, image: tf.Tensor, step_size: tf.Tensor,
                     laplacian_levels: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
        """One whole step, compiled: ``(loss before the step, new image)``."""
        loss, gradient = self._loss_and_gradient(image)
        return loss, take_step(image, gradient, step_size, laplacian_levels)

    def gradient(self, image: tf.Tensor, tile_size: int | None = None,
                 shift: tuple[int, int] | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """``(loss, gradient)`` of a ``(H, W, 3)`` image, tile by tile when it is larger than ``tile_size``.

        With tiles the loss is the sum of the tiles' losses, and memory stays flat
        however large the image; ``shift`` rolls the image first so seams move.
        """
        height, width = image.shape[:2]
        if tile_size is None or max(height, width) <= tile_size:
            return self.loss_and_gradient(image)
        loss, gradient = render.tiled_loss_and_gradient(self._tile_loss, image, tile_size, shift,
                                                        min_tile=self.backbone.min_size)
        return tf.constant(loss), tf.constant(gradient)


# ------------------------------------------------------------------ gradient ascent


def normalize_gradient(gradient: tf.Tensor, laplacian_levels: int = 0) -> tf.Tensor:
    """Scale a gradient so one step moves pixels by about ``step_size``.

    ``laplacian_levels == 0``: divide by the mean absolute value (chapter 02).
    ``> 0``: normalise each Laplacian band on its own, then merge (chapter 03).
    """
    if laplacian_levels > 0:
        return pyramid.lap_normalize(gradient, laplacian_levels)
    return gradient / tf.maximum(tf.reduce_mean(tf.abs(gradient)), 1e-20)  # 0 stays 0


def take_step(image: tf.Tensor, gradient: tf.Tensor, step_size, laplacian_levels: int = 0) -> tf.Tensor:
    """Move ``step_size`` pixels up the normalised gradient and clip to ``[0, 255]``."""
    step = step_size * normalize_gradient(gradient, laplacian_levels)
    return tf.clip_by_value(image + step, 0.0, 255.0)


def gradient_ascent(model: DreamModel, image, steps: int, step_size: float = 1.5,
                    laplacian_levels: int = 0, tile_size: int | None = None,
                    max_loss: float | None = None, rng: np.random.Generator | None = None,
                    callback: Callable[[int, tf.Tensor], None] | None = None,
                    progress: keras.utils.Progbar | None = None) -> tuple[tf.Tensor, list[float]]:
    """Climb the dream loss for ``steps`` steps (fewer if the loss passes ``max_loss``).

    Args:
        image: ``(H, W, 3)`` in ``[0, 255]``.
        rng: source of the random tile shifts (seeded by the caller).
        callback: called as ``callback(step, image)`` after every step.

    Returns:
        The new image (clipped to ``[0, 255]``) and the loss before each step.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite (lower ``step_size``).
    """
    image = tf.convert_to_tensor(image, tf.float32)
    rng = rng if rng is not None else np.random.default_rng(0)
    tiled = tile_size is not None and max(image.shape[:2]) > tile_size
    size = tf.constant(step_size, tf.float32)  # a tensor, so a new step size never re-traces
    losses: list[float] = []
    for step in range(steps):
        if tiled:
            shift = render.random_shift(tile_size, rng)
            loss, gradient = model.gradient(image, tile_size, shift)
            new_image = take_step(image, gradient, size, laplacian_levels)
        else:
            loss, new_image = model.ascent_step(image, size, laplacian_levels)
        loss = float(loss)
        if not np.isfinite(loss):
            raise NonFiniteLossError(f"The dream loss became {loss} at step {step}; lower the "
                                     f"step size (now {step_size}) or the layer weights.")
        if max_loss is not None and loss > max_loss:
            break
        losses.append(loss)
        image = new_image
        if callback is not None:
            callback(step, image)
        if progress is not None:
            progress.add(1, [("loss", loss)])
    return image, losses


# ------------------------------------------------------------------ octaves


def octave_shapes(height: int, width: int, octaves: int, octave_scale: float) -> list[tuple[int, int]]:
    """Image sizes from the smallest octave to the full size.

    Octave ``i`` (counting down from the full image) is ``1 / octave_scale**i`` times smaller.
    """
    if octaves < 1:
        raise ValueError(f"octaves must be at least 1, got {octaves}.")
    if not octave_scale > 1:
        raise ValueError(f"octave_scale must be greater than 1 (e.g. 1.4), got {octave_scale}.")
    return [(round(height / octave_scale ** i), round(width / octave_scale ** i))
            for i in reversed(range(octaves))]


def check_octaves(backbone: Backbone, height: int, width: int, octaves: int,
                  octave_scale: float) -> None:
    """Raise ``ImageTooSmallError`` if the smallest octave is below the backbone's minimum size."""
    small_h, small_w = octave_shapes(height, width, octaves, octave_scale)[0]
    if min(small_h, small_w) >= backbone.min_size:
        return
    fitting = 0
    while min(height, width) / octave_scale ** fitting >= backbone.min_size:
        fitting += 1
    advice = (f"at most {fitting} octaves fit at scale {octave_scale}" if fitting
              else f"enlarge the image to at least {backbone.min_size} px")
    raise ImageTooSmallError(
        f"With {octaves} octaves at scale {octave_scale}, a {height}x{width} image shrinks to "
        f"{small_h}x{small_w}, below the {backbone.min_size} px that {backbone.name} needs; "
        f"{advice}.")


def resize(image: tf.Tensor, shape: tuple[int, int]) -> tf.Tensor:
    """Bilinear resize of a ``(H, W, 3)`` tensor to ``shape`` (antialiased when shrinking)."""
    return tf.image.resize(image, shape, method="bilinear", antialias=True)


def lost_detail(original: tf.Tensor, shrunk: tf.Tensor, shape: tuple[int, int]) -> tf.Tensor:
    """What shrinking threw away: the original at ``shape`` minus the shrunk original blown up to ``shape``."""
    return resize(original, shape) - resize(shrunk, shape)


def dream(model: DreamModel, image, octaves: int = 3, octave_scale: float = 1.4,
          steps: int = 20, step_size: float = 1.5, laplacian_levels: int = 0,
          tile_size: int | None = None, max_loss: float | None = None, seed: int = 0,
          callback: Callable[[int, int, tf.Tensor], None] | None = None,
          verbose: bool = True) -> tuple[np.ndarray, list[list[float]]]:
    """The full DeepDream: dream at each octave, smallest first, re-injecting lost detail.

    At each octave the dream so far is enlarged to the next size and the detail
    that shrinking removed from the *original* at that size is added back, so
    the photo stays sharp while the dream grows. With ``steps=0`` the result is
    the original image (up to float rounding).

    Args:
        image: ``(H, W, 3)`` in ``[0, 255]``.
        octaves, octave_scale: how many sizes, and the ratio between them (> 1).
        steps, step_size: ascent steps per octave, and pixels moved per step.
        laplacian_levels: 0 for plain normalisation, else Laplacian bands (ch. 03).
        tile_size: compute gradients in tiles of this size (randomly shifted).
        max_loss: stop an octave early once the loss passes it.
        seed: seeds the tile shifts; the same seed gives the same dream.
        callback: called as ``callback(octave, step, image)`` after every step.

    Returns:
        The dream as a NumPy ``(H, W, 3)`` float32 array in ``[0, 255]``, and the
        losses of each octave.
    """
    original = tf.convert_to_tensor(image, tf.float32)
    height, width = original.shape[:2]
    check_octaves(model.backbone, height, width, octaves, octave_scale)
    if tile_size is not None and tile_size < model.backbone.min_size:
        raise ValueError(f"tile_size {tile_size} is below {model.backbone.name}'s minimum input of "
                         f"{model.backbone.min_size} px; use 256 or more.")
    shapes = octave_shapes(height, width, octaves, octave_scale)
    rng = np.random.default_rng(seed)
    progress = keras.utils.Progbar(steps * octaves, stateful_metrics=["loss"]) if verbose and steps else None
    shrunk = resize(original, shapes[0])
    dreamed = shrunk
    history = []
    for octave, shape in enumerate(shapes):
        dreamed = resize(dreamed, shape) + lost_detail(original, shrunk, shape)
        step_callback = (lambda step, img, octave=octave: callback(octave, step, img)) if callback else None
        dreamed, losses = gradient_ascent(model, dreamed, steps, step_size, laplacian_levels,
                                          tile_size, max_loss, rng, step_callback, progress)
        history.append(losses)
        shrunk = resize(original, shape)
    return np.clip(dreamed.numpy(), 0, 255), history
