"""Generative adversarial networks on Fashion-MNIST (chapter 05_fashion_mnist_gan).

A generator ``G`` turns noise ``z`` into images; a discriminator ``D`` scores
images as real or generated. They play the min-max game of Goodfellow et al.
(2014); Radford et al. (2015) made both networks convolutional (DCGAN).

Conventions: images are float32 ``(N, 28, 28, 1)`` in ``[-1, 1]`` (see
``data.scale_images``); noise is float32 ``(N, latent_dim)`` from a standard
normal; the discriminator returns *logits* ``(N, 1)`` (no sigmoid), and the
losses apply the sigmoid inside the cross-entropy, which is numerically stable.
The networks themselves are in ``gan_networks`` (re-exported here).
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers import data, images as image_io, presets
from neuralart_helpers.checkpoints import (  # noqa: F401 - section 7, re-exported for the chapter
    checkpoint_manager, make_checkpoint, read_config, restore_latest, save_checkpoint, steps_done,
    write_config)
from neuralart_helpers.errors import NeuralArtError
from neuralart_helpers.training import WeightAverage
from neuralart_helpers.gan_networks import (  # noqa: F401 - sections 2, 6 and 8, re-exported
    LATENT_DIM, MODELS, NUM_CLASSES, RECIPES, RESIZE_KERNEL, TRANSPOSE_KERNEL, UPSAMPLING,
    build_models, conditional_mlp_discriminator, conditional_mlp_generator, dcgan_discriminator,
    dcgan_generator, mlp_discriminator, mlp_generator, upsample_block)

LEARNING_RATE = 2e-4             # Adam step size for both networks (Radford et al. 2015)
BETA_1 = 0.5                     # Adam momentum; 0.5 instead of 0.9 steadies GAN training
# A training run's settings (its config.json) when not given; `neuralart gan train` shows them.
TRAIN_DEFAULTS = presets.GAN_TRAIN


# --- Sections 3 and 5: the min-max game, one training step the Keras way ----------------


def discriminator_loss(real_logits, fake_logits, real_label: float = 1.0):
    """``-mean log D(x) - mean log(1 - D(G(z)))`` computed from logits.

    Binary cross-entropy with target ``real_label`` (1, or 0.9 for one-sided label
    smoothing, Salimans et al. 2016) for real images and 0 for generated ones.
    Args are logits of any shape (``D = sigmoid(logit)``); returns a scalar.
    At the start of training (``D = 1/2`` everywhere) it equals ``2 ln 2 = 1.386``.
    """
    real = keras.ops.binary_crossentropy(keras.ops.full_like(real_logits, real_label),
                                         real_logits, from_logits=True)
    fake = keras.ops.binary_crossentropy(keras.ops.zeros_like(fake_logits), fake_logits,
                                         from_logits=True)
    return keras.ops.mean(real) + keras.ops.mean(fake)


def generator_loss(fake_logits):
    """The non-saturating generator loss ``-mean log D(G(z))``, from logits (a scalar >= 0).

    Goodfellow et al. (2014) suggest it instead of minimising ``log(1 - D(G(z)))``,
    whose gradient vanishes exactly when the generator is bad and ``D(G(z))`` is near 0.
    """
    return keras.ops.mean(keras.ops.binary_crossentropy(
        keras.ops.ones_like(fake_logits), fake_logits, from_logits=True))


def make_optimizer(learning_rate: float = LEARNING_RATE, beta_1: float = BETA_1):
    """Adam as in DCGAN: learning rate 2e-4, ``beta_1 = 0.5``."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)


class GAN(keras.Model):
    """A generator and a discriminator trained by ``fit`` with alternating updates.

    ``train_step`` first updates the discriminator (``discriminator_step``), then
    the generator on fresh noise (``generator_step``). Each optimizer only sees its
    own network's variables. A generator with two inputs ``[noise, label]`` makes a
    conditional GAN (``conditional``): it trains on ``(images, labels)`` batches and
    both networks see the label. Noise comes from a ``keras.random.SeedGenerator``
    seeded with ``seed``, whose state is saved in checkpoints. ``real_label`` is the
    discriminator's target for real images (0.9: one-sided label smoothing). With
    ``ema_momentum``, ``generator_average`` keeps a moving average of the generator's
    weights (``training.WeightAverage``), updated after every step; ``generate`` draws with it.

    Example:
        generator, discriminator = build_models("mlp", seed=0)
        gan = GAN(generator, discriminator, seed=0)
        gan.compile(make_optimizer(), make_optimizer())
        gan.fit(data.gan_dataset(images), epochs=1)
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, seed: int = 0,
                 real_label: float = 1.0, ema_momentum: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.real_label = float(real_label)
        self.generator = generator
        self.discriminator = discriminator
        self.conditional = len(generator.inputs) == 2  # [noise, label]: a conditional GAN
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.generator_average = (None if ema_momentum is None else
                                  WeightAverage(generator, ema_momentum))
        self.built = True  # both networks are built Functional models

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        """Attach one optimizer per network and create their slots (so checkpoints can hold them)."""
        super().compile(optimizer=None, **kwargs)  # no single optimizer: one per network
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        generator_optimizer.build(self.generator.trainable_variables)
        discriminator_optimizer.build(self.discriminator.trainable_variables)

    def sample_noise(self, batch_size):
        """Standard normal noise ``(batch_size, latent_dim)``; each call draws new numbers.

        Under a ``tf.distribute`` strategy every replica adds its id to the seed,
        so replicas draw different noise (on one device the id is 0).
        """
        seed = self.seed_generator.next()
        context = tf.distribute.get_replica_context()
        replica = 0 if context is None else context.replica_id_in_sync_group
        seed = seed + tf.cast(tf.stack([replica, 0]), seed.dtype)
        return tf.random.stateless_normal((batch_size, self.latent_dim), seed=seed)

    def discriminator_step(self, real_images, labels=None):
        """One Adam step on the discriminator only; returns its loss (a scalar).

        The fakes come from the generator in training mode (BatchNorm on batch
        statistics), as in the generator's own step, but outside the tape. A
        conditional GAN draws its fakes with the real images' ``labels``, and the
        discriminator sees the labels beside both.
        """
        noise = self.sample_noise(tf.shape(real_images)[0])
        fake_images = self.generator(_inputs(noise, labels), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(_inputs(real_images, labels), training=True)
            fake_logits = self.discriminator(_inputs(fake_images, labels), training=True)
            loss = discriminator_loss(real_logits, fake_logits, self.real_label)
            replica_loss = loss / _replicas()  # the replicas' gradients are summed
        variables = self.discriminator.trainable_variables
        gradients = tape.gradient(replica_loss, variables)
        self.discriminator_optimizer.apply_gradients(zip(gradients, variables))
        return loss

    def generator_step(self, batch_size, labels=None):
        """One Adam step on the generator only (the discriminator is held fixed); returns its loss."""
        noise = self.sample_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_images = self.generator(_inputs(noise, labels), training=True)
            fake_logits = self.discriminator(_inputs(fake_images, labels), training=True)
            loss = generator_loss(fake_logits)
            replica_loss = loss / _replicas()
        variables = self.generator.trainable_variables
        gradients = tape.gradient(replica_loss, variables)
        self.generator_optimizer.apply_gradients(zip(gradients, variables))
        return loss

    def train_step(self, batch):
        """``fit`` calls this once per batch of real images ``(B, 28, 28, 1)`` in ``[-1, 1]``.

        A conditional GAN's batch is ``(images, labels)``, labels int ``(B,)``.
        """
        real_images, labels = batch if self.conditional else (batch, None)
        d_loss = self.discriminator_step(real_images, labels)
        g_loss = self.generator_step(tf.shape(real_images)[0], labels)
        if self.generator_average is not None:
            self.generator_average.update()
        return {"d_loss": d_loss, "g_loss": g_loss}

    def generate(self, noise, labels=None) -> np.ndarray:
        """Images ``(N, 28, 28, 1)`` in ``[-1, 1]`` for ``noise`` ``(N, latent_dim)``.

        A conditional GAN draws class ``labels[i]`` (ints ``(N,)`` in ``0..9``) for
        ``noise[i]``; without ``labels`` it cycles through the classes, 0, 1, ..., 9, 0, ...

        Runs the generator with ``training=False``: BatchNorm uses its moving
        averages, so an image depends on its own noise only, not on the batch. With
        an EMA of the weights (``build_gan`` of a recipe that has one) the averaged
        weights draw (``sampling_generator``).
        """
        labels = self.check_labels(len(noise), labels)
        generator = self.sampling_generator()
        return np.concatenate([  # in chunks, to bound memory for many samples
            keras.ops.convert_to_numpy(generator(
                _inputs(noise[start:start + 1000], None if labels is None else
                        labels[start:start + 1000]), training=False))
            for start in range(0, len(noise), 1000)])

    def sampling_generator(self) -> keras.Model:
        """The network that draws: the generator, with its averaged weights if it keeps an average."""
        if self.generator_average is None:
            return self.generator
        return self.generator_average.network_copy()

    def check_labels(self, count: int, labels=None) -> np.ndarray | None:
        """``labels`` as int32 ``(count,)`` for a conditional GAN (cycling 0..9 if ``None``).

        Raises:
            NeuralArtError: labels for an unconditional GAN, or labels of another
                length or outside ``0..9``.
        """
        if not self.conditional:
            if labels is not None:
                raise NeuralArtError("This GAN is not conditional: it draws no chosen class. "
                                     "Train a conditional one (model 'cgan') to ask for a class.")
            return None
        labels = np.arange(count) % NUM_CLASSES if labels is None else np.asarray(labels)
        if labels.shape != (count,):
            raise NeuralArtError(f"Give {count} labels, one per noise vector, got shape "
                                 f"{labels.shape}.")
        return data.check_labels(labels)


def _inputs(tensor, labels):
    """A network's input: ``tensor`` alone, or ``[tensor, labels]`` for a conditional GAN."""
    return tensor if labels is None else [tensor, labels]


def _replicas() -> int:
    """How many replicas share a batch: gradients are summed over them, so losses are divided."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def build_gan(model: str = TRAIN_DEFAULTS["model"], seed: int = 0, upsampling: str = "transpose",
              latent_dim: int = LATENT_DIM, learning_rate: float | None = None,
              kernel_size: int | None = None, jit_compile: bool | None = None) -> GAN:
    """A compiled ``GAN`` with fresh networks; everything random derives from ``seed``.

    ``model`` names networks (``"mlp"``, ``"dcgan"``) or a recipe of ``RECIPES``: its
    networks with an EMA of the generator's weights, label smoothing and the learning
    rates of both optimizers (``learning_rate`` sets both). The training step of the
    dense networks is compiled with XLA (``presets.GAN_JIT_COMPILE``; ``jit_compile``
    overrides it: compiling takes seconds, wasted on a run of a few steps), except under a
    strategy with several replicas (XLA cannot reach one replica's variables from another
    device there). Call it inside
    ``strategy.scope()`` to train on several devices.
    """
    recipe = RECIPES.get(model, {})
    networks = recipe.get("networks", model)
    generator, discriminator = build_models(model, latent_dim, upsampling, seed, kernel_size)
    gan = GAN(generator, discriminator, seed=seed, real_label=recipe.get("real_label", 1.0),
              ema_momentum=recipe.get("ema_momentum"), name=f"{model.replace('-', '_')}_gan")
    rates = recipe.get("learning_rates", (LEARNING_RATE, LEARNING_RATE))
    generator_rate, discriminator_rate = (learning_rate, learning_rate) if learning_rate is not None else rates
    gan.compile(make_optimizer(generator_rate), make_optimizer(discriminator_rate),
                jit_compile=_replicas() == 1 and (presets.GAN_JIT_COMPILE[networks]
                                                  if jit_compile is None else jit_compile))
    return gan


# --- Section 6: watching it learn (fixed noise, 4x4 grids, loss curves) -----------------


def fixed_noise(count: int = 16, latent_dim: int = LATENT_DIM, seed: int = 0) -> np.ndarray:
    """The same noise batch ``(count, latent_dim)`` every time, to draw after each epoch."""
    return keras.ops.convert_to_numpy(keras.random.normal((count, latent_dim), seed=seed))


def slerp(z0, z1, t) -> np.ndarray:
    """Spherical interpolation from noise ``z0`` to ``z1`` (both ``(latent_dim,)``) at ``t``.

    Follows the great circle between the two directions, scaling the norm from
    ``|z0|`` to ``|z1|``: points stay where Gaussian noise lives (norms near
    ``sqrt(latent_dim)``), while the straight line between two such vectors, nearly
    orthogonal, passes through norms ``1/sqrt(2)`` times smaller at its middle.
    ``t = 0`` gives ``z0`` and ``t = 1`` gives ``z1`` exactly. Vectors that are
    (anti)parallel have no single great circle: they are interpolated linearly.

    Args:
        z0, z1: vectors of the same shape ``(D,)``.
        t: a number or an array of numbers in ``[0, 1]``.

    Returns:
        ``t.shape + (D,)``, in the dtype of ``z0`` (float64 for integer inputs).
    """
    z0, z1, t = np.asarray(z0), np.asarray(z1), np.asarray(t, dtype=np.float64)
    if z0.ndim != 1 or z0.shape != z1.shape or not np.all((t >= 0) & (t <= 1)):
        raise NeuralArtError(f"slerp needs two vectors of the same shape (D,) and t in [0, 1], "
                             f"got shapes {z0.shape}, {z1.shape} and t from {t.min()} to "
                             f"{t.max()}.")
    a, b, t = z0.astype(np.float64), z1.astype(np.float64), t[..., np.newaxis]
    cosine = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-300)
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    if np.sin(angle) < 1e-6:  # (anti)parallel: no single great circle
        mixed = (1.0 - t) * a + t * b
    else:
        mixed = (np.sin((1.0 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(angle)
    return mixed.astype(z0.dtype if np.issubdtype(z0.dtype, np.floating) else np.float64)


def image_grid(images, ncols: int = 4, padding: int = 2) -> np.ndarray:
    """Tile images ``(N, H, W, 1)`` in ``[-1, 1]`` into one ``(rows*(H+p)+p, ...)`` RGB picture.

    Returns float32 ``(height, width, 3)`` in ``[0, 255]``, with ``padding`` white
    pixels between the tiles, ready for ``images.save_image`` or ``show_images``.
    """
    pixels = data.unscale_images(images)[..., 0]
    count, height, width = pixels.shape
    nrows = -(-count // ncols)
    grid = np.full((nrows * (height + padding) + padding, ncols * (width + padding) + padding),
                   255.0, dtype=np.float32)
    for index, picture in enumerate(pixels):
        top = padding + (index // ncols) * (height + padding)
        left = padding + (index % ncols) * (width + padding)
        grid[top:top + height, left:left + width] = picture
    return np.repeat(grid[..., np.newaxis], 3, axis=2)


class GridSnapshots(keras.callbacks.Callback):
    """After every epoch, draw ``noise`` with ``model.generate`` and keep the grid in ``frames``.

    ``generate`` draws with the averaged weights when the recipe keeps an average (``mlp-ema``,
    ``cgan``); a conditional GAN draws the classes in turn.

    If ``folder`` is given, each grid is also saved as ``folder/epoch_NNN.png``.
    """

    def __init__(self, noise, folder: str | Path | None = None, ncols: int = 4):
        super().__init__()
        self.noise = noise
        self.folder = None if folder is None else Path(folder)
        self.ncols = ncols
        self.frames: list[np.ndarray] = []

    def on_epoch_end(self, epoch, logs=None):
        grid = image_grid(self.model.generate(self.noise), self.ncols)
        self.frames.append(grid)
        if self.folder is not None:
            image_io.save_image(self.folder / f"epoch_{epoch + 1:03d}.png", grid)


class LossHistory(keras.callbacks.Callback):
    """Record the losses after every training step, in ``steps = {"d_loss": [...], ...}``."""

    def __init__(self):
        super().__init__()
        self.steps: dict[str, list[float]] = {}

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            self.steps.setdefault(name, []).append(float(value))


# --- Section 6: training -----------------------------------------------------------------


class TimeLimit(keras.callbacks.Callback):
    """Stop training at the first step boundary after ``seconds`` of training.

    The clock starts when training starts (the first ``on_train_begin``) and runs on
    across the ``fit`` calls of one ``train_gan``: use one ``TimeLimit`` per run. Once
    a step ends with ``seconds`` or more gone, it sets ``model.stop_training``;
    ``train_gan`` then stops and saves a checkpoint at that step. Afterwards
    ``steps`` counts the steps it saw, ``elapsed`` their seconds, and ``stopped``
    says whether the limit ended training.

    Args:
        seconds: the training time, a positive finite number.
        clock: returns the time in seconds (``time.perf_counter``; a test may count steps).

    Raises:
        NeuralArtError: ``seconds`` is zero, negative, infinite or NaN.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.perf_counter):
        super().__init__()
        if not (math.isfinite(seconds) and seconds > 0):
            raise NeuralArtError(f"The time limit must be a positive, finite number of seconds, "
                                 f"got {seconds}.")
        self.seconds, self.clock = float(seconds), clock
        self.start: float | None = None
        self.steps, self.elapsed, self.stopped = 0, 0.0, False

    def on_train_begin(self, logs=None):
        if self.start is None:
            self.start = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.elapsed = self.clock() - self.start
        if self.elapsed >= self.seconds:
            self.stopped = self.model.stop_training = True


def _fit_segments(done: int, steps_per_epoch: int,
                  epochs: int | None) -> Iterator[tuple[int, int, int]]:
    """``(first_epoch, end_epoch, skip)`` for each ``fit`` that takes a run from step ``done``.

    A run resumed mid-epoch first finishes that epoch, skipping the ``skip`` batches
    it had done; then one ``fit`` covers the epochs up to ``epochs``, or, when
    ``epochs`` is None, one epoch at a time without end (until a callback stops it).
    """
    epoch, skip = divmod(done, max(steps_per_epoch, 1))
    if epochs is not None and epoch >= epochs:
        return
    if skip:
        yield epoch, epoch + 1, skip
        epoch += 1
    if epochs is None:
        yield from ((first, first + 1, 0) for first in itertools.count(epoch))
    elif epoch < epochs:
        yield epoch, epochs, 0


def check_end(epochs: int | None, callbacks: list | None, caller: str = "train_gan") -> None:
    """Refuse a run without an end: ``epochs=None`` needs a ``TimeLimit`` among ``callbacks``."""
    if epochs is None and not any(isinstance(callback, TimeLimit) for callback in callbacks or []):
        raise NeuralArtError(f"{caller}: epochs=None trains until a TimeLimit callback stops "
                             f"it; give epochs, or add callbacks=[gan.TimeLimit(seconds)].")


def _check_training(gan: GAN, epochs: int | None, callbacks: list | None, labels) -> None:
    """Refuse a run without an end, and labels missing for a conditional GAN (or given to another)."""
    check_end(epochs, callbacks)
    if gan.conditional and labels is None:
        raise NeuralArtError("train_gan: this GAN is conditional: pass the images' classes, "
                             "labels=... (ints (N,) in 0..9).")
    if labels is not None and not gan.conditional:
        raise NeuralArtError("train_gan: this GAN is not conditional: leave labels out, or build "
                             "a conditional one (gan.build_gan('cgan')).")


def train_gan(gan: GAN, images, epochs: int | None,
              batch_size: int = TRAIN_DEFAULTS["batch_size"], seed: int = 0,
              manager: tf.train.CheckpointManager | None = None,
              callbacks: list | None = None, verbose: int = 1,
              labels=None) -> dict[str, list[float]]:
    """Train ``gan`` until it has done ``epochs`` epochs; return the losses of every step.

    Epoch ``e`` visits the images in the order ``data.epoch_order(N, seed, e)``
    and noise comes from the GAN's seed generator, so a ``gan`` restored from a
    checkpoint (``restore_latest``) continues exactly where it stopped, even
    mid-epoch, and ends with the weights of an uninterrupted run.

    Args:
        gan: a compiled ``GAN`` (fresh, or restored from a checkpoint).
        images: float32 ``(N, 28, 28, 1)`` in ``[-1, 1]``.
        epochs: total number of epochs, counting those already done; ``None`` trains
            until a ``TimeLimit`` in ``callbacks`` stops it.
        manager: if given, a checkpoint is saved after every epoch, on Ctrl-C, and at
            the step where a callback stopped training (``TimeLimit``).
        callbacks: Keras callbacks (e.g. ``GridSnapshots``, ``TimeLimit``), called as in
            ``fit``; one that sets ``gan.stop_training`` ends training after that step.
        verbose: as in ``fit``: 1 a progress bar, 2 one line per epoch, 0 nothing.
        labels: the images' classes, ints ``(N,)``; needed by a conditional GAN only.

    Returns:
        ``{"d_loss": [...], "g_loss": [...]}``, one value per step taken by this call.
    """
    _check_training(gan, epochs, callbacks, labels)
    return fit_resumably(gan, images, epochs, batch_size, seed, manager, callbacks, verbose, labels)


def fit_resumably(model: keras.Model, images, epochs: int | None, batch_size: int, seed: int,
                  manager: tf.train.CheckpointManager | None = None, callbacks: list | None = None,
                  verbose: int = 1, labels=None) -> dict[str, list[float]]:
    """``model.fit`` over ``data.gan_dataset`` batches, from step ``steps_done(model)`` on.

    The loop of ``train_gan`` (see there for the arguments), shared with any model whose
    ``train_step`` takes those batches and whose steps ``steps_done`` counts
    (``diffusion.train_diffusion``): checkpoints after every epoch, at the step where a
    callback stopped training and on Ctrl-C; a resumed run continues bit for bit.
    Returns the logs of every step taken by this call, ``{"loss": [...], ...}``.
    """
    images = tf.convert_to_tensor(images, dtype=tf.float32)
    steps_per_epoch = int(images.shape[0]) // batch_size
    history = LossHistory()
    callbacks = [history, *(callbacks or [])]
    if manager is not None:  # Keras ends the epoch (on_epoch_end) when a callback stops it too
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: save_checkpoint(manager, steps_done(model))))
    try:
        for first, end, skip in _fit_segments(steps_done(model), steps_per_epoch, epochs):
            model.fit(data.gan_dataset(images, batch_size, seed, first, end - first, skip, labels),
                      initial_epoch=first, epochs=end, steps_per_epoch=steps_per_epoch - skip,
                      verbose=verbose, callbacks=callbacks)
            if model.stop_training:
                break
    except KeyboardInterrupt:
        if manager is not None:
            path = save_checkpoint(manager, steps_done(model))
            print(f"Interrupted: saved {path} (step {steps_done(model)}).")
        raise
    return history.steps
