"""A GAN in two dimensions: a ring of Gaussians, where everything can be drawn (chapter 05).

Real data are points ``x`` in the plane drawn from a mixture of ``num_modes`` small
Gaussians on a circle (radius 2, standard deviation 0.02: the ring of Metz et al. 2017,
"Unrolled GANs", and Srivastava et al. 2017, "VEEGAN"). Because the data density
``p_data`` is known exactly, the chapter can draw what is otherwise invisible: the
discriminator's decision surface ``D(x)``, the optimal discriminator
``D* = p_data / (p_data + p_g)``, the Jensen-Shannon divergence the game minimises,
and a generator that collapses onto a few modes.

Conventions: points are float32 ``(N, 2)``; noise is standard normal
``(N, latent_dim)``; the discriminator returns one unbounded number per point
``(N, 1)``: a logit for the cross-entropy losses, a score for ``lsgan`` and
``wgan-gp``. ``GAN2D`` is the course's ``gan.GAN`` with a choice of loss.

Densities on a grid (``plane_grid``): the ring's modes are 0.02 wide, so a grid that
resolves them needs cells of about 0.02 (``resolution >= 301`` for ``extent = 3``);
a picture of ``D*`` may rather use a wider ring (``std = 0.1``) and a KDE bandwidth
of 0.05-0.1 for the generated points.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers import data, gan
from neuralart_helpers.errors import NeuralArtError

LOSSES = ("nonsaturating", "minimax", "lsgan", "wgan-gp")
NUM_MODES, RADIUS, STD = 8, 2.0, 0.02     # the ring of Metz et al. (2017)
LATENT_DIM = 16
GP_WEIGHT = 10.0                          # gradient penalty weight (Gulrajani et al. 2017)
# The chapter's two runs, `train_2d(**RECIPES[name])`. On average over seeds "covers" reaches
# most of the 8 modes; "collapses", with a learning rate 3x higher, constant, and small batches,
# ends on fewer (tests/test_gan2d.py holds both to that; one run's modes depend on seed and CPU).
RECIPES = {
    "covers": {"loss": "nonsaturating", "steps": 2000, "batch_size": 256,
               "learning_rate": 2e-3, "final_learning_rate": 2e-4, "seed": 0},
    "collapses": {"loss": "nonsaturating", "steps": 2000, "batch_size": 64,
                  "learning_rate": 6e-3, "seed": 0},
}


# --- The data: a ring of Gaussians ---------------------------------------------------------


def mode_centres(num_modes: int = NUM_MODES, radius: float = RADIUS) -> np.ndarray:
    """The mixture's means, float32 ``(num_modes, 2)``, evenly spaced on a circle of ``radius``.

    The first centre is at ``(radius, 0)``; the others follow anticlockwise.
    """
    if num_modes < 1 or radius <= 0:
        raise NeuralArtError(f"A ring needs num_modes >= 1 and radius > 0, got {num_modes} and "
                             f"{radius}; the chapter uses 8 and 2.0.")
    angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def ring_of_gaussians(num_samples: int, num_modes: int = NUM_MODES, radius: float = RADIUS,
                      std: float = STD, seed: int = 0) -> np.ndarray:
    """``num_samples`` points, float32 ``(N, 2)``, from the ring (each mode equally likely).

    Each point is a centre chosen uniformly at random plus ``std`` times standard
    normal noise; the same ``seed`` gives the same points.
    """
    if num_samples < 0 or std <= 0:
        raise NeuralArtError(f"num_samples must be >= 0 and std > 0, got {num_samples} and {std}.")
    rng = np.random.default_rng(seed)
    centres = mode_centres(num_modes, radius)
    points = centres[rng.integers(num_modes, size=num_samples)]
    return (points + std * rng.standard_normal((num_samples, 2))).astype(np.float32)


def mode_counts(samples, centres, std: float = STD) -> tuple[np.ndarray, float]:
    """``(counts, quality)``: how many of ``samples`` ``(N, 2)`` each mode holds, int ``(K,)``,
    and the share of high-quality samples in ``[0, 1]``.

    A sample is of high quality when it lies within ``3 std`` of its nearest centre
    (``centres`` ``(K, 2)``), and then belongs to that mode; others belong to none.
    Counts over training snapshots show a generator hopping from mode to mode.
    """
    samples, centres = np.asarray(samples, np.float64), np.asarray(centres, np.float64)
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise NeuralArtError(f"Samples must have shape (N, 2) with N >= 1, got {samples.shape}; "
                             f"pass model.generate(noise) or ring_of_gaussians(N).")
    distances = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(samples)), nearest] <= 3.0 * std
    return np.bincount(nearest[good], minlength=len(centres)), float(good.mean())


def mode_coverage(samples, centres, std: float = STD, min_share: float = 0.25) -> tuple[int, float]:
    """``(modes covered, share of high-quality samples)`` for ``samples`` ``(N, 2)``.

    The rule of Srivastava et al. (2017, VEEGAN) and Metz et al. (2017): a sample is of
    high quality when within ``3 std`` of its nearest centre, and then belongs to that
    mode (``mode_counts``). A mode is covered when it holds at least ``min_share`` of
    its fair share, ``min_share * N / num_modes`` samples (a quarter by default).
    Returns an int in ``[0, num_modes]`` and a float in ``[0, 1]``.
    """
    counts, quality = mode_counts(samples, centres, std)
    return int(np.sum(counts >= min_share * len(samples) / len(centres))), quality


# --- The networks -------------------------------------------------------------------------


def generator_2d(latent_dim: int = LATENT_DIM, units: int = 128, layers: int = 2) -> keras.Model:
    """Noise ``(N, latent_dim)`` -> points ``(N, 2)``, unbounded: ``layers`` dense ReLU, then 2.

    As in Metz et al. (2017), without BatchNorm, so each point depends on its own noise only.
    """
    noise = keras.Input((latent_dim,), name="noise")
    x = noise
    for _ in range(layers):
        x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(noise, keras.layers.Dense(2, name="point")(x), name="generator_2d")


def discriminator_2d(units: int = 128, layers: int = 2) -> keras.Model:
    """Points ``(N, 2)`` -> one unbounded number each ``(N, 1)`` (a logit or a critic's score)."""
    point = keras.Input((2,), name="point")
    x = point
    for _ in range(layers):
        x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(point, keras.layers.Dense(1, name="logit")(x), name="discriminator_2d")


# --- The losses ----------------------------------------------------------------------------


def discriminator_loss_2d(loss: str, real, fake, real_target: float = 1.0):
    """The discriminator's (or critic's) loss, a scalar, from its outputs on real and fake points.

    ``nonsaturating`` and ``minimax`` share the cross-entropy ``gan.discriminator_loss``;
    with ``real_target < 1`` (one-sided label smoothing, Salimans et al. 2016) the real
    points' target is ``real_target``. ``lsgan``: ``((D(x) - t)^2 + D(G(z))^2) / 2``
    (Mao et al. 2017). ``wgan-gp``: ``mean D(G(z)) - mean D(x)``, the negative of the
    critic's estimate of the Wasserstein distance (the penalty is added in ``GAN2D``).
    """
    _check_loss(loss)
    if loss in ("nonsaturating", "minimax"):
        if real_target == 1.0:
            return gan.discriminator_loss(real, fake)
        smoothed = keras.ops.binary_crossentropy(keras.ops.full_like(real, real_target), real,
                                                 from_logits=True)
        generated = keras.ops.binary_crossentropy(keras.ops.zeros_like(fake), fake,
                                                  from_logits=True)
        return keras.ops.mean(smoothed) + keras.ops.mean(generated)
    if loss == "lsgan":
        return 0.5 * (keras.ops.mean((real - real_target) ** 2) + keras.ops.mean(fake ** 2))
    return keras.ops.mean(fake) - keras.ops.mean(real)


def generator_loss_2d(loss: str, fake):
    """The generator's loss, a scalar, from the discriminator's outputs ``(N, 1)`` on its points.

    ``nonsaturating``: ``gan.generator_loss``, ``-mean log D(G(z))``. ``minimax``: the
    original ``mean log(1 - D(G(z)))`` (= ``-softplus(logit)``), which saturates when
    ``D(G(z))`` is near 0. ``lsgan``: ``(D(G(z)) - 1)^2 / 2``. ``wgan-gp``: ``-mean D(G(z))``.
    """
    _check_loss(loss)
    if loss == "nonsaturating":
        return gan.generator_loss(fake)
    if loss == "minimax":
        return -keras.ops.mean(keras.ops.softplus(fake))
    if loss == "lsgan":
        return 0.5 * keras.ops.mean((fake - 1.0) ** 2)
    return -keras.ops.mean(fake)


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise NeuralArtError(f"loss must be one of {LOSSES}, got {loss!r}; "
                             f"'nonsaturating' is the standard one.")


# --- The game: the course's GAN with a choice of loss --------------------------------------


class GAN2D(gan.GAN):
    """``gan.GAN`` with a loss from ``LOSSES``, one-sided label smoothing and critic steps.

    ``train_step`` takes a batch of ``n_critic * B`` real points ``(n_critic * B, 2)``,
    makes ``n_critic`` discriminator steps on ``B`` points each (WGAN-GP uses 5), then
    one generator step on ``B`` fresh noise vectors. For ``wgan-gp`` each critic step
    adds ``gp_weight * mean((|grad D(x_hat)| - 1)^2)`` at points ``x_hat`` mixed at
    random between real and fake. One device only (no ``tf.distribute``).
    """

    def __init__(self, generator, discriminator, loss: str = "nonsaturating",
                 real_target: float = 1.0, n_critic: int = 1, gp_weight: float = GP_WEIGHT,
                 seed: int = 0, **kwargs):
        _check_loss(loss)
        if not 0.5 < real_target <= 1.0 or (loss == "wgan-gp" and real_target != 1.0):
            raise NeuralArtError(f"real_target must be in (0.5, 1] (0.9 for one-sided label "
                                 f"smoothing) and 1 for wgan-gp, got {real_target} with {loss}.")
        if n_critic < 1:
            raise NeuralArtError(f"n_critic must be >= 1 (5 for wgan-gp), got {n_critic}.")
        super().__init__(generator, discriminator, seed=seed, **kwargs)
        self.loss, self.real_target = loss, float(real_target)
        self.n_critic, self.gp_weight = int(n_critic), float(gp_weight)

    def gradient_penalty(self, real_points, fake_points):
        """``mean((|grad_x D(x)| - 1)^2)`` at random mixes of real and fake points (scalar >= 0)."""
        seed = self.seed_generator.next()
        mix = tf.random.stateless_uniform((tf.shape(real_points)[0], 1), seed=seed)
        mixed = mix * real_points + (1.0 - mix) * fake_points
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            scores = self.discriminator(mixed, training=True)
        norms = tf.norm(tape.gradient(scores, mixed) + 1e-12, axis=1)
        return tf.reduce_mean((norms - 1.0) ** 2)

    def discriminator_step(self, real_points):
        """One Adam step on the discriminator (critic) only; returns its loss (a scalar)."""
        fake_points = self.generator(self.sample_noise(tf.shape(real_points)[0]), training=True)
        with tf.GradientTape() as tape:
            loss = discriminator_loss_2d(self.loss, self.discriminator(real_points, training=True),
                                         self.discriminator(fake_points, training=True),
                                         self.real_target)
            if self.loss == "wgan-gp":
                loss = loss + self.gp_weight * self.gradient_penalty(real_points, fake_points)
        variables = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def generator_step(self, batch_size):
        """One Adam step on the generator only; returns its loss (a scalar)."""
        with tf.GradientTape() as tape:
            points = self.generator(self.sample_noise(batch_size), training=True)
            loss = generator_loss_2d(self.loss, self.discriminator(points, training=True))
        variables = self.generator.trainable_variables
        self.generator_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def train_step(self, real_points):
        """``fit`` calls this with ``(n_critic * B, 2)`` real points; returns both losses."""
        chunks = tf.split(real_points, self.n_critic)
        d_losses = [self.discriminator_step(chunk) for chunk in chunks]
        g_loss = self.generator_step(tf.shape(chunks[0])[0])
        return {"d_loss": tf.add_n(d_losses) / self.n_critic, "g_loss": g_loss}


class PointSnapshots(keras.callbacks.Callback):
    """Every ``every`` generator steps, keep ``model.generate(noise)`` ``(N, 2)`` in ``frames``.

    ``steps`` lists the step of each frame: the pictures of a generator hopping between modes.
    """

    def __init__(self, noise, every: int):
        super().__init__()
        self.noise, self.every = noise, max(int(every), 1)
        self.frames: list[np.ndarray] = []
        self.steps: list[int] = []

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.generator_optimizer.iterations.numpy())
        if step % self.every == 0:
            self.frames.append(self.model.generate(self.noise))
            self.steps.append(step)


def train_2d(loss: str = "nonsaturating", steps: int = 2000, batch_size: int = 256,
             learning_rate: float = 1e-3, seed: int = 0, real_target: float = 1.0,
             n_critic: int | None = None, latent_dim: int = LATENT_DIM,
             snapshot_every: int = 0, num_modes: int = NUM_MODES, std: float = STD,
             final_learning_rate: float | None = None,
             discriminator_learning_rate: float | None = None):
    """Train a ``GAN2D`` on the ring for ``steps`` generator steps; return ``(gan, history)``.

    Everything random derives from ``seed`` (the data, the weights, the noise), so a
    run is repeatable. Both networks use Adam (``beta_1 = 0.5``) at ``learning_rate``,
    decaying linearly to ``final_learning_rate`` if given (the discriminator's may be
    set apart, ``discriminator_learning_rate``). ``real_target = 0.9`` is
    one-sided label smoothing; ``n_critic`` defaults to 5 for ``wgan-gp``, else 1.

    Returns:
        The trained ``GAN2D`` and a dict: ``d_loss`` and ``g_loss`` (the last step of
        every ``gcd(50, snapshot_every)``: Keras runs that many steps per call),
        ``seconds`` (training time); with ``snapshot_every > 0`` also
        ``frames`` (generated points ``(1000, 2)`` every ``snapshot_every`` steps, from
        ``fixed_noise_2d(1000, latent_dim, seed)``) and ``frame_steps`` (their steps).
    """
    if steps < 1 or batch_size < 1:
        raise NeuralArtError(f"train_2d needs steps >= 1 and batch_size >= 1, got {steps} and "
                             f"{batch_size}; RECIPES['covers'] is a run that works.")
    n_critic = (5 if loss == "wgan-gp" else 1) if n_critic is None else n_critic
    if discriminator_learning_rate is None:
        discriminator_learning_rate = learning_rate
    keras.utils.set_random_seed(seed)
    model = GAN2D(generator_2d(latent_dim), discriminator_2d(), loss, real_target, n_critic,
                  seed=seed, name=f"gan2d_{loss}")
    model.compile(gan.make_optimizer(_rate(learning_rate, final_learning_rate, steps)),
                  gan.make_optimizer(_rate(discriminator_learning_rate, final_learning_rate,
                                           steps * n_critic)),
                  steps_per_execution=math.gcd(50, snapshot_every or 50))
    real = ring_of_gaussians(steps * n_critic * batch_size, num_modes, RADIUS, std, seed)
    dataset = data.without_autotune(tf.data.Dataset.from_tensor_slices(real).batch(n_critic * batch_size))
    losses, callbacks = gan.LossHistory(), []
    if snapshot_every:
        callbacks.append(PointSnapshots(fixed_noise_2d(1000, latent_dim, seed), snapshot_every))
    start = time.perf_counter()
    model.fit(dataset, epochs=1, verbose=0, callbacks=[losses, *callbacks])
    history = {**losses.steps, "seconds": time.perf_counter() - start}
    if callbacks:
        history.update(frames=callbacks[0].frames, frame_steps=callbacks[0].steps)
    return model, history


def _rate(start: float, end: float | None, steps: int):
    """``start``, or a linear decay from ``start`` to ``end`` over ``steps`` Adam steps."""
    if end is None:
        return start
    return keras.optimizers.schedules.PolynomialDecay(start, max(steps, 1), end, power=1.0)


def fixed_noise_2d(count: int = 1000, latent_dim: int = LATENT_DIM, seed: int = 0) -> np.ndarray:
    """The same standard normal noise ``(count, latent_dim)``, float32, for every picture."""
    return np.random.default_rng(seed + 1).standard_normal((count, latent_dim)).astype(np.float32)


def evaluate_2d(model: GAN2D, count: int = 2500, seed: int = 0, num_modes: int = NUM_MODES,
                std: float = STD) -> tuple[int, float]:
    """``mode_coverage`` of ``count`` generated points (noise from ``seed``): (modes, quality)."""
    points = model.generate(fixed_noise_2d(count, model.latent_dim, seed))
    return mode_coverage(points, mode_centres(num_modes), std)


# --- What the discriminator sees: surfaces and densities on a grid -------------------------


def plane_grid(extent: float = 3.0, resolution: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """``(points, axis)``: the ``resolution**2`` grid points float32 ``(R*R, 2)`` of the square
    ``[-extent, extent]^2``, row by row (``y`` slow, ``x`` fast), and the axis values ``(R,)``."""
    if extent <= 0 or resolution < 2:
        raise NeuralArtError(f"plane_grid needs extent > 0 and resolution >= 2, got {extent} "
                             f"and {resolution}.")
    axis = np.linspace(-extent, extent, resolution, dtype=np.float32)
    xs, ys = np.meshgrid(axis, axis)
    return np.stack([xs.ravel(), ys.ravel()], axis=1), axis


def decision_surface(discriminator, extent: float = 3.0, resolution: int = 201,
                     probability: bool = True) -> np.ndarray:
    """``D(x)`` on ``plane_grid(extent, resolution)``, float32 ``(R, R)`` (row = y, for ``imshow``
    with ``origin="lower"``): ``sigmoid(logit)`` in ``[0, 1]``, or the raw output
    (``probability=False``; use it for ``lsgan`` scores and ``wgan-gp`` critics)."""
    points, axis = plane_grid(extent, resolution)
    values = keras.ops.convert_to_numpy(discriminator(points, training=False))[:, 0]
    if probability:
        values = 1.0 / (1.0 + np.exp(-values))
    return values.reshape(len(axis), len(axis)).astype(np.float32)


def mixture_density(points, centres=None, std: float = STD) -> np.ndarray:
    """The ring's exact density ``p_data`` at ``points`` ``(M, 2)``: float64 ``(M,)``, >= 0.

    An equal-weight mixture of isotropic Gaussians ``N(centre, std^2 I)``.
    """
    centres = mode_centres() if centres is None else np.asarray(centres, np.float64)
    return kde_density(centres, points, std)


def kde_density(samples, points, bandwidth: float = 0.05) -> np.ndarray:
    """A Gaussian kernel density estimate of ``samples`` ``(N, 2)`` at ``points`` ``(M, 2)``.

    The mean of ``N(sample, bandwidth^2 I)`` over the samples; float64 ``(M,)``, >= 0.
    Unlike ``scipy.stats.gaussian_kde`` the bandwidth is in the plane's own units,
    so it can be as narrow as the ring's modes (0.02) while the ring is 4 wide.
    """
    samples, points = np.asarray(samples, np.float64), np.asarray(points, np.float64)
    if bandwidth <= 0 or samples.ndim != 2 or points.ndim != 2:
        raise NeuralArtError(f"kde_density needs samples (N, 2), points (M, 2) and bandwidth "
                             f"> 0, got {samples.shape}, {points.shape} and {bandwidth}.")
    density = np.zeros(len(points))
    for start in range(0, len(points), 2000):  # in chunks, to bound memory
        squared = ((points[start:start + 2000, None, :] - samples[None]) ** 2).sum(axis=2)
        density[start:start + 2000] = np.exp(-squared / (2 * bandwidth ** 2)).mean(axis=1)
    return density / (2 * np.pi * bandwidth ** 2)


def optimal_discriminator(p_data, p_g) -> np.ndarray:
    """``D* = p_data / (p_data + p_g)`` (Goodfellow et al. 2014, proposition 1), in ``[0, 1]``.

    Densities of any (equal) shape, >= 0; where both are 0 nothing is seen and D* is 1/2.
    """
    p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
    if p_data.shape != p_g.shape or (p_data < 0).any() or (p_g < 0).any():
        raise NeuralArtError(f"optimal_discriminator needs two densities >= 0 of one shape, "
                             f"got {p_data.shape} and {p_g.shape}.")
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def _normalised(p) -> np.ndarray:
    p = np.asarray(p, np.float64)
    if (p < 0).any() or p.sum() <= 0:
        raise NeuralArtError("A density on a grid must be >= 0 and not all 0; evaluate it "
                             "on a grid that covers the data (plane_grid).")
    return p / p.sum()


def jensen_shannon(p, q) -> float:
    """``JS(p || q) = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``, in nats.

    ``p`` and ``q`` are densities on the same grid (equal cells), any shape; each is
    normalised to sum to 1 first. The result is in ``[0, ln 2]``: 0 for equal
    densities, ``ln 2`` for densities with disjoint supports.
    """
    p, q = _normalised(p), _normalised(q)
    total = p + q  # twice the mixture m; halving it could underflow to 0 where a > 0

    def kl(a):
        inside = a > 0
        return float(np.sum(a[inside] * np.log(2.0 * a[inside] / total[inside])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def value_function(d, p_data, p_g) -> float:
    """``V(D, G) = E_p_data[ln D(x)] + E_p_g[ln(1 - D(x))]`` on a grid, in ``[-inf, 0]``.

    ``d`` holds ``D(x)`` in ``[0, 1]`` on the grid of the two densities (normalised).
    At ``d = optimal_discriminator(p_data, p_g)`` it equals ``2 JS(p_data || p_g) - 2 ln 2``.
    """
    p, q, d = _normalised(p_data), _normalised(p_g), np.asarray(d, np.float64)
    with np.errstate(divide="ignore"):
        real = np.sum(p[p > 0] * np.log(d[p > 0]))
        fake = np.sum(q[q > 0] * np.log1p(-d[q > 0]))
    return float(real + fake)
