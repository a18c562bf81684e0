"""L-BFGS for images (chapter 04): the two-loop recursion and a box-constrained loop.

Gatys et al. minimised the style-transfer loss with L-BFGS. Chapter 04 builds it from
two pieces, each a short function on arrays of any shape (an image, say):

* :func:`two_loop_direction`: Nocedal's two-loop recursion. From the last ``m`` steps
  ``s_i = x_{i+1} - x_i`` and gradient changes ``y_i = g_{i+1} - g_i`` it returns
  ``-H g``, where ``H`` is the BFGS approximation of the inverse Hessian, without ever
  forming a matrix: ``4 m`` dot products and vector updates.
* :func:`minimize`: the loop around it. A backtracking line search (Armijo's
  sufficient decrease, with quadratic interpolation) picks the step length; an
  optional box ``[lower, upper]`` (pixel values) is kept by projection: pixels at a
  bound that the gradient pushes outwards are frozen, the others move and are clipped.

The loss and its gradient come from TensorFlow; the optimiser's own arithmetic is
NumPy float32 on flat vectors: BLAS dot products and in-place vector updates (:func:`axpy`,
no temporary arrays), ``s.y`` kept with each pair, and BLAS held to one thread while the loop
runs, because OpenBLAS threads that spin between calls fight TensorFlow's for a 2-core CPU
(with a threaded ``axpy`` an evaluation of the pyramid bands of a 320 px image took 93 ms;
on one thread 64 ms, against 54 ms for the bare compiled pass). Alone, on such a 410 000-long
vector with ``history=5`` and Adam's ``H0``, that arithmetic costs about 5 ms per evaluation
(10 ms with NumPy's temporaries). At 256 px, with a box, it is about 1.5 ms per evaluation;
SciPy's L-BFGS-B spends 1.5 to 1.8 network passes' worth on its own bookkeeping per
evaluation (``benchmarks/bench_style.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

from neuralart_helpers.errors import NeuralArtError

# minimize(preconditioner="adam"): the running mean's momentum, the floor added to the RMS (as a
# share of its mean), and the power of the RMS in H0. The best measured on the tutorial's style
# loss (beta 0.5 to 0.99, power 0.5 to 3 tried; see minimize).
ADAM_PRECONDITIONER = {"beta": 0.9, "epsilon": 0.1, "power": 1.5}

LossAndGradient = Callable[[np.ndarray], "tuple[float, np.ndarray]"]


def vdot(a: np.ndarray, b: np.ndarray) -> float:
    """The dot product of two arrays of the same shape, as if both were flattened."""
    return float(np.vdot(a, b))


def axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y + alpha * x`` for 1-D arrays, written into ``y`` where BLAS can.

    BLAS's ``axpy`` makes one pass and no temporary: on a 1.6 MB float32 vector it took
    0.045 ms against 0.23 ms for NumPy's ``y += alpha * x`` (2 cores). It writes into ``y``
    when ``y`` is writeable and of the wider dtype of the two (float32 and float32, or a
    float64 ``y``); otherwise ``y`` is left alone and a new array comes back: use the result.
    """
    if not y.flags.writeable:  # SciPy's wrapper would write into it anyway
        y = y.copy()
    return blas.get_blas_funcs("axpy", (x, y))(x, y, a=alpha)


def two_loop_direction(gradient: np.ndarray, steps: Sequence[np.ndarray],
                       gradient_changes: Sequence[np.ndarray],
                       diagonal: np.ndarray | None = None,
                       curvatures: Sequence[float] | None = None) -> np.ndarray:
    """The L-BFGS search direction ``-H gradient`` by the two-loop recursion.

    Args:
        gradient: ``g``, any shape.
        steps: ``s_i = x_{i+1} - x_i``, oldest first, each of the gradient's shape.
        gradient_changes: ``y_i = g_{i+1} - g_i``, matching ``steps``; every pair must
            have ``s_i . y_i > 0`` (the loop in :func:`minimize` drops the others).

    Returns:
        ``-H g`` (the gradient's shape). ``H`` starts as ``gamma I`` with
        ``gamma = s.y / y.y`` of the newest pair (plain ``-g`` with no pairs) and takes
        one BFGS update per pair, so ``H y_newest = s_newest`` (the secant equation).
        With ``diagonal`` (positive, the gradient's shape) it starts as ``gamma D`` instead,
        ``D = diag(diagonal)``, ``gamma = s.y / (y.D y)``: a per-pixel scale (see
        ``minimize``'s ``preconditioner``). ``curvatures``: the ``s_i . y_i`` if known
        (:func:`minimize` keeps them), else computed here.
    """
    steps = [np.ravel(s) for s in steps]  # flat views: axpy wants 1-D arrays
    changes = [np.ravel(y) for y in gradient_changes]
    if curvatures is None:
        curvatures = [vdot(s, y) for s, y in zip(steps, changes)]
    rhos = [1.0 / curvature for curvature in curvatures]
    q = np.array(gradient, dtype=np.result_type(gradient, np.float32)).ravel()  # a copy
    alphas = []
    for s, y, rho in reversed(list(zip(steps, changes, rhos))):  # newest first
        alpha = rho * vdot(s, q)
        q = axpy(-alpha, y, q)  # q -= alpha y
        alphas.append(alpha)
    if steps:
        newest = changes[-1]
        if diagonal is None:
            q *= curvatures[-1] / vdot(newest, newest)
        else:
            scale = np.ravel(diagonal)
            q *= scale
            q *= curvatures[-1] / vdot(newest * scale, newest)
    for s, y, rho, alpha in zip(steps, changes, rhos, reversed(alphas)):  # oldest first
        beta = rho * vdot(y, q)
        q = axpy(alpha - beta, s, q)  # q += (alpha - beta) s
    return np.negative(q, out=q).reshape(np.shape(gradient))


@dataclass
class MinimizeResult:
    """What :func:`minimize` returns.

    Attributes:
        x: the best point seen (the loss was lowest there), the input's shape.
        loss: its loss.
        evaluations: how many times ``loss_and_gradient`` was called.
        iterations: accepted steps.
        message: why the loop stopped.
    """

    x: np.ndarray
    loss: float
    evaluations: int
    iterations: int
    message: str


def minimize(loss_and_gradient: LossAndGradient, x0, max_evaluations: int, *,
             history: int = 10, lower: float | None = None, upper: float | None = None,
             sufficient_decrease: float = 1e-4, max_trials: int = 20,
             tolerance: float = 1e-7, preconditioner: str | None = None,
             callback: Callable[[np.ndarray], None] | None = None) -> MinimizeResult:
    """Minimise ``loss_and_gradient`` from ``x0`` with L-BFGS, within a budget of calls.

    Args:
        loss_and_gradient: ``x -> (scalar loss, gradient of x's shape)``; ``x`` is a
            float32 array that is never changed afterwards (callers may keep it).
        x0: the start, any shape (``(H, W, 3)`` pixels in chapter 04).
        max_evaluations: the budget of ``loss_and_gradient`` calls (line-search trials
            included); the loop stops when it is spent.
        history: ``m``, the number of ``(s, y)`` pairs kept (3 to 20 is usual).
        lower, upper: an optional box; every ``x`` evaluated stays inside it.
        sufficient_decrease: Armijo's ``c1``: a step ``s`` is accepted when
            ``f(x + s) <= f(x) + c1 g.s``.
        max_trials: line-search trials before the memory is reset (then the loop stops
            if plain steepest descent cannot decrease the loss either).
        tolerance: stop once a step lowers the loss by less than this fraction of it
            (the default is about float32's resolution: smaller changes are round-off).
        preconditioner: ``None``, or ``"adam"``: start each recursion from a per-pixel
            ``H0`` of ``(sqrt(v) + eps mean(sqrt(v))) ** -power``, ``v`` the running mean of
            the squared gradients (Adam's second moment; ``ADAM_PRECONDITIONER``), instead of
            a multiple of the identity. On the TensorFlow tutorial's style loss at 192 px,
            with ``history=5``, it reached the loss of the tutorial's 1000 Adam steps 3.9x
            (chelsea/starry_night) and 2.4x (astronaut/the_scream) sooner than Adam, where
            plain L-BFGS took 2.4x and never (``benchmarks/bench_style.py --preconditioner
            adam --history 5 --pyramid-levels 0``).
        callback: called with the new ``x`` after every accepted step (not with the
            line search's rejected trials), e.g. to draw the path.

    BLAS (NumPy's and SciPy's) runs on one thread until ``minimize`` returns, during the
    calls to ``loss_and_gradient`` too (TensorFlow does not use it).

    Returns:
        A :class:`MinimizeResult`.
    """
    box = (lower, upper)
    counter, memory = _budget_and_memory(loss_and_gradient, np.shape(x0), max_evaluations,
                                         history, preconditioner)
    x = _project(np.array(x0, np.float32).ravel(), *box)  # flat inside, x0's shape outside
    with threadpool_limits(limits=1, user_api="blas"):  # see the module's docstring
        loss, gradient = counter(x)
        iterations, message = 0, f"spent the budget of {max_evaluations} evaluations"
        while not counter.spent:
            found, free, stop = _search(counter, memory, x, loss, gradient, box,
                                        sufficient_decrease, max_trials)
            if stop is not None:
                message = stop or message  # "" keeps the budget's message
                break
            if found is None:  # _search cleared the memory: steepest descent next
                continue
            candidate, new_loss, new_gradient, step = found
            memory.add(step, _masked(new_gradient - gradient, free))
            converged = loss - new_loss <= tolerance * abs(loss)
            x, loss, gradient, iterations = candidate, new_loss, new_gradient, iterations + 1
            if callback is not None:
                callback(x.reshape(counter.shape))
            if converged:
                message = f"the loss changed by less than {tolerance:g} of itself"
                break
        return _result(counter, x, loss, iterations, message)


def _search(counter: "_Budget", memory: "_Memory", x, loss, gradient, box,
            sufficient_decrease: float, max_trials: int):
    """One step's search from ``x``: ``(found, free, stop)``.

    ``found`` is :func:`_line_search`'s answer (None if no trial passed) and ``free`` the mask
    of pixels that could move (None without a box: all can); ``stop`` is None to go on, else
    why the loop ends ("" when the budget is spent).
    """
    free = _free_mask(x, gradient, *box)
    direction, slope = memory.direction(gradient, free)
    if direction is None:
        return None, free, "the projected gradient is zero: a stationary point"
    length = 1.0 if memory else _first_length(direction, *box)
    found = _line_search(counter, x, loss, gradient, direction, slope, length, box,
                         sufficient_decrease, max_trials)
    if found is None and (counter.spent or not memory):  # even steepest descent failed
        return None, free, "" if counter.spent else \
            "the line search found no lower loss along the steepest descent"
    if found is None:  # the curvature model led nowhere: start again from steepest descent
        memory.clear()
    return found, free, None


def _result(counter: "_Budget", x, loss, iterations: int, message: str) -> MinimizeResult:
    """The result at ``x``, or at the best trial if one beat ``x`` without passing Armijo's test."""
    if counter.best_loss < loss:
        x, loss = counter.best_x, counter.best_loss
    return MinimizeResult(x.reshape(counter.shape), float(loss), counter.count, iterations,
                          message)


def _budget_and_memory(loss_and_gradient, shape: tuple[int, ...], max_evaluations: int,
                       history: int, preconditioner: str | None) -> tuple["_Budget", "_Memory"]:
    """The counted objective and the curvature memory of :func:`minimize` (arguments checked)."""
    _check_budget(max_evaluations, history)
    moment = _SecondMoment.for_name(preconditioner)
    counter = _Budget(loss_and_gradient, shape, max_evaluations, moment)
    return counter, _Memory(history, moment.diagonal if moment else None)


def _check_budget(max_evaluations: int, history: int) -> None:
    if max_evaluations < 1:
        raise NeuralArtError(f"max_evaluations must be at least 1, got {max_evaluations}.")
    if history < 1:
        raise NeuralArtError(f"history must be at least 1, got {history}.")


class _Memory:
    """The newest ``history`` curvature pairs ``(s, y)`` and the direction they give."""

    def __init__(self, history: int, diagonal: Callable[[], np.ndarray | None] | None = None):
        self.steps: deque = deque(maxlen=history)
        self.changes: deque = deque(maxlen=history)
        self.curvatures: deque = deque(maxlen=history)  # s.y of each pair
        self.diagonal = diagonal or (lambda: None)  # the current per-pixel H0, if any

    def __bool__(self) -> bool:
        return bool(self.steps)

    def clear(self) -> None:
        for pairs in (self.steps, self.changes, self.curvatures):
            pairs.clear()

    def add(self, step: np.ndarray, change: np.ndarray) -> None:
        """Keep a pair only if its curvature ``s.y`` is positive, which keeps ``H`` positive
        definite (every direction then goes downhill). ``change`` is measured on the
        pixels that could move."""
        curvature = vdot(step, change)
        if curvature > 1e-10 * vdot(change, change):
            self.steps.append(step)
            self.changes.append(change)
            self.curvatures.append(curvature)

    def direction(self, gradient: np.ndarray, free: np.ndarray | None):
        """``(d, g.d)``: ``d = -H g`` on the free pixels; steepest descent if that is not
        downhill; ``(None, 0.0)`` if neither is (the projected gradient is zero)."""
        direction = _masked(two_loop_direction(_masked(gradient, free), self.steps, self.changes,
                                               self.diagonal(), self.curvatures), free)
        slope = vdot(gradient, direction)
        if slope < 0:
            return direction, slope
        self.clear()  # the curvature model went wrong: forget it
        direction = _masked(-gradient, free)
        slope = vdot(gradient, direction)
        return (direction, slope) if slope < 0 else (None, 0.0)


class _SecondMoment:
    """Adam's running mean ``v`` of the squared gradients, and the diagonal ``H0`` it gives."""

    def __init__(self, beta: float, epsilon: float, power: float):
        self.beta, self.epsilon, self.power = beta, epsilon, power
        self.mean: np.ndarray | None = None

    @classmethod
    def for_name(cls, name: str | None) -> "_SecondMoment | None":
        if name is None:
            return None
        if name != "adam":
            raise NeuralArtError(f"preconditioner must be None or 'adam', got {name!r}.")
        return cls(**ADAM_PRECONDITIONER)

    def update(self, gradient: np.ndarray) -> None:
        """``v <- beta v + (1 - beta) g**2``, in place (one temporary array: ``g**2``)."""
        squared = np.square(gradient)
        if self.mean is None:
            self.mean = squared
        else:
            self.mean *= self.beta
            self.mean = axpy(1 - self.beta, squared, self.mean)

    def diagonal(self) -> np.ndarray | None:
        if self.mean is None:
            return None
        root = np.sqrt(self.mean)
        root += self.epsilon * float(root.mean())
        return np.power(root, -self.power, out=root)


def _line_search(counter: "_Budget", x, loss, gradient, direction, slope, length, box,
                 sufficient_decrease, max_trials):
    """Backtrack from ``length`` along ``direction`` (``slope`` = g.direction) until Armijo's
    condition holds.

    Returns ``(x_new, loss_new, gradient_new, x_new - x)``, or None if no trial passed.
    """
    for _ in range(max_trials):
        if counter.spent:
            return None
        candidate = _project(x + length * direction, *box)
        new_loss, new_gradient = counter(candidate)
        step = candidate - x
        if new_loss <= loss + sufficient_decrease * vdot(gradient, step):
            return candidate, new_loss, new_gradient, step
        # Minimise the parabola through f(0), f'(0) and f(length); keep in [0.1, 0.5] x.
        excess = new_loss - loss - length * slope
        guess = -slope * length ** 2 / (2 * excess) if excess > 0 else 0.5 * length
        length = min(max(guess, 0.1 * length), 0.5 * length)
    return None


class _Budget:
    """Calls ``loss_and_gradient`` on flat ``x`` (seen in ``shape``), counts the calls,
    remembers the best point and feeds each gradient to the preconditioner's ``moment``."""

    def __init__(self, loss_and_gradient: LossAndGradient, shape: tuple[int, ...],
                 max_evaluations: int, moment: "_SecondMoment | None" = None):
        self.function, self.shape, self.max_evaluations = loss_and_gradient, shape, max_evaluations
        self.moment, self.count = moment, 0
        self.best_x, self.best_loss = None, float("inf")

    @property
    def spent(self) -> bool:
        return self.count >= self.max_evaluations

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, gradient = self.function(x.reshape(self.shape))
        self.count += 1
        loss, gradient = float(loss), np.asarray(gradient, np.float32).ravel()
        if loss < self.best_loss:
            self.best_x, self.best_loss = x, loss
        if self.moment is not None:
            self.moment.update(gradient)
        return loss, gradient


def _first_length(direction: np.ndarray, lower: float | None, upper: float | None) -> float:
    """The first trial step, before any curvature is known, as a multiple of ``direction``.

    In a box: long enough to move the pixel pushed hardest across the whole box (the
    line search then shortens it; this is scale-free, whatever the loss's units).
    Without one: a step of Euclidean length 1, as SciPy's L-BFGS-B takes.
    """
    if lower is not None and upper is not None:
        return (upper - lower) / float(np.abs(direction).max())
    return 1.0 / float(np.linalg.norm(direction))


def _project(x: np.ndarray, lower: float | None, upper: float | None) -> np.ndarray:
    """``x`` clipped into the box (unchanged without bounds)."""
    if lower is None and upper is None:
        return x
    return np.clip(x, -np.inf if lower is None else lower, np.inf if upper is None else upper)


def _free_mask(x: np.ndarray, gradient: np.ndarray, lower: float | None,
               upper: float | None) -> np.ndarray | None:
    """1 where ``x`` may move, 0 where it sits on a bound and descent would cross it; None
    (all free) without a box."""
    if lower is None and upper is None:
        return None
    stuck = np.zeros(x.shape, bool)
    if lower is not None:
        stuck |= (x <= lower) & (gradient > 0)
    if upper is not None:
        stuck |= (x >= upper) & (gradient < 0)
    return (~stuck).astype(np.float32)


def _masked(a: np.ndarray, free: np.ndarray | None) -> np.ndarray:
    """``a`` on the free pixels (0 elsewhere); ``a`` itself when all are free."""
    return a if free is None else a * free
