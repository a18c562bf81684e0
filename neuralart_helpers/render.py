"""The render loop: gradient ascent on the input image (chapter 01, sections 1, 3 and 4).

It only ties the other pieces together: an objective
(:mod:`neuralart_helpers.objectives`), an image parameterisation
(:mod:`neuralart_helpers.param`) and transforms
(:mod:`neuralart_helpers.transforms`), over the shared core: the loop of
:mod:`neuralart_helpers.ascent`, the octave schedule of
:mod:`neuralart_helpers.octaves` and the tiles of :mod:`neuralart_helpers.tiling`.
Images are in pixel space ``[0, 255]``; the backbone's preprocessing happens inside
the value function, so step sizes are in pixel units whichever backbone is used.

Three ways to render:

- :func:`render`: one compiled ascent step (a ``tf.function`` traced once per
  image parameterisation), run ``num_steps`` times.
- :func:`render_octaves`: multiscale rendering; render small, upscale by
  ``octave_scale``, continue.
- :func:`tiled_ascent`: normalised ascent on one image of any size, its gradient
  computed tile by tile (:func:`neuralart_helpers.tiling.tiled_loss_and_gradient`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from neuralart_helpers import ascent, octaves, tiling
from neuralart_helpers.backbones import Backbone
from neuralart_helpers.errors import DeadChannelWarning, NeuralArtError
from neuralart_helpers.images import resize
from neuralart_helpers.objectives import Objective
from neuralart_helpers.param import ImageParam, grey_noise, pixel_image
from neuralart_helpers.transforms import Transform, compose

ValueFunction = Callable[[tf.Tensor], tf.Tensor]


@dataclass
class RenderResult:
    """What a render returns.

    Attributes:
        images: ``(B, H, W, 3)`` float32 in ``[0, 255]``.
        values: the objective's value before each step.
        snapshots: intermediate images (e.g. the end of each octave), each ``(B, h, w, 3)``.
        largest_gradient: ``(B,)``, the largest absolute gradient each image ever had
            (0 means a dead channel).
        stopped: ``None``, or why the run stopped early (a non-finite value).
    """

    images: np.ndarray
    values: list[float]
    snapshots: list[np.ndarray] = field(default_factory=list)
    largest_gradient: np.ndarray | None = field(default=None, repr=False)
    stopped: str | None = None


# ---------------------------------------------------------------- checks


def check_steps(num_steps: int, step_size: float) -> None:
    """Raise :class:`NeuralArtError` unless ``num_steps`` and ``step_size`` are both positive."""
    if int(num_steps) != num_steps or num_steps < 1:
        raise NeuralArtError(f"The number of steps must be a positive integer, got {num_steps}.")
    if not step_size > 0:
        raise NeuralArtError(f"The step size must be positive, got {step_size} (try 1.0 to 2.0 "
                             f"pixels for a pixel image).")


def check_objective(objective: Objective, backbone: Backbone) -> None:
    """Raise a clear error for an unknown layer or a channel index out of range."""
    backbone.check_layers(objective.layers)
    for layer, index in objective.channels:
        count = backbone.channels(layer)
        if not 0 <= index < count:
            raise NeuralArtError(f"Channel {index} does not exist: layer {layer!r} of "
                                 f"{backbone.name} has {count} channels, numbered 0 to {count - 1}.")


# ---------------------------------------------------------------- one ascent step


def value_function(objective: Objective, backbone: Backbone) -> ValueFunction:
    """``(B, H, W, 3)`` pixels in ``[0, 255]`` -> the objective's scalar value.

    The backbone's ``preprocess`` is applied inside ``backbone.features``, so
    gradients are with respect to pixels.
    """
    check_objective(objective, backbone)
    return lambda images: objective(backbone.features(images, objective.layers))


def make_ascent_step(value_fn: ValueFunction, image_param: ImageParam,
                     transforms: Sequence[Transform] = (), normalize: bool = True):
    """A compiled gradient-ascent step on ``image_param``'s variables.

    Each call renders the images, applies the transforms, evaluates ``value_fn``,
    moves every variable by ``step_size * normalize_by_std(gradient)`` (per image of
    the batch; the raw gradient when ``normalize`` is false) and applies the
    variable's ``constraint``. A step whose value or gradient is not finite moves nothing.

    Returns:
        ``step(seed, step_size) -> (value, largest_abs_gradient)``, a ``tf.function``
        traced once: ``seed`` (an int32 ``(2,)`` tensor for the transforms) and
        ``step_size`` (a float32 scalar tensor) are tensors, so new values never
        re-trace it. ``value`` is the objective before the update;
        ``largest_abs_gradient`` has shape ``(B,)`` (0: that image's gradient was all zero).
    """
    variables, to_image = image_param
    transform = compose(transforms)

    @tf.function
    def step(seed: tf.Tensor, step_size: tf.Tensor):
        with tf.GradientTape() as tape:
            value = value_fn(transform(to_image(), seed))
        gradients = tape.gradient(value, variables)
        finite = tf.math.is_finite(value + tf.add_n([tf.reduce_sum(g) for g in gradients]))
        for variable, gradient in zip(variables, gradients):
            per_image = list(range(1, len(gradient.shape)))
            direction = ascent.normalize_by_std(gradient, per_image) if normalize else gradient
            moved = variable + step_size * direction
            moved = moved if variable.constraint is None else variable.constraint(moved)
            tf.cond(finite, lambda: variable.assign(moved), lambda: variable)
        largest = [tf.reduce_max(tf.abs(g), axis=list(range(1, len(g.shape)))) for g in gradients]
        return value, tf.reduce_max(tf.stack(largest), axis=0)

    return step


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
            f"starting image. Try another channel, or start from a photo instead of grey."),
            stacklevel=3)


def _ascend(objective: Objective, backbone: Backbone, image_param: ImageParam,
            transforms: Sequence[Transform], num_steps: int, step_size: float, normalize: bool,
            seed: int, verbose: bool, callbacks: Sequence[ascent.Callback] = (),
            progress=None) -> RenderResult:
    """The loop behind :func:`render`; ``largest_gradient`` is kept for the dead-channel check."""
    check_steps(num_steps, step_size)
    batch, height, width = image_param.to_image().shape[:3]
    backbone.check_size(int(height), int(width))
    compiled = make_ascent_step(value_function(objective, backbone), image_param, transforms,
                                normalize)
    size, largest = tf.constant(step_size, tf.float32), np.zeros(int(batch), np.float32)

    def step(state: ImageParam, index: int):
        nonlocal largest
        value, gradient_max = compiled(tf.constant([seed, index], tf.int32), size)
        largest = np.maximum(largest, gradient_max.numpy())
        return value, state

    result = ascent.run(step, image_param, num_steps, callbacks=callbacks, verbose=verbose,
                        label="value", progress=progress)
    return RenderResult(image_param.to_image().numpy(), result.values, largest_gradient=largest,
                        stopped=result.stopped)


def render(objective: Objective, backbone: Backbone, image_param: ImageParam,
           transforms: Sequence[Transform] = (), num_steps: int = 64, step_size: float = 1.5,
           normalize: bool = True, seed: int = 0, verbose: bool = True,
           callbacks: Sequence[ascent.Callback] = ()) -> RenderResult:
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
        callbacks: each called as ``callback(step, value, image_param)`` after every
            step (``image_param.to_image()`` is the image then, e.g. for GIF frames).

    Returns:
        :class:`RenderResult` with the final images ``(B, H, W, 3)`` in ``[0, 255]``.

    Warns:
        DeadChannelWarning: some image's gradient was zero at every step.
    """
    result = _ascend(objective, backbone, image_param, transforms, num_steps, step_size,
                     normalize, seed, verbose, callbacks)
    _warn_if_dead(result.largest_gradient, objective.name)
    return result


# ---------------------------------------------------------------- multiscale


def _octave(objective, backbone, images, transforms, num_steps, step_size, seed, tile_size,
            progress) -> RenderResult:
    """One octave of :func:`render_octaves`: a pixel-image render, or a tiled ascent."""
    if tile_size is None:
        image_param = pixel_image(*images.shape[1:3], len(images), init=images)
        return _ascend(objective, backbone, image_param, transforms, num_steps, step_size, True,
                       seed, False, progress=progress)
    return _tiled_ascent(value_function(objective, backbone), backbone, images[0], num_steps,
                         step_size, tile_size, seed, progress=progress)


def render_octaves(objective: Objective, backbone: Backbone, size: int, num_octaves: int = 3,
                   octave_scale: float = 1.4, steps_per_octave: int = 20, step_size: float = 1.5,
                   transforms: Sequence[Transform] = (), batch: int = 1, seed: int = 0,
                   tile_size: int | None = None, verbose: bool = True) -> RenderResult:
    """Multiscale rendering: start at ``size / octave_scale**(num_octaves-1)``, upscale, continue.

    Large patterns form while the image is small (where they are cheap and the
    network sees them whole); each octave then adds finer detail. The sizes come
    from :func:`neuralart_helpers.octaves.octave_shapes`, the upscaling from
    :func:`neuralart_helpers.images.resize`. With ``tile_size``, every step uses
    tiled gradients (memory flat in the size, no transforms); otherwise each
    octave is one :func:`render` of a pixel image.

    Returns:
        :class:`RenderResult`; ``snapshots`` holds the images at the end of each octave.
    """
    check_steps(steps_per_octave, step_size)
    shapes = octaves.check_octaves(size, size, num_octaves, octave_scale, backbone.min_size,
                                   backbone.name)
    if tile_size is not None and (transforms or batch != 1):
        raise NeuralArtError("Tiled rendering works on one image without transforms: with "
                             "tile_size, leave transforms empty and batch at 1.")
    images = grey_noise(*shapes[0], batch, seed=seed)
    progress = ascent.progress_bar(num_octaves * steps_per_octave, verbose, "value")
    values, snapshots, largest = [], [], np.zeros(batch, np.float32)
    for octave, shape in enumerate(shapes):
        result = _octave(objective, backbone, resize(images, *shape), transforms,
                         steps_per_octave, step_size, seed + octave, tile_size, progress)
        images = result.images
        values += result.values
        snapshots.append(images)
        largest = np.maximum(largest, result.largest_gradient)
    _warn_if_dead(largest, objective.name)
    return RenderResult(images, values, snapshots, largest)


# ---------------------------------------------------------------- tiled ascent


def tiled_ascent(value_fn: ValueFunction, backbone: Backbone, image: np.ndarray, num_steps: int,
                 step_size: float, tile_size: int, seed: int = 0,
                 verbose: bool = True) -> RenderResult:
    """Normalised gradient ascent on one ``(H, W, 3)`` image of any size, with tiled gradients.

    Each step draws a random shift (seeded by ``seed``), computes the area-weighted
    tiled gradient (:func:`neuralart_helpers.tiling.tiled_loss_and_gradient`),
    divides it by its standard deviation, adds ``step_size`` times it and clips to
    ``[0, 255]``.

    Args:
        value_fn: ``(1, h, w, 3)`` pixels -> scalar, e.g. from :func:`value_function`.
        backbone: for the size checks (``tile_size // 2`` must reach ``backbone.min_size``).
        image: the start, ``(H, W, 3)`` in ``[0, 255]`` (not modified).

    Returns:
        :class:`RenderResult` with ``images`` of shape ``(1, H, W, 3)``; ``values``
        are the area-weighted averages of the tile values.

    Warns:
        DeadChannelWarning: the gradient was zero at every step.
    """
    result = _tiled_ascent(value_fn, backbone, image, num_steps, step_size, tile_size, seed,
                           verbose)
    _warn_if_dead(result.largest_gradient, "the objective")
    return result


def _tiled_ascent(value_fn: ValueFunction, backbone: Backbone, image: np.ndarray, num_steps: int,
                  step_size: float, tile_size: int, seed: int, verbose: bool = False,
                  progress=None) -> RenderResult:
    check_steps(num_steps, step_size)
    tiling.check_tile_size(tile_size, backbone.min_size, backbone.name)
    image = np.asarray(image, dtype=np.float32)
    backbone.check_size(*image.shape[:2])
    loss_and_gradient = ascent.compiled_gradient(value_fn)
    rng, largest = np.random.default_rng(seed), 0.0

    def step(state: np.ndarray, index: int):
        nonlocal largest
        shift = tiling.random_shift(tile_size, rng)
        value, gradient = tiling.tiled_loss_and_gradient(loss_and_gradient, state, tile_size, shift)
        largest = max(largest, float(np.abs(gradient).max()))
        moved = state + step_size * ascent.normalize_by_std(gradient).numpy()
        return value, np.clip(moved, 0.0, 255.0, out=moved)

    result = ascent.run(step, image, num_steps, verbose=verbose, label="value", progress=progress)
    return RenderResult(result.state[None], result.values, largest_gradient=np.array([largest]),
                        stopped=result.stopped)
