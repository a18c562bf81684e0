"""The optimisers of chapter 04, each a plain function with the signature of ``lbfgs.minimize``.

``optimizer(loss_and_gradient, x0, max_evaluations, *, ..., callback)`` minimises
any loss from ``x0`` within a budget of loss-and-gradient evaluations:

- :func:`adam` (Kingma and Ba 2015; the TensorFlow tutorial's choice) and
  :func:`gradient_descent` (normalised, with a decaying learning rate: the Gluon
  tutorial's) run on the shared loop :func:`neuralart_helpers.ascent.run`, their
  update compiled together with the loss into one ``tf.function``;
  ``loss_and_gradient`` is then a TensorFlow function of a tensor.
- :func:`neuralart_helpers.lbfgs.minimize`, the course's L-BFGS, and
  :func:`scipy_lbfgs`, SciPy's L-BFGS-B, take a NumPy ``loss_and_gradient``.

Images are pixels in ``[0, 255]``, kept there by projection (``lower``/``upper``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from neuralart_helpers import ascent, lbfgs, presets

# x -> (loss, or {"total": loss, ...}; gradient of x's shape)
TensorLossAndGradient = Callable[[tf.Tensor], tuple]


def adam_update(image: tf.Tensor, gradient: tf.Tensor, first_moment: tf.Tensor,
                second_moment: tf.Tensor, step: tf.Tensor, learning_rate: float,
                beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7):
    """One Adam step (Kingma and Ba 2015), the same rule as ``keras.optimizers.Adam``.

    Args:
        image, gradient, first_moment, second_moment: tensors of one shape.
        step: the 1-based step number (float), for the bias correction.

    Returns:
        ``(new_image, new_first_moment, new_second_moment)``.
    """
    first_moment = beta_1 * first_moment + (1.0 - beta_1) * gradient
    second_moment = beta_2 * second_moment + (1.0 - beta_2) * tf.square(gradient)
    corrected_rate = learning_rate * tf.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
    image = image - corrected_rate * first_moment / (tf.sqrt(second_moment) + epsilon)
    return image, first_moment, second_moment


def normalized_gradient_update(image: tf.Tensor, gradient: tf.Tensor,
                               learning_rate: float) -> tf.Tensor:
    """Gradient descent with the gradient divided by its mean absolute value.

    Every step then moves pixels by about ``learning_rate`` whatever the scale of
    the loss, so one learning rate works for all weights and backbones. It is
    DeepDream's normalisation (:func:`neuralart_helpers.ascent.normalize_by_mean_abs`),
    used to go down instead of up.
    """
    return image - learning_rate * ascent.normalize_by_mean_abs(gradient)


def decayed_learning_rate(initial_rate: float, step: int, num_steps: int,
                          final_fraction: float = 0.1) -> float:
    """Exponential decay from ``initial_rate`` at step 0 to ``final_fraction`` of it at the end."""
    return initial_rate * final_fraction ** (step / max(1, num_steps - 1))


def _bounds(lower: float | None, upper: float | None) -> list[tf.Tensor]:
    """The box as two float32 scalars (``None`` is an infinite bound)."""
    return [tf.constant(-np.inf if lower is None else lower, tf.float32),
            tf.constant(np.inf if upper is None else upper, tf.float32)]


def _image_callbacks(callback):
    """Hand ``callback(index, value, image)`` the image of an optimiser state ``(image, ...)``."""
    return [] if callback is None else [lambda index, value, state: callback(index, value, state[0])]


def compile_adam(loss_and_gradient: TensorLossAndGradient, shape) -> Callable:
    """Loss, gradient and one Adam update of an image of ``shape``, as one ``tf.function``.

    Every setting is a tensor argument, so one trace serves every run (keep the function).
    """
    spec, scalar = tf.TensorSpec(shape, tf.float32), tf.TensorSpec([], tf.float32)

    @tf.function(input_signature=[spec, spec, spec] + [scalar] * 7)
    def step(image, first, second, count, learning_rate, beta_1, beta_2, epsilon, lower, upper):
        loss, gradient = loss_and_gradient(image)
        image, first, second = adam_update(image, gradient, first, second, count, learning_rate,
                                           beta_1, beta_2, epsilon)
        return loss, (tf.clip_by_value(image, lower, upper), first, second)

    return step


def adam(loss_and_gradient: TensorLossAndGradient, x0, max_evaluations: int, *,
         learning_rate: float = presets.LEARNING_RATES["adam"], beta_1: float = 0.9,
         beta_2: float = 0.999, epsilon: float = 1e-7, lower: float | None = 0.0,
         upper: float | None = 255.0, callback: ascent.Callback | None = None,
         verbose: bool = False, compiled: Callable | None = None) -> ascent.AscentResult:
    """Minimise with Adam, one evaluation per step, projecting onto ``[lower, upper]``.

    ``compiled``: a :func:`compile_adam` of this loss, to reuse its trace across runs.

    Returns:
        :class:`neuralart_helpers.ascent.AscentResult` whose ``state`` is
        ``(x, first_moment, second_moment)``; ``values`` (and ``parts``) are the
        losses before each step.
    """
    x0 = tf.convert_to_tensor(x0, tf.float32)
    compiled = compiled or compile_adam(loss_and_gradient, x0.shape)
    settings = [tf.constant(value, tf.float32) for value in (learning_rate, beta_1, beta_2, epsilon)]
    settings += _bounds(lower, upper)
    step = lambda state, index: compiled(*state, tf.constant(index + 1.0), *settings)
    start = (x0, tf.zeros_like(x0), tf.zeros_like(x0))
    return ascent.run(step, start, max_evaluations, callbacks=_image_callbacks(callback),
                      verbose=verbose)


def compile_gradient_descent(loss_and_gradient: TensorLossAndGradient, shape) -> Callable:
    """Loss, gradient and one normalised descent update of an image of ``shape``, compiled once."""
    spec, scalar = tf.TensorSpec(shape, tf.float32), tf.TensorSpec([], tf.float32)

    @tf.function(input_signature=[spec] + [scalar] * 3)
    def step(image, rate, lower, upper):
        loss, gradient = loss_and_gradient(image)
        moved = normalized_gradient_update(image, gradient, rate)
        return loss, (tf.clip_by_value(moved, lower, upper),)

    return step


def gradient_descent(loss_and_gradient: TensorLossAndGradient, x0, max_evaluations: int, *,
                     learning_rate: float = presets.LEARNING_RATES["gd"],
                     final_fraction: float = 0.1, lower: float | None = 0.0,
                     upper: float | None = 255.0, callback: ascent.Callback | None = None,
                     verbose: bool = False, compiled: Callable | None = None) -> ascent.AscentResult:
    """Normalised gradient descent, the rate decaying to ``final_fraction`` of itself.

    ``compiled``: a :func:`compile_gradient_descent` of this loss, to reuse its trace.

    Returns:
        :class:`neuralart_helpers.ascent.AscentResult` whose ``state`` is ``(x,)``.
    """
    x0 = tf.convert_to_tensor(x0, tf.float32)
    compiled = compiled or compile_gradient_descent(loss_and_gradient, x0.shape)
    box = _bounds(lower, upper)

    def step(state, index):
        rate = decayed_learning_rate(learning_rate, index, max_evaluations, final_fraction)
        return compiled(state[0], tf.constant(rate, tf.float32), *box)

    return ascent.run(step, (x0,), max_evaluations, callbacks=_image_callbacks(callback),
                      verbose=verbose)


def scipy_lbfgs(loss_and_gradient: lbfgs.LossAndGradient, x0, max_evaluations: int, *,
                history: int = 10, lower: float | None = None, upper: float | None = None,
                callback: Callable[[np.ndarray], None] | None = None) -> lbfgs.MinimizeResult:
    """SciPy's L-BFGS-B (Byrd et al. 1995) behind the signature of :func:`lbfgs.minimize`.

    SciPy (>= 1.15) calls BLAS on image-long vectors; OpenBLAS threads would then fight
    TensorFlow's for the cores and each iteration gets several times slower (scipy
    issues #22438, #23191), so BLAS runs on one thread here (``threadpoolctl``).
    """
    from scipy.optimize import Bounds, minimize
    from threadpoolctl import threadpool_limits

    x0 = np.asarray(x0, np.float32)
    objective = _CountingObjective(loss_and_gradient, x0, max_evaluations)
    bounds = None if lower is None and upper is None else \
        Bounds(-np.inf if lower is None else lower, np.inf if upper is None else upper)
    options = {"maxiter": max_evaluations, "maxfun": max_evaluations, "maxcor": history,
               "ftol": 0.0, "gtol": 0.0}
    iterations, message = 0, f"spent the budget of {max_evaluations} evaluations"
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            result = minimize(objective, x0.astype(np.float64).ravel(), jac=True,
                              method="L-BFGS-B", bounds=bounds, options=options,
                              callback=callback and (lambda xk: callback(xk.reshape(x0.shape))))
        iterations, message = int(result.nit), str(result.message)
    except _BudgetSpent:
        pass
    return lbfgs.MinimizeResult(objective.best_x, objective.best_loss, objective.count,
                                iterations, message)


class _BudgetSpent(Exception):
    """Raised inside SciPy's objective once the budget of evaluations is spent."""


class _CountingObjective:
    """SciPy's float64 flat objective around a float32 image loss; counts calls, keeps the best."""

    def __init__(self, loss_and_gradient: lbfgs.LossAndGradient, x0: np.ndarray,
                 max_evaluations: int):
        self.function, self.shape, self.max_evaluations = loss_and_gradient, x0.shape, max_evaluations
        self.count, self.best_x, self.best_loss = 0, x0, np.inf

    def __call__(self, flat: np.ndarray):
        if self.count >= self.max_evaluations:  # SciPy may overrun maxfun inside a line search
            raise _BudgetSpent
        x = flat.reshape(self.shape).astype(np.float32)
        loss, gradient = self.function(x)
        self.count += 1
        if loss < self.best_loss:
            self.best_x, self.best_loss = x, float(loss)
        return float(loss), np.asarray(gradient, np.float64).ravel()
