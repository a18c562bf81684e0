"""The render loop: gradient ascent on the input image (chapter 01, sections 1, 3 and 4).

It only ties the other pieces together: an objective
(:mod:`neuralart_helpers.objectives`), an image parameterisation
(:mod:`neuralart_helpers.param`) and transforms
(:mod:`neuralart_helpers.transforms`). Images are in pixel space ``[0, 255]``;
the backbone's preprocessing happens inside the value function, so step sizes
are in pixel units whichever backbone is used.

Three ways to render:

- :func:`render`: one compiled ascent step (a ``tf.function`` traced once per
  image parameterisation, i.e. once per image shape), run ``num_steps`` times.
- :func:`render_octaves`: multiscale rendering; render small, upscale by
  ``octave_scale``, continue.
- tiled rendering (:func:`tiled_gradient`, :func:`tiled_ascent`): the gradient
  of an image of any size, one tile at a time, after rolling the image by a
  random shift so the tile seams move at every step. Memory stays flat in the
  image size. DeepDream (chapters 02_deepdream_octaves, 03_deepdream_laplacian)
  reuses :func:`random_shift` and :func:`tiled_loss_and_gradient`.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from neuralart_helpers.backbones import Backbone
from neuralart_helpers.images import resize
from neuralart_helpers.objectives import Objective
from neuralart_helpers.param import ImageParam, grey_noise, pixel_image
from neuralart_helpers.transforms import Transform, compose

ValueFunction = Callable[[tf.Tensor], tf.Tensor]


class RenderError(ValueError):
    """A render setting that cannot work (steps, step size, size, channel); the message says the fix."""


class DeadChannelWarning(UserWarning):
    """The objective's gradient was zero at every step: the picture is only the starting noise."""


@dataclass
class RenderResult:
    """What a render returns.

    Attributes:
        images: ``(B, H, W, 3)`` float32 in ``[0, 255]``.
        values: the objective's value before each step.
        snapshots: intermediate images (e.g. the end of each octave), each ``(B, h, w, 3)``.
        largest_gradient: ``(B,)``, the largest absolute gradient each image ever had
            (0 means a dead channel).
    """

    images: np.ndarray
    values: list[float]
    snapshots: list[np.ndarray] = field(default_factory=list)
    largest_gradient: np.ndarray | None = field(default=None, repr=False)


# ---------------------------------------------------------------- checks


def check_steps(num_steps: int, step_size: float) -> None:
    """Raise :class:`RenderError` unless ``num_steps`` and ``step_size`` are both positive."""
    if int(num_steps) != num_steps or num_steps < 1:
        raise RenderError(f"The number of steps must be a positive integer, got {num_steps}.")
    if not step_size > 0:
        raise RenderError(f"The step size must be positive, got {step_size} (try 1.0 to 2.0 "
                          f"pixels for a pixel image).")


def check_objective(objective: Objective, backbone: Backbone) -> None:
    """Raise a clear error for an unknown layer or a channel index out of range."""
    backbone.check_layers(objective.layers)
    for layer, index in objective.channels:
        count = backbone.channels(layer)
        if not 0 <= index < count:
            raise RenderError(f"Channel {index} does not exist: layer {layer!r} of "
                              f"{backbone.name} has {count} channels, numbered 0 to {count - 1}.")


# ---------------------------------------------------------------- one ascent step


def value_function(objective: Objective, backbone: Backbone) -> ValueFunction:
    """``(B, H, W, 3)`` pixels in ``[0, 255]`` -> the objective's scalar value.

    The backbone's ``preprocess`` is applied here, inside the function that is
    differentiated, so gradients are with respect to pixels.
    """
    check_objective(objective, backbone)
    extractor = backbone.extractor(objective.layers)

    def value(images: tf.Tensor) -> tf.Tensor:
        return objective(extractor(backbone.preprocess(images), training=False))

    return value


def normalize_gradient(gradient: tf.Tensor, epsilon: float = 1e-20) -> tf.Tensor:
    """Divide each batch item's gradient by its standard deviation (same shape out).

    $$\\hat g = \\frac{g}{\\max(\\operatorname{std}(g), \\epsilon)}$$

    The raw gradient's size changes by orders of magnitude between layers,
    channels and steps; after this, a step of ``step_size`` moves a typical
    pixel by about ``step_size``. Gradients can be tiny (1e-6 is common), so
    ``epsilon`` only guards against dividing by zero: an all-zero gradient stays zero.
    """
    axes = list(range(1, len(gradient.shape)))
    return gradient / tf.maximum(tf.math.reduce_std(gradient, axis=axes, keepdims=True), epsilon)


def make_ascent_step(value_fn: ValueFunction, image_param: ImageParam,
                     transforms: Sequence[Transform] = (), normalize: bool = True):
    """A compiled gradient-ascent step on ``image_param``'s variables.

    Each call renders the images, applies the transforms, evaluates ``value_fn``,
    moves every variable by ``step_size * normalize_gradient(gradient)`` (the raw
    gradient when ``normalize`` is false) and applies the variable's ``constraint``.

    Returns:
        ``step(seed, step_size) -> (value, largest_abs_gradient)``, a ``tf.function``
        traced once: ``seed`` (an int32 ``(2,)`` tensor for the transforms) and
        ``step_size`` (a float32 scalar tensor) are tensors, so new values never
        re-trace it. ``value`` is the objective before the update;
        ``largest_abs_gradient`` has shape ``(B,)``, one number per image (0 means
        that image's gradient was all zero).
    """
    variables, to_image = image_param
    transform = compose(transforms)

    @tf.function
    def step(seed: tf.Tensor, step_size: tf.Tensor):
        with tf.GradientTape() as tape:
            value = value_fn(transform(to_image(), seed))
        gradients = tape.gradient(value, variables)
        for variable, gradient in zip(variables, gradients):
            moved = variable + step_size * (normalize_gradient(gradient) if normalize else gradient)
            variable.assign(moved if variable.constraint is None else variable.constraint(moved))
        largest = [tf.reduce_max(tf.abs(g), axis=list(range(1, len(g.shape)))) for g in gradients]
        return value, tf.reduce_max(tf.stack(largest), axis=0)

    return step


class _NoProgress:
    def update(self, *args, **kwargs) -> None:
        pass


def _progress(num_steps: int, verbose: bool):
    """A Keras progress bar showing the objective's value, or a silent stand-in."""
    import keras

    if not verbose:
        return _NoProgress()
    return keras.utils.Progbar(num_steps, stateful_metrics=["value"])


def _warn_if_dead(largest_gradient: np.ndarray, name: str) -> None:
    """Warn when some image's gradient was zero at every step (``largest_gradient``: ``(B,)``)."""
    dead = np.flatnonzero(np.asarray(largest_gradient).reshape(-1) == 0.0)
    if dead.size:
        which = "the image" if np.size(largest_gradient) == 1 else \
            f"image(s) {', '.join(map(str, dead))} of the batch"
        name = name if len(name) <= 60 else name[:57] + "..."
        warnings.warn(DeadChannelWarning(
            f"The gradient of {name} for {which} was exactly zero at every step: the channel "
            f"never activates there (a dead channel on this input), so the result is just the "
            f"starting image. Try another channel, a pre-ReLU layer, or a different start."),
            stacklevel=3)


def _ascend(objective: Objective, backbone: Backbone, image_param: ImageParam,
            transforms: Sequence[Transform], num_steps: int, step_size: float, normalize: bool,
            seed: int, verbose: bool, callback: Callable[[int, float], None] | None = None,
            ) -> RenderResult:
    """The loop behind :func:`render`; ``largest_gradient`` is kept for the dead-channel check."""
    check_steps(num_steps, step_size)
    images = image_param.to_image()
    backbone.check_size(int(images.shape[1]), int(images.shape[2]))
    step = make_ascent_step(value_function(objective, backbone), image_param, transforms, normalize)
    progress = _progress(num_steps, verbose)
    values, largest_gradient = [], np.zeros(int(images.shape[0]), np.float32)
    size = tf.constant(step_size, tf.float32)
    for index in range(num_steps):
        value, gradient_max = step(tf.constant([seed, index], tf.int32), size)
        values.append(float(value))
        largest_gradient = np.maximum(largest_gradient, gradient_max.numpy())
        progress.update(index + 1, [("value", values[-1])])
        if callback is not None:
            callback(index, values[-1])
    return RenderResult(image_param.to_image().numpy(), values, largest_gradient=largest_gradient)


def render(objective: Objective, backbone: Backbone, image_param: ImageParam,
           transforms: Sequence[Transform] = (), num_steps: int = 64, step_size: float = 1.5,
           normalize: bool = True, seed: int = 0, verbose: bool = True,
           callback: Callable[[int, float], None] | None = None) -> RenderResult:
    """Maximise ``objective`` by gradient ascent on ``image_param``.

    Args:
        objective: what to maximise.
        backbone: the network whose layers the objective reads.
        image_param: from :func:`~neuralart_helpers.param.pixel_image` or
            :func:`~neuralart_helpers.param.fourier_image`.
        transforms: random transforms applied before the network sees the image.
        num_steps: number of ascent steps (positive).
        step_size: size of a step (positive); in pixels for a pixel image
            with ``normalize`` (1 to 3), in spectrum units for a Fourier image
            (about 0.01).
        normalize: divide the gradient by its standard deviation (recommended).
        seed: seed of the transforms' randomness (the start is seeded by the parameterisation).
        verbose: show a progress bar.
        callback: called as ``callback(step, value)`` after every step (e.g. to
            save ``image_param.to_image()`` as GIF frames).

    Returns:
        :class:`RenderResult` with the final images ``(B, H, W, 3)`` in ``[0, 255]``.

    Warns:
        DeadChannelWarning: some image's gradient was zero at every step.
    """
    result = _ascend(objective, backbone, image_param, transforms, num_steps, step_size,
                     normalize, seed, verbose, callback)
    _warn_if_dead(result.largest_gradient, objective.name)
    return result


# ---------------------------------------------------------------- multiscale


def octave_sizes(size: int, num_octaves: int, octave_scale: float) -> list[int]:
    """Image sides from the smallest octave to ``size``, each ``octave_scale`` times the previous."""
    return [int(round(size / octave_scale ** (num_octaves - 1 - k))) for k in range(num_octaves)]


def resize_batch(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize each image of a ``(B, H, W, 3)`` batch (Lanczos, values kept in ``[0, 255]``)."""
    return np.stack([resize(image, height, width) for image in np.asarray(images)])


def render_octaves(objective: Objective, backbone: Backbone, size: int, num_octaves: int = 3,
                   octave_scale: float = 1.4, steps_per_octave: int = 20, step_size: float = 1.5,
                   transforms: Sequence[Transform] = (), batch: int = 1, seed: int = 0,
                   tile_size: int | None = None, verbose: bool = True) -> RenderResult:
    """Multiscale rendering: start at ``size / octave_scale**(num_octaves-1)``, upscale, continue.

    Large patterns form while the image is small (where they are cheap and the
    network sees them whole); each octave then adds finer detail. With
    ``tile_size``, every step uses :func:`tiled_gradient` (memory flat in the
    size, no transforms); otherwise each octave is one :func:`render` of a
    pixel image (compiled once per octave's shape).

    Returns:
        :class:`RenderResult`; ``snapshots`` holds the images at the end of each octave.
    """
    if num_octaves < 1 or octave_scale < 1.0:
        raise RenderError(f"Use at least one octave and an octave scale >= 1 (got {num_octaves} "
                          f"octaves, scale {octave_scale}).")
    check_steps(steps_per_octave, step_size)
    sides = octave_sizes(size, num_octaves, octave_scale)
    if sides[0] < backbone.min_size:
        raise RenderError(f"The first octave would be {sides[0]}x{sides[0]} pixels, below "
                          f"{backbone.name}'s minimum of {backbone.min_size}: use fewer octaves, a "
                          f"smaller octave scale or a size of at least "
                          f"{int(np.ceil(backbone.min_size * octave_scale ** (num_octaves - 1)))}.")
    if tile_size is not None and (transforms or batch != 1):
        raise RenderError("Tiled rendering works on one image without transforms: with tile_size, "
                          "leave transforms empty and batch at 1.")
    value_fn = value_function(objective, backbone)
    images = grey_noise(sides[0], sides[0], batch, seed=seed)
    values, snapshots, largest_gradient = [], [], np.zeros(batch, np.float32)
    for octave, side in enumerate(sides):
        if octave > 0:
            images = resize_batch(images, side, side)
        if tile_size is None:
            result = _ascend(objective, backbone, pixel_image(side, side, batch, init=images),
                             transforms, steps_per_octave, step_size, True, seed + octave, verbose)
        else:
            result = _tiled_ascent(value_fn, backbone, images[0], steps_per_octave, step_size,
                                   tile_size, seed + octave, verbose)
        images = result.images
        values += result.values
        snapshots.append(images)
        largest_gradient = np.maximum(largest_gradient, result.largest_gradient)
    _warn_if_dead(largest_gradient, objective.name)
    return RenderResult(images, values, snapshots, largest_gradient)


# ---------------------------------------------------------------- tiled gradients


def random_shift(max_shift: int, rng: np.random.Generator) -> tuple[int, int]:
    """Draw a ``(dy, dx)`` roll, each uniform in ``[0, max_shift)`` (pass the tile size)."""
    return int(rng.integers(max_shift)), int(rng.integers(max_shift))


def random_roll(image: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Roll an ``(H, W, 3)`` image down by ``dy`` and right by ``dx`` pixels, wrapping around.

    Args:
        image: ``(H, W, C)`` array (any values; pixels or gradients).
        shift: ``(dy, dx)`` integers, e.g. from :func:`random_shift`.

    Returns:
        A new array of the same shape: ``out[(i + dy) % H, (j + dx) % W] = image[i, j]``.
        :func:`unroll` with the same shift undoes it exactly.
    """
    return np.roll(image, shift=(int(shift[0]), int(shift[1])), axis=(0, 1))


def unroll(image: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Exact inverse of :func:`random_roll` with the same ``shift``."""
    return np.roll(image, shift=(-int(shift[0]), -int(shift[1])), axis=(0, 1))


def tile_bounds(length: int, tile_size: int, min_tile: int | None = None) -> list[tuple[int, int]]:
    """Split ``range(length)`` into ``(start, stop)`` tiles of ``tile_size``.

    A remainder shorter than ``min_tile`` (default ``tile_size // 2``) is merged
    into the previous tile, so no tile is shorter than ``min_tile`` (unless
    ``length`` itself is) and none longer than ``tile_size + min_tile``.
    """
    min_tile = tile_size // 2 if min_tile is None else min_tile
    starts = list(range(0, length, tile_size))
    if len(starts) > 1 and length - starts[-1] < min_tile:
        starts.pop()
    return list(zip(starts, starts[1:] + [length]))


_COMPILED_GRADIENTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def compiled_gradient(loss_fn: ValueFunction):
    """``tile (1, h, w, 3) -> (loss, gradient)``, one ``tf.function`` for every tile shape.

    Compiled once per ``loss_fn`` (the input signature leaves ``h`` and ``w``
    free, so new tile or image sizes do not re-trace) and cached on it: pass
    the same function object every call.
    """
    try:
        return _COMPILED_GRADIENTS[loss_fn]
    except (KeyError, TypeError):
        pass

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def loss_and_gradient(tile: tf.Tensor):
        with tf.GradientTape() as tape:
            tape.watch(tile)
            loss = loss_fn(tile)
        return loss, tape.gradient(loss, tile)

    try:
        _COMPILED_GRADIENTS[loss_fn] = loss_and_gradient
    except TypeError:  # not weak-referenceable: compile every call
        pass
    return loss_and_gradient


def tiled_loss_and_gradient(loss_fn: ValueFunction, image: np.ndarray, tile_size: int,
                            shift: tuple[int, int] | None = None,
                            min_tile: int | None = None) -> tuple[float, np.ndarray]:
    """Like :func:`tiled_gradient`, also returning the sum of the tiles' losses (a float)."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise RenderError(f"tiled_gradient expects one (H, W, 3) image, got shape {image.shape}.")
    if int(tile_size) != tile_size or tile_size < 1:
        raise RenderError(f"The tile size must be a positive number of pixels, got {tile_size}.")
    height, width = image.shape[:2]
    shift_y, shift_x = (0, 0) if shift is None else shift
    # Row r of random_roll(image, shift) is row rows[r] of image (same for columns), so a
    # tile of the rolled image is image[rows[top:bottom]][:, cols[left:right]]. Indexing
    # this way rolls and unrolls one tile at a time, without two full-size copies.
    rows = (np.arange(height) - shift_y) % height
    cols = (np.arange(width) - shift_x) % width
    loss_and_gradient = compiled_gradient(loss_fn)
    gradient = np.zeros_like(image)
    total = 0.0
    for top, bottom in tile_bounds(height, tile_size, min_tile):
        for left, right in tile_bounds(width, tile_size, min_tile):
            where = np.ix_(rows[top:bottom], cols[left:right])
            loss, tile_gradient = loss_and_gradient(tf.constant(image[where][None]))
            gradient[where] = tile_gradient[0].numpy()
            total += float(loss)
    return total, gradient


def tiled_gradient(loss_fn: ValueFunction, image: np.ndarray, tile_size: int,
                   shift: tuple[int, int] | None = None, min_tile: int | None = None) -> np.ndarray:
    """Gradient of the sum of per-tile losses of an image of any size, one tile at a time.

    The image is rolled by ``shift`` (:func:`random_roll`), cut into tiles
    (:func:`tile_bounds`), each tile's gradient is computed on its own, and the
    assembled gradient is rolled back (:func:`unroll`); the result equals
    ``unroll(g, shift)`` where ``g`` is the tile-by-tile gradient of
    ``random_roll(image, shift)``. The rolls are done one tile at a time by
    indexing, so besides the image and its gradient only one tile is in memory,
    however large the image; a new random shift at every step moves the tile
    seams so they never show.

    Args:
        loss_fn: maps a ``(1, h, w, 3)`` float32 pixel batch in ``[0, 255]`` to a
            scalar (preprocess inside it). Pass the same function object at every
            call: its compiled gradient is cached on it (see :func:`compiled_gradient`).
        image: ``(H, W, 3)`` array in pixel space ``[0, 255]`` (NumPy or tensor).
        tile_size: tile side in pixels; choose it so ``tile_size // 2`` (or
            ``min_tile``) is at least the backbone's ``min_size``.
        shift: ``(dy, dx)`` roll applied before tiling and undone after; ``None``
            means no roll. Draw a new one every step with :func:`random_shift`.
        min_tile: shortest tile allowed (default ``tile_size // 2``); a remainder
            shorter than this is merged into the previous tile.

    Returns:
        ``(H, W, 3)`` float32 NumPy array: the gradient with respect to ``image``.
        With one tile covering the image and no shift it equals the plain gradient.
    """
    return tiled_loss_and_gradient(loss_fn, image, tile_size, shift, min_tile)[1]


def normalize_std(gradient: np.ndarray, epsilon: float = 1e-20) -> np.ndarray:
    """NumPy, in place: divide a gradient by its standard deviation and return it.

    The variance is ``mean(g**2) - mean(g)**2`` computed with a dot product, so a
    large gradient needs no full-size temporary array.
    """
    flat = gradient.reshape(-1)
    mean = float(flat.mean(dtype=np.float64))
    variance = max(float(np.dot(flat, flat)) / flat.size - mean * mean, 0.0)
    gradient /= np.float32(max(np.sqrt(variance), epsilon))
    return gradient


def tiled_ascent(value_fn: ValueFunction, backbone: Backbone, image: np.ndarray, num_steps: int,
                 step_size: float, tile_size: int, seed: int = 0,
                 verbose: bool = True) -> RenderResult:
    """Normalised gradient ascent on one ``(H, W, 3)`` image of any size, with tiled gradients.

    Each step draws a random shift (seeded by ``seed``), computes
    :func:`tiled_gradient`, divides it by its standard deviation, adds
    ``step_size`` times it and clips to ``[0, 255]``.

    Args:
        value_fn: ``(1, h, w, 3)`` pixels -> scalar, e.g. from :func:`value_function`.
        backbone: for the size checks (``tile_size // 2`` must reach ``backbone.min_size``).
        image: the start, ``(H, W, 3)`` in ``[0, 255]`` (not modified).

    Returns:
        :class:`RenderResult` with ``images`` of shape ``(1, H, W, 3)``; ``values``
        are the sums of the tile values.

    Warns:
        DeadChannelWarning: the gradient was zero at every step.
    """
    result = _tiled_ascent(value_fn, backbone, image, num_steps, step_size, tile_size, seed, verbose)
    _warn_if_dead(result.largest_gradient, "the objective")
    return result


def _tiled_ascent(value_fn: ValueFunction, backbone: Backbone, image: np.ndarray, num_steps: int,
                  step_size: float, tile_size: int, seed: int, verbose: bool) -> RenderResult:
    check_steps(num_steps, step_size)
    if tile_size // 2 < backbone.min_size:
        raise RenderError(f"A tile size of {tile_size} can leave tiles of {tile_size // 2} "
                          f"pixels, below {backbone.name}'s minimum of {backbone.min_size}: use "
                          f"a tile size of at least {2 * backbone.min_size}.")
    image = np.array(image, dtype=np.float32)  # a copy, updated in place
    backbone.check_size(*image.shape[:2])
    rng = np.random.default_rng(seed)
    progress = _progress(num_steps, verbose)
    values, largest_gradient = [], 0.0
    for index in range(num_steps):
        shift = random_shift(tile_size, rng)
        value, gradient = tiled_loss_and_gradient(value_fn, image, tile_size, shift)
        largest_gradient = max(largest_gradient, float(gradient.max()), -float(gradient.min()))
        gradient = normalize_std(gradient)
        gradient *= np.float32(step_size)  # in place: no full-size temporary
        image += gradient
        np.clip(image, 0.0, 255.0, out=image)
        values.append(value)
        progress.update(index + 1, [("value", value)])
    return RenderResult(image[None], values, largest_gradient=np.array([largest_gradient]))
