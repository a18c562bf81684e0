"""Drawing from a diffusion model: DDPM, DDIM and Euler samplers, classifier-free guidance.

Every sampler walks the times ``1 = t_0 > t_1 > ... > t_K = 0`` in ``K = steps`` network
evaluations. At each ``t`` the network's prediction gives a clean image ``x0_hat`` and the
noise ``eps_hat`` in it (``diffusion.predicted_clean_and_noise``); the next image is

    x_s = a(s) x0_hat + sqrt(b(s)^2 - sigma^2) eps_hat + sigma z,     z ~ N(0, I)

(in variance-preserving units; ``_step``). ``sigma = 0`` is DDIM (Song et al. 2021), a
deterministic map from the starting noise to the image; ``sigma`` of ``eta = 1`` is the
posterior ``q(x_s | x_t, x0_hat)``, the ancestral step of DDPM (Ho et al. 2020). On the
straight path of a flow model the DDIM step is exactly Euler's ``x_s = x_t + (s - t) v``.

**Classifier-free guidance** (Ho and Salimans 2022), weight ``w``: the prediction is
``cond + w (cond - uncond)``, the class's prediction pushed away from the prediction
without a class. ``w = 0`` is the conditional model itself; larger ``w`` draws more
typical members of the class, less varied. All samplers are compiled with ``tf.function``
and run in batches of ``CHUNK``; for a given seed (and count) they return the same images.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from neuralart_helpers import presets
from neuralart_helpers.diffusion import (DiffusionModel, NULL_CLASS, noise_scales,
                                         predicted_clean_and_noise)
from neuralart_helpers.errors import NeuralArtError

SAMPLERS = presets.DIFFUSION_SAMPLERS
SAMPLE_DEFAULTS = presets.DIFFUSION_SAMPLE
CHUNK = 512          # images per compiled call (bounds memory: guidance doubles the batch)
LOOPS_ATTRIBUTE = "_sampling_loops"  # on the model, untracked by Keras: id(network) -> loop


def guided_prediction(network, x_t, times, labels, guidance):
    """The network's prediction ``(B, 28, 28, 1)`` at ``x_t``, guided with weight ``guidance``.

    ``labels`` ``(B,)`` (``None``: an unconditional network). With ``guidance`` (a scalar
    tensor, or ``None`` for none) the batch is run twice in one call, with the labels and
    with ``NULL_CLASS``, and mixed as ``cond + w (cond - uncond)``; ``w = 0`` gives ``cond``.
    """
    if labels is None:
        return network([x_t, times], training=False)
    if guidance is None:
        return network([x_t, times, labels], training=False)
    both = network([tf.concat([x_t, x_t], 0), tf.concat([times, times], 0),
                    tf.concat([labels, tf.fill(tf.shape(labels), NULL_CLASS)], 0)],
                   training=False)
    conditional, unconditional = tf.split(both, 2)
    return conditional + guidance * (conditional - unconditional)


def _step(x_t, x0_hat, eps_hat, t, s, eta, z, schedule: str):
    """The move from time ``t`` to ``s < t`` (module docstring); ``eta`` scales the noise added.

    Computed in variance-preserving units ``x / c`` with ``c = sqrt(a^2 + b^2)`` (1 for the
    cosine and linear schedules), where ``abar = a^2 / c^2``; ``sigma`` is ``eta`` times
    the DDPM posterior's standard deviation. Returns float32 ``x_t``'s shape.
    """
    a_t, b_t = noise_scales(t, schedule)
    a_s, b_s = noise_scales(s, schedule)
    c_t, c_s = tf.sqrt(a_t ** 2 + b_t ** 2), tf.sqrt(a_s ** 2 + b_s ** 2)
    abar_t, abar_s = (a_t / c_t) ** 2, (a_s / c_s) ** 2
    variance = (1.0 - abar_s) / (1.0 - abar_t) * (1.0 - abar_t / abar_s)
    sigma = eta * tf.sqrt(tf.maximum(variance, 0.0))
    direction = tf.sqrt(tf.maximum(1.0 - abar_s - sigma ** 2, 0.0))
    return c_s * (tf.sqrt(abar_s) * x0_hat + direction * eps_hat + sigma * z)


def _loop(network, model: DiffusionModel):
    """The compiled sampling loop of ``model`` through ``network``, made once and kept on ``model``.

    Kept in a plain dict in the model's ``__dict__`` (``LOOPS_ATTRIBUTE``, which Keras does not
    track), so the loop, and the network it holds, go when the model goes.
    """
    loops = vars(model).setdefault(LOOPS_ATTRIBUTE, {})
    if id(network) in loops:
        return loops[id(network)]
    target, schedule = model.target, model.schedule

    @tf.function(reduce_retracing=True)
    def run(noise, labels, times, eta, guidance, clip, key):
        x = noise
        for index in tf.range(tf.shape(times)[0] - 1):
            t, s = times[index], times[index + 1]
            batch_t = tf.fill(tf.shape(x)[:1], t)
            prediction = guided_prediction(network, x, batch_t, labels, guidance)
            x0_hat, eps_hat = predicted_clean_and_noise(x, prediction, batch_t, target, schedule)
            if clip:  # keep the clean estimate in the images' range, and the noise consistent
                x0_hat = tf.clip_by_value(x0_hat, -1.0, 1.0)
                eps_hat = _noise_of(x, x0_hat, t, schedule)
            step_key = tf.stack([key[0], key[1] + 1 + tf.cast(index, tf.int64)])
            z = tf.random.stateless_normal(tf.shape(x), step_key)
            x = _step(x, x0_hat, eps_hat, t, s, eta, z, schedule)
        return tf.clip_by_value(x, -1.0, 1.0)

    loops[id(network)] = run
    return run


def _noise_of(x_t, x0, t, schedule: str):
    """The ``eps`` with ``x_t = a(t) x0 + b(t) eps`` (``t > 0``, where ``b > 0``)."""
    a, b = noise_scales(t, schedule)
    return (x_t - a * x0) / b


def sample(model: DiffusionModel, count: int, sampler: str | None = None,
           steps: int = SAMPLE_DEFAULTS["steps"], labels=None,
           guidance: float | None = None, seed: int = 0,
           eta: float | None = None, noise=None, network=None) -> np.ndarray:
    """``count`` new images, float32 ``(count, 28, 28, 1)`` in ``[-1, 1]``.

    Args:
        sampler: ``"ddim"`` (``eta`` 0 unless given), ``"ddpm"`` (``eta = 1``) or
            ``"euler"`` (``eta = 0``, no clipping of ``x0_hat``: plain Euler on a flow model).
            ``None``: ``default_sampler(model)``, DDIM for ``eps``, Euler for ``flow``.
        steps: network evaluations (twice as many images go through it with guidance).
        labels: a conditional model's classes ``(count,)`` in ``0..9``; ``None``: every
            class in turn, as evenly as ``count`` allows.
        guidance: the weight ``w`` (module docstring); a conditional model only. ``None``:
            ``default_guidance(model)``.
        seed: fixes the starting noise and every noise added on the way.
        eta: the share of DDPM's noise added at each step, in ``[0, 1]``.
        noise: the starting noise ``(count, 28, 28, 1)`` instead of the seed's (DDIM with
            ``eta = 0`` then maps it to the same image whatever the seed).
        network: the network to draw with; ``None``: ``model.sampling_network()``, the
            moving average of the weights (``model.network`` draws with the last step's).

    Raises:
        NeuralArtError: an unknown sampler, ``steps < 1``, a guidance weight that is not
            finite or given to an unconditional model, bad labels, ``eta`` outside ``[0, 1]``.
    """
    guidance = default_guidance(model) if guidance is None else guidance
    sampler = default_sampler(model) if sampler is None else sampler
    labels = _check_sampling(model, count, sampler, steps, labels, guidance)
    if noise is not None and np.shape(noise) != (count, 28, 28, 1):
        raise NeuralArtError(f"noise must have shape ({count}, 28, 28, 1), got {np.shape(noise)}.")
    eta = _check_eta((1.0 if sampler == "ddpm" else 0.0) if eta is None else eta)
    loop = _loop(model.sampling_network() if network is None else network, model)
    times = tf.linspace(1.0, 0.0, steps + 1)
    weight = None if labels is None or guidance == 0 else tf.constant(guidance, tf.float32)
    chunks = []
    for index, start in enumerate(range(0, count, CHUNK)):
        size = min(CHUNK, count - start)
        key = tf.constant([seed, index * 1_000_003], tf.int64)
        start_noise = (tf.random.stateless_normal((size, 28, 28, 1), key) if noise is None else
                       tf.constant(noise[start:start + size], tf.float32))
        chunk_labels = None if labels is None else tf.constant(labels[start:start + size])
        chunks.append(loop(start_noise, chunk_labels, times, tf.constant(eta), weight,
                           tf.constant(sampler != "euler"), key).numpy())
    return np.concatenate(chunks)


def _check_eta(eta) -> float:
    """``eta`` as a float, checked to lie in ``[0, 1]`` (0: DDIM, 1: DDPM's noise)."""
    if not 0.0 <= float(eta) <= 1.0:  # also refuses nan
        raise NeuralArtError(f"eta must be between 0 (DDIM) and 1 (DDPM), got {eta}.")
    return float(eta)


def default_sampler(model: DiffusionModel) -> str:
    """The sampler ``sample`` uses when none is named: ``"ddim"`` for ``eps``, ``"euler"`` for ``flow``.

    Both are deterministic; the table is ``SAMPLE_DEFAULTS["samplers"]``.
    """
    return SAMPLE_DEFAULTS["samplers"][model.target]


def default_guidance(model: DiffusionModel) -> float:
    """``SAMPLE_DEFAULTS["guidance"]`` for a conditional model, 0 (none) for another."""
    return SAMPLE_DEFAULTS["guidance"] if model.conditional else 0.0


def _check_sampling(model, count, sampler, steps, labels, guidance) -> np.ndarray | None:
    """The labels to draw (``model.check_labels``) after checking every sampling setting."""
    if sampler not in SAMPLERS:
        raise NeuralArtError(f"sampler must be one of {SAMPLERS}, got {sampler!r}.")
    if int(steps) != steps or steps < 1:
        raise NeuralArtError(f"The number of sampling steps must be a whole number >= 1, got "
                             f"{steps}.")
    if count < 1:
        raise NeuralArtError(f"Draw at least one image, got count={count}.")
    if not math.isfinite(guidance):
        raise NeuralArtError(f"The guidance weight must be a finite number, got {guidance}.")
    if guidance != 0 and not model.conditional:
        raise NeuralArtError("Guidance needs a conditional model (trained with --conditional); "
                             "leave the weight at 0 for this one.")
    return model.check_labels(count, labels)


def sample_ddpm(model: DiffusionModel, count: int, steps: int = 100, **options) -> np.ndarray:
    """Ancestral sampling (Ho et al. 2020): each step draws from ``q(x_s | x_t, x0_hat)``."""
    return sample(model, count, "ddpm", steps, **options)


def sample_ddim(model: DiffusionModel, count: int, steps: int = SAMPLE_DEFAULTS["steps"],
                eta: float = 0.0, **options) -> np.ndarray:
    """DDIM (Song et al. 2021): deterministic for ``eta = 0``, DDPM's noise for ``eta = 1``."""
    return sample(model, count, "ddim", steps, eta=eta, **options)


def sample_euler(model: DiffusionModel, count: int, steps: int = SAMPLE_DEFAULTS["steps"],
                 **options) -> np.ndarray:
    """Euler's method on the learnt ODE, ``x_s = x_t + (s - t) v``, for a flow model."""
    return sample(model, count, "euler", steps, **options)


def denoise(model: DiffusionModel, x_t, t, labels=None) -> np.ndarray:
    """The model's clean estimate ``x0_hat`` of ``x_t`` ``(B, 28, 28, 1)`` at times ``t`` ``(B,)``."""
    times = tf.convert_to_tensor(t, tf.float32)
    labels = None if labels is None else tf.constant(model.check_labels(len(times), labels))
    prediction = guided_prediction(model.sampling_network(), tf.convert_to_tensor(x_t), times,
                                   labels, None)
    x0_hat, _ = predicted_clean_and_noise(x_t, prediction, times, model.target, model.schedule)
    return np.clip(x0_hat.numpy(), -1.0, 1.0)
