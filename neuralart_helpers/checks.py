"""Automatic checks for the exercises, in the manner of CS231n.

A check cell calls the student's function on fixed inputs and compares the
result with numbers computed by the reference solution, printing the relative
error so the student knows at once whether the code is right.
"""

from __future__ import annotations

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


def check_close(name: str, value, expected, tolerance: float = 1e-5) -> float:
    """Print the relative error of ``value`` against ``expected``; raise if it exceeds ``tolerance``."""
    error = relative_error(value, expected)
    verdict = "OK" if error <= tolerance else "WRONG"
    print(f"{name}: relative error {error:.2e} (tolerance {tolerance:.0e}) {verdict}")
    if error > tolerance:
        raise AssertionError(f"{name} differs from the expected numbers (relative error "
                             f"{error:.2e} > {tolerance:.0e}); look at your solution again.")
    return error
