"""The exercise checks: they pass right answers and name the usual wrong ones."""

import numpy as np
import pytest

from neuralart_helpers.checks import check_close, diagnose, relative_error

EXPECTED = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]])


def test_a_right_answer_passes_and_prints_its_error(capsys):
    assert check_close("grid", EXPECTED * (1 + 1e-7), EXPECTED) < 1e-6
    assert "OK" in capsys.readouterr().out


def test_the_generic_mistakes_are_named():
    assert "opposite sign" in diagnose(-EXPECTED, EXPECTED)
    assert "transposed" in diagnose(EXPECTED.T, EXPECTED)  # shape (3, 2) for (2, 3)
    square = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert "transposed" in diagnose(square.T, square)
    assert "0.25 times" in diagnose(EXPECTED / 4, EXPECTED)
    off = EXPECTED.copy()
    off[1, 2] = 7.0
    assert diagnose(off, EXPECTED) == ("The largest difference is at index (1, 2): yours 7, "
                                       "expected 6.5.")


def test_a_listed_mistake_wins_and_is_in_the_error(capsys):
    ddof_one = EXPECTED * 1.2
    with pytest.raises(AssertionError, match="It looks like ddof=1"):
        check_close("std", ddof_one, EXPECTED, mistakes={"ddof=1 in the std": ddof_one,
                                                          "no border crop": EXPECTED + 1})
    printed = capsys.readouterr().out
    assert "WRONG" in printed and "ddof=1" in printed


def test_a_wrong_shape_is_reported_not_crashed(capsys):
    with pytest.raises(AssertionError, match=r"shape \(3,\), the expected \(2, 3\)"):
        check_close("grid", [1.0, 2.0, 3.0], EXPECTED)
    assert "relative error inf" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        relative_error([1.0], [1.0, 2.0])
