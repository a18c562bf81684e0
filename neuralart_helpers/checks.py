"""Automatic checks for the exercises, in the manner of CS231n.

A check cell calls the student's function on fixed inputs and compares the
result with numbers computed by the reference solution, printing the relative
error so the student knows at once whether the code is right. When it is not,
:func:`check_close` says how it differs: the shapes, the first differing value,
and which usual mistake the answer looks like (a wrong sign, a transposed axis,
a constant factor such as another normalisation, or one of the mistakes the
check cell lists, each computed from the same inputs).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np


def relative_error(value, expected) -> float:
    """Largest elementwise ``|value - expected| / max(1e-8, |value| + |expected|)``."""
    value = np.asarray(value, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if value.shape != expected.shape:
        raise AssertionError(f"shape {value.shape} is not the expected {expected.shape}")
    if value.size == 0:
        return 0.0
    return float(np.max(np.abs(value - expected) / np.maximum(1e-8, np.abs(value) + np.abs(expected))))


def _close(value: np.ndarray, other, tolerance: float) -> bool:
    other = np.asarray(other, np.float64)
    return value.shape == other.shape and relative_error(value, other) <= tolerance


def diagnose(value, expected, tolerance: float = 1e-5,
             mistakes: Mapping[str, object] | None = None) -> str:
    """Say how ``value`` differs from ``expected``, in one or two sentences.

    ``mistakes`` maps a description (``"ddof=1 in the standard deviation"``) to what
    that mistake computes on the check's inputs; the first one ``value`` matches is named.
    The generic ones are tried after them: the opposite sign, a transposed array, and
    a constant factor.
    """
    value, expected = np.asarray(value, np.float64), np.asarray(expected, np.float64)
    for description, result in (mistakes or {}).items():
        if _close(value, result, tolerance):
            return f"It looks like {description}."
    if value.shape != expected.shape:
        hint = " (transposed?)" if value.shape == expected.shape[::-1] else ""
        return f"Your result has shape {value.shape}, the expected {expected.shape}{hint}."
    if _close(-value, expected, tolerance):
        return "It has the opposite sign: check the direction of the step or the difference."
    if value.ndim >= 2 and _close(np.swapaxes(value, -1, -2), expected, tolerance):
        return "It is the expected array transposed: check which axis is which."
    ratio = np.divide(value, expected, out=np.full(value.shape, np.nan), where=expected != 0)
    finite = ratio[np.isfinite(ratio)]
    factor_hint = ""
    if finite.size and np.allclose(finite, finite[0], rtol=1e-3) and not np.isclose(finite[0], 1):
        factor_hint = (f" Every value is {finite[0]:.4g} times the expected one: a different "
                       f"normalisation or a missing factor?")
    index = np.unravel_index(np.argmax(np.abs(value - expected)), value.shape) if value.ndim else ()
    where = f" at index {tuple(int(i) for i in index)}" if value.ndim else ""
    return (f"The largest difference is{where}: yours {value[index]:.6g}, expected "
            f"{expected[index]:.6g}.{factor_hint}")


def check_close(name: str, value, expected, tolerance: float = 1e-5,
                mistakes: Mapping[str, object] | None = None) -> float:
    """Print the relative error of ``value`` against ``expected``; raise if it exceeds ``tolerance``.

    Args:
        name: what is checked, for the printed line.
        value: the student's result (array-like).
        expected: the reference numbers.
        tolerance: the largest relative error accepted.
        mistakes: ``{description: what that usual mistake computes}`` on the same inputs,
            so a wrong answer is told which mistake it looks like (see :func:`diagnose`).

    Returns:
        The relative error. Raises ``AssertionError`` with the diagnosis when it is too large.
    """
    array = np.asarray(value, np.float64)
    target = np.asarray(expected, np.float64)
    error = relative_error(array, target) if array.shape == target.shape else float("inf")
    verdict = "OK" if error <= tolerance else "WRONG"
    print(f"{name}: relative error {error:.2e} (tolerance {tolerance:.0e}) {verdict}")
    if error > tolerance:
        hint = diagnose(array, target, tolerance, mistakes)
        print(f"  {hint}")
        raise AssertionError(f"{name} differs from the expected numbers (relative error "
                             f"{error:.2e} > {tolerance:.0e}). {hint}")
    return error
