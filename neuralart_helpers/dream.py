"""DeepDream: gradient ascent on a photo, at several scales (octaves).

Taught in chapters 02 (``02_deepdream_octaves``: the loss, the ascent, octaves
with lost-detail reinjection, tiling) and 03 (``03_deepdream_laplacian``:
Laplacian-normalised gradients, see ``pyramid``). Mordvintsev et al. 2015.

Images are ``(H, W, 3)`` float32 in pixel space ``[0, 255]`` (NumPy arrays or
tensors in, NumPy arrays out); the backbone's preprocessing happens inside the
loss, so step sizes are in pixels and mean the same for every backbone. The loop,
the octave schedule, the tiles and the resize are the shared ones of ``ascent``,
``octaves``, ``tiling`` and ``images``.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from neuralart_helpers import ascent, octaves, pyramid, tiling
from neuralart_helpers.backbones import Backbone
from neuralart_helpers.errors import NeuralArtError
from neuralart_helpers.images import resize
from neuralart_helpers.presets import DREAM


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
    """A backbone and the layers to exaggerate, with the loss gradient compiled once.

    ``loss_and_gradient`` and ``ascent_step`` are ``tf.function`` objects traced the
    first time they see an image shape and reused for every later step at that shape.
    """

    def __init__(self, backbone: Backbone, layer_weights: Mapping[str, float] | None = None,
                 border: int = DREAM["border"]):
        layer_weights = dict(layer_weights or backbone.dream_layers)
        backbone.check_layers(list(layer_weights))
        bad = {name: w for name, w in layer_weights.items() if not np.isfinite(w) or w == 0}
        if bad:
            raise NeuralArtError(f"Layer weights must be finite and non-zero, got {bad}.")
        self.backbone = backbone
        self.layer_weights = layer_weights
        self.border = border
        self.loss_and_gradient = tf.function(self._loss_and_gradient)
        self.ascent_step = tf.function(self._ascent_step)
        self.tile_loss_and_gradient = ascent.compiled_gradient(self.loss)

    def loss(self, pixels: tf.Tensor) -> tf.Tensor:
        """Dream loss of a ``(1, h, w, 3)`` batch in ``[0, 255]``."""
        features = self.backbone.features(pixels, list(self.layer_weights))
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

    def gradient(self, image, tile_size: int | None = None,
                 shift: tuple[int, int] | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """``(loss, gradient)`` of a ``(H, W, 3)`` image, tile by tile when it is larger than ``tile_size``.

        With tiles the loss is the area-weighted average of the tiles' losses
        (:func:`neuralart_helpers.tiling.tiled_loss_and_gradient`), which is the
        whole image's loss up to the seams; memory stays flat however large the
        image; ``shift`` rolls the image first so seams move.
        """
        image = tf.convert_to_tensor(image, tf.float32)
        if tile_size is None or max(image.shape[:2]) <= tile_size:
            return self.loss_and_gradient(image)
        tiling.check_tile_size(tile_size, self.backbone.min_size, self.backbone.name)
        loss, gradient = tiling.tiled_loss_and_gradient(self.tile_loss_and_gradient,
                                                        image.numpy(), tile_size, shift)
        return tf.constant(loss, tf.float32), tf.constant(gradient)


# ------------------------------------------------------------------ gradient ascent


def normalize_gradient(gradient: tf.Tensor, laplacian_levels: int = 0) -> tf.Tensor:
    """Scale a gradient so one step moves pixels by about ``step_size``.

    ``laplacian_levels == 0``: divide by the mean absolute value
    (:func:`neuralart_helpers.ascent.normalize_by_mean_abs`, chapter 02).
    ``> 0``: normalise each Laplacian band on its own, then merge (chapter 03).
    """
    if laplacian_levels > 0:
        return pyramid.lap_normalize(gradient, laplacian_levels)
    return ascent.normalize_by_mean_abs(gradient)


def take_step(image: tf.Tensor, gradient: tf.Tensor, step_size, laplacian_levels: int = 0) -> tf.Tensor:
    """Move ``step_size`` pixels up the normalised gradient and clip to ``[0, 255]``."""
    return ascent.clip_pixels(image + step_size * normalize_gradient(gradient, laplacian_levels))


class DreamResult(NamedTuple):
    """What :func:`gradient_ascent` and :func:`dream` return (unpack as ``image, losses = ...``).

    Attributes:
        image: ``(H, W, 3)`` float32 NumPy array in ``[0, 255]``.
        losses: the loss before each step (:func:`gradient_ascent`), or one such list
            per octave (:func:`dream`). A run stopped early by a non-finite loss has
            fewer (and said so with a ``NonFiniteLossWarning``).
    """

    image: np.ndarray
    losses: list


def _step_function(model: DreamModel, height: int, width: int, step_size: float,
                   laplacian_levels: int, tile_size: int | None, rng: np.random.Generator):
    """``step(image, index) -> (loss, new image)`` for :func:`neuralart_helpers.ascent.run`."""
    size = tf.constant(step_size, tf.float32)  # a tensor, so a new step size never re-traces
    if tile_size is None or max(height, width) <= tile_size:
        return lambda image, index: model.ascent_step(image, size, laplacian_levels)

    def tiled_step(image: tf.Tensor, index: int):
        loss, gradient = model.gradient(image, tile_size, tiling.random_shift(tile_size, rng))
        return loss, take_step(image, gradient, size, laplacian_levels)

    return tiled_step


def gradient_ascent(model: DreamModel, image, num_steps: int, step_size: float = DREAM["step_size"],
                    laplacian_levels: int = 0, tile_size: int | None = None,
                    max_loss: float | None = None, seed: int = 0,
                    callbacks: Sequence[ascent.Callback] = (), verbose: bool = False,
                    progress=None, rng: np.random.Generator | None = None) -> DreamResult:
    """Climb the dream loss for ``num_steps`` steps (fewer if the loss passes ``max_loss``:
    the step that first passes it is the last one taken).

    Args:
        image: ``(H, W, 3)`` in ``[0, 255]``.
        seed: seeds the random tile shifts (or pass ``rng``, as :func:`dream` does).
        callbacks: each called as ``callback(step, loss, image)`` after every step.
        verbose, progress: a progress bar of its own, or an existing one to advance.

    Returns:
        :class:`DreamResult`. A NaN or infinite loss stops the climb with a
        :class:`~neuralart_helpers.errors.NonFiniteLossWarning` and keeps the last
        image whose loss was finite.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    rng = rng if rng is not None else np.random.default_rng(seed)
    step = _step_function(model, *image.shape[:2], step_size, laplacian_levels, tile_size, rng)
    stops = [] if max_loss is None else [lambda index, loss, new_image: loss > max_loss]
    result = ascent.run(step, image, num_steps, callbacks=[*stops, *callbacks],
                        verbose=verbose, progress=progress)
    return DreamResult(np.asarray(result.state, np.float32), result.values)


# ------------------------------------------------------------------ octaves


def lost_detail(original, shrunk, shape: tuple[int, int]) -> np.ndarray:
    """What shrinking threw away: the original at ``shape`` minus the shrunk original blown up to ``shape``."""
    return resize(original, *shape) - resize(shrunk, *shape)


def _steps_per_octave(num_steps: int | Sequence[int], num_octaves: int) -> list[int]:
    """``num_steps`` as one count per octave; a list must have one non-negative count each."""
    steps = [num_steps] * num_octaves if np.ndim(num_steps) == 0 else list(num_steps)
    if len(steps) != num_octaves or min(steps) < 0:
        raise NeuralArtError(f"num_steps must be a count of 0 or more, or one such count per "
                             f"octave ({num_octaves} of them), got {num_steps!r}.")
    return [int(count) for count in steps]


def dream(model: DreamModel, image, num_octaves: int = DREAM["num_octaves"],
          octave_scale: float = DREAM["octave_scale"],
          num_steps: int | Sequence[int] = DREAM["num_steps"],
          step_size: float = DREAM["step_size"], laplacian_levels: int = 0,
          tile_size: int | None = None, max_loss: float | None = None, seed: int = DREAM["seed"],
          callbacks: Sequence[ascent.Callback] = (), verbose: bool = True) -> DreamResult:
    """The full DeepDream: dream at each octave, smallest first, re-injecting lost detail.

    At each octave the dream so far is enlarged to the next size and the detail
    that shrinking removed from the *original* at that size is added back, so
    the photo stays sharp while the dream grows. With ``num_steps=0`` the result
    is the original image (up to float rounding).

    Args:
        image: ``(H, W, 3)`` in ``[0, 255]``.
        num_octaves, octave_scale: how many sizes, and the ratio between them
            (:func:`neuralart_helpers.octaves.octave_shapes`).
        num_steps: ascent steps per octave: one number for every octave, or one per
            octave, smallest first (``[30, 30]`` spends half the steps at the small size).
        step_size: pixels moved per step.
        laplacian_levels: 0 for plain normalisation, else Laplacian bands (ch. 03).
        tile_size: compute gradients in tiles of this size (randomly shifted).
        max_loss: end an octave after the first step whose loss passes it.
        seed: seeds the tile shifts; the same seed gives the same dream.
        callbacks: each called as ``callback(step, loss, image)`` after every step of
            every octave (``image`` has that octave's size).

    Returns:
        :class:`DreamResult` whose ``losses`` holds one list per octave.
    """
    original = np.asarray(image, np.float32)
    shapes = octaves.check_octaves(*original.shape[:2], num_octaves, octave_scale,
                                   model.backbone.min_size, model.backbone.name)
    if tile_size is not None:
        tiling.check_tile_size(tile_size, model.backbone.min_size, model.backbone.name)
    steps = _steps_per_octave(num_steps, num_octaves)
    rng = np.random.default_rng(seed)
    progress = ascent.progress_bar(sum(steps), verbose and sum(steps) > 0)
    shrunk = dreamed = resize(original, *shapes[0])
    history = []
    for shape, octave_steps in zip(shapes, steps):
        dreamed = resize(dreamed, *shape) + lost_detail(original, shrunk, shape)
        result = gradient_ascent(model, dreamed, octave_steps, step_size, laplacian_levels,
                                 tile_size, max_loss, callbacks=callbacks, progress=progress,
                                 rng=rng)
        dreamed = result.image
        history.append(result.losses)
        shrunk = resize(original, *shape)
    return DreamResult(np.clip(dreamed, 0, 255), history)
