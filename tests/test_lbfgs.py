"""The course's L-BFGS: the two-loop recursion against dense BFGS, and the loop on problems
whose minimum is known."""

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize, rosen, rosen_der

from neuralart_helpers import lbfgs


def random_pairs(rng, n: int, count: int):
    """``count`` steps and the gradient changes of the quadratic with Hessian ``A``."""
    factor = rng.normal(size=(n, n))
    hessian = factor @ factor.T + n * np.eye(n)
    steps = [rng.normal(size=n) for _ in range(count)]
    return hessian, steps, [hessian @ s for s in steps]


def dense_bfgs_inverse(steps, changes) -> np.ndarray:
    """H from gamma I and one BFGS update per pair, oldest first, as an n x n matrix."""
    n = steps[0].size
    gamma = steps[-1] @ changes[-1] / (changes[-1] @ changes[-1])
    inverse = gamma * np.eye(n)
    for s, y in zip(steps, changes):
        rho = 1.0 / (s @ y)
        left = np.eye(n) - rho * np.outer(s, y)
        inverse = left @ inverse @ left.T + rho * np.outer(s, s)
    return inverse


@pytest.mark.parametrize("count", [1, 3, 6])
def test_two_loop_equals_dense_bfgs(count):
    rng = np.random.default_rng(count)
    _, steps, changes = random_pairs(rng, 8, count)
    gradient = rng.normal(size=8)
    direction = lbfgs.two_loop_direction(gradient, steps, changes)
    np.testing.assert_allclose(direction, -dense_bfgs_inverse(steps, changes) @ gradient,
                               rtol=1e-9, atol=1e-12)


def test_two_loop_satisfies_the_secant_equation_on_images():
    rng = np.random.default_rng(0)
    steps = [rng.normal(size=(5, 4, 3)).astype(np.float32) for _ in range(4)]
    changes = [2.0 * s + 0.1 * rng.normal(size=s.shape).astype(np.float32) for s in steps]
    direction = lbfgs.two_loop_direction(changes[-1], steps, changes)
    assert direction.shape == (5, 4, 3)
    np.testing.assert_allclose(direction, -steps[-1], rtol=1e-4, atol=1e-4)


def test_two_loop_without_pairs_is_steepest_descent():
    gradient = np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(lbfgs.two_loop_direction(gradient, [], []), -gradient)


def test_with_n_conjugate_pairs_the_direction_is_newton():
    # On a quadratic, BFGS keeps every secant equation H y_i = s_i when the steps are
    # conjugate (s_i A s_j = 0, as exact line searches make them); n of them pin H = A^-1.
    rng = np.random.default_rng(5)
    hessian, _, _ = random_pairs(rng, 4, 0)
    steps = list(np.linalg.eigh(hessian)[1].T * rng.uniform(0.5, 2, size=(4, 1)))
    changes = [hessian @ s for s in steps]
    gradient = rng.normal(size=4)
    np.testing.assert_allclose(lbfgs.two_loop_direction(gradient, steps, changes),
                               -np.linalg.solve(hessian, gradient), rtol=1e-6)


def quadratic(hessian, centre):
    def loss_and_gradient(x):
        difference = x.astype(np.float64) - centre
        return 0.5 * difference @ hessian @ difference, hessian @ difference
    return loss_and_gradient


def test_minimize_finds_the_centre_of_a_quadratic():
    rng = np.random.default_rng(1)
    hessian, _, _ = random_pairs(rng, 20, 0)
    centre = rng.uniform(-3, 3, size=20)
    # 20 unknowns, 15 evaluations: gradient descent would still be far; L-BFGS is there.
    result = lbfgs.minimize(quadratic(hessian, centre), np.zeros(20), 15)
    np.testing.assert_allclose(result.x, centre, atol=1e-3)
    assert result.loss < 1e-6
    assert result.evaluations == 15 and result.iterations >= 10


def test_minimize_in_a_box_stops_on_the_faces():
    # Separable quadratic with its centre partly outside [0, 1]: the answer is the clipped
    # centre. Every point evaluated must lie inside the box.
    rng = np.random.default_rng(2)
    curvatures = rng.uniform(0.5, 50, size=30)
    centre = rng.uniform(-1, 2, size=30)
    seen = []

    def loss_and_gradient(x):
        seen.append(x.copy())
        return quadratic(np.diag(curvatures), centre)(x)

    result = lbfgs.minimize(loss_and_gradient, np.full(30, 0.5), 200, lower=0.0, upper=1.0,
                            tolerance=1e-12)
    np.testing.assert_allclose(result.x, np.clip(centre, 0, 1), atol=1e-4)
    assert min(x.min() for x in seen) >= 0.0 and max(x.max() for x in seen) <= 1.0
    assert result.evaluations == len(seen)


def test_minimize_rosenbrock_like_scipy():
    start = np.array([-1.2, 1.0, -0.5, 0.8], np.float32)
    function = lambda x: (rosen(x.astype(np.float64)), rosen_der(x.astype(np.float64)))
    path = []
    result = lbfgs.minimize(function, start, 400, callback=path.append)
    np.testing.assert_allclose(result.x, np.ones(4), atol=2e-3)
    assert len(path) == result.iterations  # one call per accepted step, none for trials
    path_losses = [rosen(x.astype(np.float64)) for x in path]
    assert all(later < earlier for earlier, later in zip(path_losses, path_losses[1:]))
    np.testing.assert_array_equal(path[-1], result.x)
    reference = scipy_minimize(function, start.astype(np.float64), jac=True, method="L-BFGS-B")
    assert result.evaluations <= 1.25 * reference.nfev  # 61 against SciPy's 55
    assert "stationary" in result.message


def test_round_off_changes_stop_the_loop():
    # In float32 the loss stops improving after about ten steps: the default tolerance ends
    # the run there instead of spending the budget on round-off.
    rng = np.random.default_rng(3)
    centre = rng.uniform(-50, 300, size=1000).astype(np.float32)
    curvatures = rng.uniform(0.5, 2, size=1000).astype(np.float32)

    def loss_and_gradient(x):
        difference = x - centre
        return float(0.5 * np.vdot(curvatures * difference, difference)), curvatures * difference

    result = lbfgs.minimize(loss_and_gradient, np.full(1000, 128, np.float32), 300,
                            lower=0.0, upper=255.0)
    best = loss_and_gradient(np.clip(centre, 0, 255))[0]
    assert result.loss == pytest.approx(best, rel=1e-6)
    assert result.evaluations < 30 and "less than 1e-07" in result.message


def test_budget_is_respected_and_the_best_point_returned():
    calls = []

    def loss_and_gradient(x):
        calls.append(float(x @ x))
        return x @ x, 2 * x

    result = lbfgs.minimize(loss_and_gradient, np.array([3.0, -4.0, 1.0]), 3)
    assert len(calls) == 3 == result.evaluations
    assert result.loss == pytest.approx(min(calls), rel=1e-6)
    assert result.message == "spent the budget of 3 evaluations"


def test_a_stationary_start_stops_at_once():
    result = lbfgs.minimize(lambda x: (float(x @ x), 2 * x), np.zeros(3), 50)
    assert result.evaluations == 1 and result.iterations == 0
    assert "stationary" in result.message
    # On the lower face with the gradient pointing out of the box, nothing can move either.
    pushed = lbfgs.minimize(lambda x: (float(x.sum()), np.ones_like(x)), np.zeros(3), 50,
                            lower=0.0)
    assert pushed.evaluations == 1 and "stationary" in pushed.message


def test_bad_budget_and_history():
    with pytest.raises(ValueError, match="max_evaluations must be at least 1"):
        lbfgs.minimize(lambda x: (0.0, x), np.zeros(2), 0)
    with pytest.raises(ValueError, match="history must be at least 1"):
        lbfgs.minimize(lambda x: (0.0, x), np.zeros(2), 5, history=0)


@pytest.mark.parametrize("count", [1, 4])
def test_two_loop_with_a_diagonal_start_equals_dense_bfgs_from_gamma_d(count):
    rng = np.random.default_rng(10 + count)
    _, steps, changes = random_pairs(rng, 8, count)
    gradient, diagonal = rng.normal(size=8), rng.uniform(0.1, 10, size=8)
    gamma = steps[-1] @ changes[-1] / (changes[-1] @ (diagonal * changes[-1]))
    inverse = gamma * np.diag(diagonal)
    for s, y in zip(steps, changes):
        rho = 1.0 / (s @ y)
        left = np.eye(8) - rho * np.outer(s, y)
        inverse = left @ inverse @ left.T + rho * np.outer(s, s)
    np.testing.assert_allclose(lbfgs.two_loop_direction(gradient, steps, changes, diagonal),
                               -inverse @ gradient, rtol=1e-9, atol=1e-12)
    # a diagonal of ones is the usual gamma I; the secant equation holds either way
    np.testing.assert_allclose(lbfgs.two_loop_direction(gradient, steps, changes, np.ones(8)),
                               lbfgs.two_loop_direction(gradient, steps, changes), rtol=1e-12)
    np.testing.assert_allclose(lbfgs.two_loop_direction(changes[-1], steps, changes, diagonal),
                               -steps[-1], rtol=1e-8, atol=1e-10)


def badly_scaled(x):
    """sum a_i |x_i - 1|^1.2 with a_i spread over four decades: kinked at the minimum, as the
    L1 total variation of the tutorial's style loss is, and scaled per coordinate."""
    scales = np.exp(np.random.default_rng(0).uniform(np.log(1e-2), np.log(1e2), size=x.size))
    difference = x.astype(np.float64) - 1
    return (float(np.sum(scales * np.abs(difference) ** 1.2)),
            scales * 1.2 * np.sign(difference) * np.abs(difference) ** 0.2)


def test_the_adam_preconditioner_wins_on_a_badly_scaled_kinked_loss():
    start = np.zeros(400)
    plain = lbfgs.minimize(badly_scaled, start, 150, history=5)
    scaled = lbfgs.minimize(badly_scaled, start, 150, history=5, preconditioner="adam")
    assert scaled.evaluations == plain.evaluations == 150
    assert scaled.loss < 0.1 * plain.loss, (scaled.loss, plain.loss)
    assert scaled.loss < 1e-3 * badly_scaled(start)[0]
    with pytest.raises(lbfgs.NeuralArtError, match="preconditioner"):
        lbfgs.minimize(badly_scaled, start, 10, preconditioner="rmsprop")


def test_axpy_updates_in_place_and_handles_mixed_dtypes():
    rng = np.random.default_rng(30)
    x, y = rng.normal(size=(2, 1000)).astype(np.float32)
    expected = y + 0.25 * x
    result = lbfgs.axpy(0.25, x, y)
    assert result is y  # float32, 1-D, contiguous: BLAS writes into y, no new array
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    wide = rng.normal(size=1000)  # a float64 y is the wider one: written in place
    expected = wide - 2.0 * x
    assert lbfgs.axpy(-2.0, x, wide) is wide
    np.testing.assert_allclose(wide, expected, rtol=1e-6)
    narrow = y.copy()  # a float32 y with a float64 x: y left alone, a new float64 array back
    result = lbfgs.axpy(0.5, wide, narrow)
    assert result is not narrow and result.dtype == np.float64
    np.testing.assert_array_equal(narrow, y)
    np.testing.assert_allclose(result, y + 0.5 * wide, rtol=1e-6)
    locked = y.copy()  # a read-only y (TensorFlow's outputs are) is never written into
    locked.setflags(write=False)
    np.testing.assert_allclose(lbfgs.axpy(1.0, x, locked), y + x, rtol=1e-6)
    np.testing.assert_array_equal(locked, y)


def test_two_loop_uses_the_curvatures_it_is_given():
    rng = np.random.default_rng(31)
    _, steps, changes = random_pairs(rng, 8, 3)
    gradient = rng.normal(size=8)
    curvatures = [s @ y for s, y in zip(steps, changes)]
    np.testing.assert_allclose(lbfgs.two_loop_direction(gradient, steps, changes,
                                                        curvatures=curvatures),
                               lbfgs.two_loop_direction(gradient, steps, changes), rtol=1e-12)
    doubled = [2 * c for c in curvatures]
    wrong = lbfgs.two_loop_direction(gradient, steps, changes, curvatures=doubled)
    assert np.abs(wrong - lbfgs.two_loop_direction(gradient, steps, changes)).max() > 1e-3


def test_minimize_keeps_the_shape_of_x0_and_accepts_read_only_gradients():
    # The loop works on flat vectors; the loss, the callback and the result see x0's shape.
    # TensorFlow's outputs come as read-only views, so the loop must never write into them.
    rng = np.random.default_rng(32)
    centre = rng.uniform(-2, 2, size=(4, 5, 3)).astype(np.float32)
    seen, path = [], []

    def loss_and_gradient(x):
        seen.append((x, x.copy()))  # the loop promises never to change an x it evaluated
        gradient = 3 * (x - centre)
        gradient.setflags(write=False)
        return float(1.5 * np.sum((x - centre) ** 2)), gradient

    for preconditioner, box in ((None, {}), ("adam", {}), (None, {"lower": -1.0, "upper": 1.0})):
        result = lbfgs.minimize(loss_and_gradient, np.zeros((4, 5, 3)), 40,
                                preconditioner=preconditioner, callback=path.append, **box)
        assert result.x.shape == (4, 5, 3)
        np.testing.assert_allclose(result.x, np.clip(centre, box.get("lower", -9),
                                                     box.get("upper", 9)), atol=1e-3)
    assert {x.shape for x, _ in seen} == {(4, 5, 3)} == {x.shape for x in path}
    assert all(np.array_equal(x, kept) for x, kept in seen)


def test_blas_runs_on_one_thread_inside_the_loop_only():
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return {library["num_threads"] for library in threadpool_info()
                if library["user_api"] == "blas"}

    inside = []

    def loss_and_gradient(x):
        inside.append(blas_threads())
        return float(x @ x), 2 * x

    with threadpool_limits(limits=2, user_api="blas"):  # two threads even on a 1-core runner
        before = blas_threads()
        lbfgs.minimize(loss_and_gradient, np.ones(3), 5)
        after = blas_threads()
    assert before == {2} == after
    assert inside and all(threads == {1} for threads in inside)


def test_the_adam_diagonal_follows_its_formula():
    moment = lbfgs._SecondMoment(beta=0.9, epsilon=0.1, power=1.5)
    first, second = np.array([1.0, -2.0, 0.5], np.float32), np.array([3.0, 0.0, -1.0], np.float32)
    moment.update(first)
    moment.update(second)
    mean = 0.9 * first ** 2 + 0.1 * second ** 2
    root = np.sqrt(mean)
    np.testing.assert_allclose(moment.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(moment.diagonal(), (root + 0.1 * root.mean()) ** -1.5, rtol=1e-5)
