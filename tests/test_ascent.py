"""The shared core: the one loop (values, callbacks, the non-finite policy), normalisers, the compiled gradient."""

import math
import warnings

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import ascent, errors


def counting_step(state, index):
    """The value of a state is the state itself; each step adds 1."""
    return float(state), state + 1


# ---------------------------------------------------------------- the loop


def test_run_records_the_value_before_each_step():
    result = ascent.run(counting_step, 10, 5, verbose=False)
    assert result.values == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert result.state == 15 and result.stopped is None
    assert result.parts == {"total": [10.0, 11.0, 12.0, 13.0, 14.0]}


def test_zero_steps_return_the_start():
    result = ascent.run(counting_step, 3, 0, verbose=False)
    assert result.state == 3 and result.values == [] and result.stopped is None


def test_callbacks_get_index_value_and_the_new_state():
    calls, other = [], []
    ascent.run(counting_step, 0, 3, verbose=False,
               callbacks=[lambda *args: calls.append(args), lambda *args: other.append(args)])
    assert calls == [(0, 0.0, 1), (1, 1.0, 2), (2, 2.0, 3)]
    assert other == calls  # every callback is called at every step


def test_a_callback_returning_true_stops_after_that_step():
    calls = []

    def record(index, value, state):
        calls.append(index)  # called even at the step where the other callback stops

    result = ascent.run(counting_step, 0, 100, verbose=False,
                        callbacks=[lambda index, value, state: index == 2, record])
    assert result.values == [0.0, 1.0, 2.0] and result.state == 3
    assert calls == [0, 1, 2] and result.stopped is None
    # None and False go on
    assert ascent.run(counting_step, 0, 4, verbose=False,
                      callbacks=[lambda *args: None, lambda *args: False]).state == 4


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_value_stops_and_keeps_the_last_good_state(bad):
    visited = []

    def step(state, index):
        visited.append(state)
        return (bad if index == 3 else float(state)), state + 1

    # index 3 is the fourth step: messages count steps from 1
    with pytest.warns(errors.NonFiniteLossWarning, match="at step 4") as caught:
        result = ascent.run(step, 0, 10, verbose=False)
    assert visited == [0, 1, 2, 3]  # no step after the bad one
    # state 3's value was not finite: the result is state 2, the last one whose value was
    assert result.state == 2
    assert result.values == [0.0, 1.0, 2.0] and result.parts["total"] == [0.0, 1.0, 2.0]
    assert "at step 4" in result.stopped and str(bad) in result.stopped
    assert "step size" in result.stopped
    assert len(caught) == 1 and str(caught[0].message) == result.stopped


def test_a_non_finite_first_value_returns_the_start():
    with pytest.warns(errors.NonFiniteLossWarning, match="value became nan at step 1"):
        result = ascent.run(lambda state, index: (math.nan, state + 1), 7, 5, verbose=False,
                            label="value")
    assert result.state == 7 and result.values == []


def test_a_non_finite_value_calls_no_callback():
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", errors.NonFiniteLossWarning)
        ascent.run(lambda state, index: (math.nan if index == 1 else 1.0, state + 1), 0, 5,
                   verbose=False, callbacks=[lambda *args: calls.append(args)])
    assert calls == [(0, 1.0, 1)]


def test_dict_values_fill_the_parts_and_total_is_the_value():
    def step(state, index):
        return {"total": 3.0 * state, "content": 1.0 * state, "style": 2.0 * state}, state + 1

    result = ascent.run(step, 1, 3, verbose=False)
    assert result.values == [3.0, 6.0, 9.0]
    assert result.parts == {"total": [3.0, 6.0, 9.0], "content": [1.0, 2.0, 3.0],
                            "style": [2.0, 4.0, 6.0]}


def test_tensor_values_are_recorded_as_floats():
    result = ascent.run(lambda state, index: (tf.constant(2.5) * index, state), None, 3,
                        verbose=False)
    assert result.values == [0.0, 2.5, 5.0] and all(type(v) is float for v in result.values)


def test_progress_bar_is_none_when_quiet():
    assert ascent.progress_bar(10, verbose=False) is None
    bar = ascent.progress_bar(3, verbose=True)
    assert bar.target == 3


# ---------------------------------------------------------------- normalisers


def test_the_normalisers_divide_by_what_they_say():
    g = np.array([1.0, 2.0, 3.0, 6.0], np.float32)  # mean 3, mean |g| 3
    np.testing.assert_allclose(ascent.normalize_by_std(g).numpy(), g / np.sqrt(3.5), rtol=1e-6)
    np.testing.assert_allclose(ascent.normalize_by_mean_abs(g).numpy(), g / 3.0, rtol=1e-6)
    np.testing.assert_allclose(ascent.normalize_by_rms(g).numpy(), g / np.sqrt(12.5), rtol=1e-6)
    signed = np.array([1.0, -1.0, 3.0, -3.0], np.float32)  # mean 0: std == rms == sqrt(5)
    np.testing.assert_allclose(ascent.normalize_by_mean_abs(signed).numpy(), signed / 2.0,
                               rtol=1e-6)
    np.testing.assert_allclose(ascent.normalize_by_std(signed).numpy(), signed / np.sqrt(5.0),
                               rtol=1e-6)
    np.testing.assert_allclose(ascent.normalize_by_rms(signed).numpy(), signed / np.sqrt(5.0),
                               rtol=1e-6)


@pytest.mark.parametrize("normalize", [ascent.normalize_by_std, ascent.normalize_by_mean_abs,
                                       ascent.normalize_by_rms])
def test_zero_stays_zero_and_axes_are_separate(normalize):
    np.testing.assert_array_equal(normalize(np.zeros((2, 3, 3), np.float32)).numpy(), 0.0)
    rows = np.array([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 0.0, 0.0], [10.0, 20.0, 30.0, 60.0]],
                    np.float32)
    out = normalize(rows, axis=1).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[1], 0.0)                  # an all-zero row stays zero
    np.testing.assert_allclose(out[2], out[0], rtol=1e-6)        # scale-free, row by row
    np.testing.assert_allclose(out[0], normalize(rows[0]).numpy(), rtol=1e-6)


def test_clip_pixels():
    np.testing.assert_array_equal(ascent.clip_pixels(tf.constant([-5.0, 0.0, 100.0, 255.0, 300.0])),
                                  [0.0, 0.0, 100.0, 255.0, 255.0])


# ---------------------------------------------------------------- the compiled gradient


def test_compiled_gradient_of_the_sum_of_squares_is_2x_traced_once():
    loss_and_gradient = ascent.compiled_gradient(lambda x: tf.reduce_sum(x ** 2))
    rng = np.random.default_rng(0)
    for shape in [(1, 4, 5, 3), (1, 7, 2, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        loss, gradient = loss_and_gradient(x)
        assert float(loss) == pytest.approx(float((x.astype(np.float64) ** 2).sum()), rel=1e-5)
        np.testing.assert_allclose(gradient.numpy(), 2 * x, rtol=1e-6)
    assert loss_and_gradient.experimental_get_tracing_count() == 1


def test_compiled_gradient_keeps_its_shape_contract():
    loss_and_gradient = ascent.compiled_gradient(lambda x: tf.reduce_sum(x), shape=(None, 3))
    _, gradient = loss_and_gradient(np.zeros((4, 3), np.float32))
    np.testing.assert_array_equal(gradient.numpy(), np.ones((4, 3)))
    with pytest.raises((TypeError, ValueError)):
        loss_and_gradient(np.zeros((4, 2), np.float32))
