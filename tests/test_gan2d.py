"""The 2-D GAN: the ring of Gaussians, mode coverage, D*, Jensen-Shannon, the loss variants."""

import math

import keras
import numpy as np
import pytest

from neuralart_helpers import gan, gan2d
from neuralart_helpers.errors import NeuralArtError


def test_ring_shape_statistics_and_seed():
    points = gan2d.ring_of_gaussians(8000, seed=3)
    assert points.shape == (8000, 2) and points.dtype == np.float32
    centres = gan2d.mode_centres()
    assert centres.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0, rtol=1e-6)
    distances = np.linalg.norm(points[:, None] - centres[None], axis=2)
    nearest, offsets = distances.argmin(axis=1), points - centres[distances.argmin(axis=1)]
    assert np.bincount(nearest, minlength=8).min() > 8000 / 8 * 0.85  # modes equally likely
    assert offsets.std(axis=0) == pytest.approx([0.02, 0.02], rel=0.05)
    assert np.abs(points.mean(axis=0)).max() < 0.1
    np.testing.assert_array_equal(points, gan2d.ring_of_gaussians(8000, seed=3))
    assert not np.array_equal(points, gan2d.ring_of_gaussians(8000, seed=4))


def test_mode_coverage_is_exact_on_crafted_samples():
    centres, std = gan2d.mode_centres(), 0.02
    step = np.array([2.9 * std, 0.0], np.float32)
    samples = np.concatenate([
        np.repeat(centres[[0]], 100, axis=0),          # mode 0: far more than its share
        np.repeat(centres[[1]] + step, 30, axis=0),    # mode 1: 2.9 std away, still inside
        np.repeat(centres[[2]], 5, axis=0),            # mode 2: exactly 1/4 of 160/8 = 20
        np.repeat(centres[[3]], 4, axis=0),            # mode 3: one short of a quarter share
        np.zeros((20, 2), np.float32),                 # the centre of the ring: no mode's
        centres[[4]] + np.array([[0.0, 3.1 * std]], np.float32)])  # 3.1 std: not mode 4's
    assert len(samples) == 160
    covered, quality = gan2d.mode_coverage(samples, centres, std)
    assert covered == 3
    assert quality == pytest.approx(139 / 160)
    assert gan2d.mode_coverage(gan2d.ring_of_gaussians(4000, seed=0), centres, std) == (
        8, pytest.approx(0.989, abs=0.006))  # 98.9% of a 2-D Gaussian lies within 3 std
    with pytest.raises(NeuralArtError, match="shape"):
        gan2d.mode_coverage(np.zeros((5, 3)), centres, std)
    counts, _ = gan2d.mode_counts(samples, centres, std)
    np.testing.assert_array_equal(counts, [100, 30, 5, 4, 0, 0, 0, 0])


def test_optimal_discriminator_formula():
    p_data, p_g = np.array([1.0, 3.0, 0.0, 2.0, 0.0]), np.array([1.0, 1.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(gan2d.optimal_discriminator(p_data, p_g),
                               [0.5, 0.75, 0.0, 1.0, 0.5])
    with pytest.raises(NeuralArtError):
        gan2d.optimal_discriminator(p_data, p_g[:3])


def test_jensen_shannon_of_identical_and_disjoint_densities():
    points, _ = gan2d.plane_grid(3.0, 121)
    p = gan2d.mixture_density(points)
    assert gan2d.jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-12)
    left, right = (points[:, 0] < 0).astype(float), (points[:, 0] > 0).astype(float)
    assert gan2d.jensen_shannon(left, right) == pytest.approx(math.log(2))
    assert 0 < gan2d.jensen_shannon(left, left + right) < math.log(2)


def test_value_function_at_d_star_is_twice_js_minus_2_ln_2():
    points, _ = gan2d.plane_grid(3.0, 201)
    p_data = gan2d.mixture_density(points, std=0.1)  # wide enough for the grid's 0.03 cells
    p_g = gan2d.mixture_density(points, [[0.5, 0.0], [-1.0, 1.0]], std=0.5)
    d_star = gan2d.optimal_discriminator(p_data, p_g)
    js = gan2d.jensen_shannon(p_data, p_g)
    assert 0.1 < js < math.log(2)
    assert gan2d.value_function(d_star, p_data, p_g) == pytest.approx(
        2 * js - 2 * math.log(2), abs=1e-9)
    for other in (np.full_like(d_star, 0.5), np.clip(d_star + 0.1, 0.0, 0.99)):
        assert gan2d.value_function(other, p_data, p_g) < gan2d.value_function(
            d_star, p_data, p_g)  # D* maximises V for a fixed generator
    # Densities are integrated on the grid: the ring's sums to one.
    assert p_data.sum() * (6.0 / 200) ** 2 == pytest.approx(1.0, rel=1e-3)


def test_kde_density_and_decision_surface_shapes():
    samples = gan2d.ring_of_gaussians(500, seed=0)
    points, axis = gan2d.plane_grid(3.0, 121)
    density = gan2d.kde_density(samples, points, bandwidth=0.1)
    assert density.shape == (121 * 121,) and density.min() >= 0
    assert density.sum() * (axis[1] - axis[0]) ** 2 == pytest.approx(1.0, rel=0.02)
    surface = gan2d.decision_surface(gan2d.discriminator_2d(), 3.0, 31)
    assert surface.shape == (31, 31) and 0.0 <= surface.min() and surface.max() <= 1.0


def test_losses_share_the_course_gan_losses():
    real, fake = keras.ops.convert_to_tensor([[0.3], [-1.0]]), keras.ops.convert_to_tensor([[2.0]])
    assert float(gan2d.discriminator_loss_2d("nonsaturating", real, fake)) == pytest.approx(
        float(gan.discriminator_loss(real, fake)))
    assert float(gan2d.generator_loss_2d("nonsaturating", fake)) == pytest.approx(
        float(gan.generator_loss(fake)))
    # minimax: log(1 - sigmoid(2)) = -softplus(2); smoothing: target 0.9 for real points.
    minimax = float(gan2d.generator_loss_2d("minimax", fake))
    assert minimax == pytest.approx(-math.log1p(math.e ** 2))
    smoothed = float(gan2d.discriminator_loss_2d("minimax", real, fake, real_target=0.9))
    standard = float(gan.discriminator_loss(real, fake))
    assert smoothed == pytest.approx(standard + 0.1 * (0.3 - 1.0) / 2)
    assert float(gan2d.discriminator_loss_2d("lsgan", real, fake)) == pytest.approx(
        0.5 * ((0.7 ** 2 + 2.0 ** 2) / 2 + 4.0))
    with pytest.raises(NeuralArtError, match="loss must be one of"):
        gan2d.train_2d("hinge", steps=1)
    with pytest.raises(NeuralArtError, match="wgan-gp"):
        gan2d.train_2d("wgan-gp", steps=1, real_target=0.9)


@pytest.mark.slow
@pytest.mark.parametrize("loss", gan2d.LOSSES)
def test_each_loss_runs_and_its_discriminator_lowers_its_loss(loss):
    keras.utils.set_random_seed(0)
    model = gan2d.GAN2D(gan2d.generator_2d(), gan2d.discriminator_2d(), loss,
                        n_critic=2 if loss == "wgan-gp" else 1, seed=0)
    model.compile(gan.make_optimizer(0.0), gan.make_optimizer(1e-3))  # the generator held still
    real = gan2d.ring_of_gaussians(40 * 2 * 128, seed=0)
    history = model.fit(real, batch_size=2 * 128 if loss == "wgan-gp" else 128, epochs=3,
                        shuffle=False, verbose=0).history
    # one value per epoch: the last step's
    d_loss = [float(value) for value in history["d_loss"]]
    assert all(np.isfinite(d_loss)) and d_loss[-1] < d_loss[0]


@pytest.mark.parametrize("kernel, penalty", [([[0.6], [0.8]], 0.0), ([[2.0], [0.0]], 1.0)])
def test_gradient_penalty_of_a_linear_critic(kernel, penalty):
    point = keras.Input((2,))
    critic = keras.Model(point, keras.layers.Dense(1)(point))
    critic.layers[-1].kernel.assign(np.array(kernel, np.float32))
    model = gan2d.GAN2D(gan2d.generator_2d(), critic, "wgan-gp", n_critic=5)
    real, fake = gan2d.ring_of_gaussians(64, seed=0), gan2d.ring_of_gaussians(64, seed=1)
    assert float(model.gradient_penalty(real, fake)) == pytest.approx(penalty, abs=1e-6)


def test_snapshots_are_taken_every_so_many_steps():
    _, history = gan2d.train_2d("lsgan", steps=60, snapshot_every=20, seed=0)
    assert history["frame_steps"] == [20, 40, 60]
    assert [frame.shape for frame in history["frames"]] == [(1000, 2)] * 3
    assert history["seconds"] > 0 and len(history["d_loss"]) == 6  # every 10 steps


@pytest.mark.slow
def test_a_run_is_repeatable_for_a_seed():
    runs = [gan2d.train_2d("nonsaturating", steps=100, seed=5) for _ in range(2)]
    noise = gan2d.fixed_noise_2d(200)
    np.testing.assert_array_equal(runs[0][0].generate(noise), runs[1][0].generate(noise))
    assert runs[0][1]["d_loss"] == runs[1][1]["d_loss"]


SEEDS = range(6)


@pytest.fixture(scope="module")
def recipe_runs():
    """``{recipe: (modes covered, quality) per seed}`` for the chapter's two recipes, six seeds each.

    One run is chaotic: which blobs it keeps changes with the seed and with the CPU's rounding
    (oneDNN on or off gives other runs, as an AVX2 CPU does against an AVX-512 one), so the tests
    judge averages over seeds, with margins measured under both roundings (see the asserts).
    """
    return {name: np.array([gan2d.evaluate_2d(gan2d.train_2d(**{**recipe, "seed": seed})[0])
                            for seed in SEEDS])
            for name, recipe in gan2d.RECIPES.items()}


@pytest.mark.slow
def test_the_chapter_recipe_covers_most_modes_on_average(recipe_runs):
    covered, quality = recipe_runs["covers"].T
    # seeds 0-7 on one AVX2 CPU, oneDNN on: 8 7 7 7 6 7 7 8 modes, quality 0.57-0.82;
    # oneDNN off (other rounding): 8 8 7 8 8 6 7 8, quality 0.64-0.82
    assert covered.mean() >= 6 and quality.mean() > 0.45, recipe_runs


@pytest.mark.slow
def test_the_collapse_recipe_keeps_fewer_modes_than_the_chapter_recipe(recipe_runs):
    collapsed, covered = recipe_runs["collapses"][:, 0], recipe_runs["covers"][:, 0]
    # seeds 0-7, oneDNN on: 6 3 4 4 5 4 3 6 modes (mean 4.4); oneDNN off: 4 2 1 6 4 2 4 3 (3.3).
    # Over seeds 0-5 the gap to the chapter recipe is 2.7 and 4.3 modes; a third of that must stay.
    assert collapsed.mean() <= covered.mean() - 1.0, recipe_runs


def test_jensen_shannon_survives_densities_at_the_edge_of_underflow():
    p = np.array([5e-324, 1.0, 0.0])  # the smallest positive double: half of it is 0
    q = np.array([0.0, 1.0, 1.0])
    value = gan2d.jensen_shannon(p, q)
    assert np.isfinite(value)
    # p = (0, 1, 0), q = (0, 1/2, 1/2): JS = (ln(4/3) + 0.5 ln(2/3) + 0.5 ln 2) / 2
    expected = 0.5 * (np.log(4 / 3) + 0.5 * np.log(2 / 3) + 0.5 * np.log(2))
    assert value == pytest.approx(expected, rel=1e-9)
