"""The shared core of the pixel-optimising chapters: one compiled gradient, one loop.

Feature visualisation (``render``), DeepDream (``dream``) and style transfer with
Adam or gradient descent (``style``) all change an image step by step. They
share:

- :func:`compiled_gradient`: ``loss -> (loss, gradient)`` as one ``tf.function``,
  traced once for every image size;
- three gradient normalisers named for what they divide by:
  :func:`normalize_by_std` (chapter 01), :func:`normalize_by_mean_abs` (chapters
  02 and 04) and :func:`normalize_by_rms` (chapter 03's Laplacian bands);
- :func:`clip_pixels`, the projection onto the pixel range ``[0, 255]``;
- :func:`run`, the one loop: it calls a step function, records the values, shows a
  ``keras.utils.Progbar``, calls the callbacks, and has one policy for a loss that
  becomes NaN or infinite: stop, keep the last image whose loss was finite, and
  say so with a :class:`~neuralart_helpers.errors.NonFiniteLossWarning`.

Values are in whatever units the caller's loss has; images are pixels in ``[0, 255]``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf

from neuralart_helpers.errors import NonFiniteLossWarning

# step(state, index) -> (value, new_state); value: a scalar, or {"total": scalar, ...}
Step = Callable[[Any, int], tuple]
# callback(index, value, new_state) -> True to stop the run early (None or False goes on)
Callback = Callable[[int, float, Any], Any]


def compiled_gradient(loss_fn: Callable[[tf.Tensor], tf.Tensor],
                      shape: Sequence[int | None] = (1, None, None, 3)):
    """``x -> (loss_fn(x), d loss_fn / d x)`` compiled once for every ``x`` of ``shape``.

    ``None`` entries of ``shape`` are free, so new image or tile sizes do not re-trace.
    Keep the returned function and call it at every step.
    """
    @tf.function(input_signature=[tf.TensorSpec(list(shape), tf.float32)])
    def loss_and_gradient(x: tf.Tensor):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        return loss, tape.gradient(loss, x)

    return loss_and_gradient


def _divide(gradient: tf.Tensor, scale: tf.Tensor, epsilon: float) -> tf.Tensor:
    return gradient / tf.maximum(scale, epsilon)  # epsilon only guards 0 / 0: 0 stays 0


def normalize_by_std(gradient: tf.Tensor, axis=None, epsilon: float = 1e-20) -> tf.Tensor:
    """``g / std(g)`` over ``axis`` (default: all), so a step moves a typical pixel by about 1."""
    gradient = tf.convert_to_tensor(gradient, tf.float32)
    return _divide(gradient, tf.math.reduce_std(gradient, axis=axis, keepdims=True), epsilon)


def normalize_by_mean_abs(gradient: tf.Tensor, axis=None, epsilon: float = 1e-20) -> tf.Tensor:
    """``g / mean(|g|)`` over ``axis`` (default: all): every step then moves pixels by about 1 on average."""
    gradient = tf.convert_to_tensor(gradient, tf.float32)
    return _divide(gradient, tf.reduce_mean(tf.abs(gradient), axis=axis, keepdims=True), epsilon)


def normalize_by_rms(gradient: tf.Tensor, axis=None, epsilon: float = 1e-10) -> tf.Tensor:
    """``g / sqrt(mean(g**2))`` over ``axis`` (default: all): unit root mean square.

    For a zero-mean signal (a Laplacian band) this equals :func:`normalize_by_std`;
    the seed articles call it ``normalize_std``.
    """
    gradient = tf.convert_to_tensor(gradient, tf.float32)
    rms = tf.sqrt(tf.reduce_mean(tf.square(gradient), axis=axis, keepdims=True))
    return _divide(gradient, rms, epsilon)


def clip_pixels(image: tf.Tensor) -> tf.Tensor:
    """Project onto the valid pixel range ``[0, 255]``."""
    return tf.clip_by_value(image, 0.0, 255.0)


@dataclass
class AscentResult:
    """What :func:`run` returns.

    Attributes:
        state: the final state (an image, or whatever the step carries); after a
            non-finite loss, the last state whose loss was finite.
        values: the loss (or ``value["total"]``) of the state before each step.
        parts: ``{name: [one value per step]}`` when the step returns a dict of losses.
        stopped: ``None``, or the message saying why the run stopped early.
    """

    state: Any
    values: list[float]
    parts: dict[str, list[float]] = field(default_factory=dict)
    stopped: str | None = None


def progress_bar(num_steps: int, verbose: bool = True, label: str = "loss"):
    """A ``keras.utils.Progbar`` of ``num_steps`` showing ``label``, or ``None`` when quiet."""
    import keras

    return keras.utils.Progbar(num_steps, stateful_metrics=[label]) if verbose else None


def _numbers(value) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {name: float(number) for name, number in value.items()}
    return {"total": float(value)}


def run(step: Step, start, num_steps: int, *, callbacks: Sequence[Callback] = (),
        verbose: bool = True, label: str = "loss", progress=None) -> AscentResult:
    """Call ``step`` ``num_steps`` times, from ``start``: the loop of every pixel optimiser.

    Args:
        step: ``step(state, index) -> (value, new_state)``; ``value`` is the loss of
            ``state`` (a scalar, or a dict of losses with a ``"total"``).
        start: the first state, e.g. an ``(H, W, 3)`` image.
        num_steps: how many steps (0 returns ``start``).
        callbacks: each is called as ``callback(index, value, new_state)`` after every
            step; one that returns ``True`` ends the run after that step.
        verbose: show a progress bar (ignored when ``progress`` is given).
        label: the name of the value, on the progress bar and in messages.
        progress: an existing ``Progbar`` to advance (several runs on one bar).

    Returns:
        :class:`AscentResult`. A NaN or infinite value stops the run at once with a
        :class:`~neuralart_helpers.errors.NonFiniteLossWarning`; ``state`` is then
        the last state whose value was finite (``start`` if the first one was not).
    """
    bar = progress if progress is not None else progress_bar(num_steps, verbose and num_steps > 0, label)
    state, last_good = start, start
    result = AscentResult(start, [])
    for index in range(int(num_steps)):
        value, new_state = step(state, index)
        numbers = _numbers(value)
        if not math.isfinite(numbers["total"]):
            result.stopped = (f"The {label} became {numbers['total']} at step {index + 1}; stopped and "
                              f"kept the last image whose {label} was finite. Lower the step size "
                              f"(or the weights).")
            warnings.warn(NonFiniteLossWarning(result.stopped), stacklevel=2)
            state = last_good
            break
        result.values.append(numbers["total"])
        for name, number in numbers.items():
            result.parts.setdefault(name, []).append(number)
        last_good, state = state, new_state
        if bar is not None:
            bar.add(1, [(label, numbers["total"])])
        if any([bool(callback(index, numbers["total"], state)) for callback in callbacks]):
            break
    result.state = state
    return result
