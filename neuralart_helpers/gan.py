"""Generative adversarial networks on Fashion-MNIST (chapter 05_fashion_mnist_gan).

A generator ``G`` turns noise ``z`` into images; a discriminator ``D`` scores
images as real or generated. They play the min-max game of Goodfellow et al.
(2014); Radford et al. (2015) made both networks convolutional (DCGAN).

Conventions: images are float32 ``(N, 28, 28, 1)`` in ``[-1, 1]`` (see
``data.scale_images``); noise is float32 ``(N, latent_dim)`` from a standard
normal; the discriminator returns *logits* ``(N, 1)`` (no sigmoid), and the
losses apply the sigmoid inside the cross-entropy, which is numerically stable.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers import data, images as image_io, presets
from neuralart_helpers.errors import CheckpointError, NeuralArtError
from neuralart_helpers.files import atomic_write_text

LATENT_DIM = 100                 # length of the noise vector z (the seed article's choice)
LEARNING_RATE = 2e-4             # Adam step size for both networks (Radford et al. 2015)
BETA_1 = 0.5                     # Adam momentum; 0.5 instead of 0.9 steadies GAN training
MODELS = presets.GAN_MODELS
UPSAMPLING = presets.GAN_UPSAMPLING
TRANSPOSE_KERNEL = 4             # DCGAN transposed convolutions: 4x4, divisible by the stride 2
RESIZE_KERNEL = 3                # DCGAN convolutions after nearest-neighbour upsampling
# A training run's settings (its config.json) when not given; `neuralart gan train` shows them.
TRAIN_DEFAULTS = presets.GAN_TRAIN




# --- 05_fashion_mnist_gan, section 2: the generator and the discriminator ---------------


def mlp_generator(latent_dim: int = LATENT_DIM) -> keras.Model:
    """Noise ``(N, latent_dim)`` -> images ``(N, 28, 28, 1)`` in ``[-1, 1]`` through dense layers.

    Dense 128, 256, 512, 1024 with LeakyReLU(0.2), BatchNorm after all but the
    first, and a ``tanh`` output of 784 values reshaped to 28x28 (the seed article).
    """
    noise = keras.Input((latent_dim,), name="noise")
    x = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(128)(noise))
    for units in (256, 512, 1024):
        x = keras.layers.Dense(units)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Dense(28 * 28, activation="tanh")(x)
    return keras.Model(noise, keras.layers.Reshape((28, 28, 1))(x), name="mlp_generator")


def mlp_discriminator() -> keras.Model:
    """Images ``(N, 28, 28, 1)`` in ``[-1, 1]`` -> logits ``(N, 1)``: dense 512, 256, 1."""
    image = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Flatten()(image)
    for units in (512, 256):
        x = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(units)(x))
    return keras.Model(image, keras.layers.Dense(1, name="logit")(x), name="mlp_discriminator")


# --- Section 7: a DCGAN, and the checkerboard question ---------------------------------


def upsample_block(x, filters: int, upsampling: str = "transpose", activation=None,
                   kernel_size: int | None = None):
    """Double the height and width of ``x`` and map it to ``filters`` channels.

    ``"transpose"``: a transposed convolution with stride 2 (default kernel 4x4).
    When the kernel size does not divide by the stride, as with 3x3, neighbouring
    output pixels receive different numbers of kernel taps: a built-in
    checkerboard (Odena et al. 2016). ``"resize"``: nearest-neighbour upsampling,
    then a convolution (default 3x3); every output pixel gets the same taps.
    """
    if upsampling == "transpose":
        return keras.layers.Conv2DTranspose(filters, kernel_size or TRANSPOSE_KERNEL, strides=2,
                                            padding="same", activation=activation)(x)
    if upsampling == "resize":
        x = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
        return keras.layers.Conv2D(filters, kernel_size or RESIZE_KERNEL, padding="same",
                                   activation=activation)(x)
    raise NeuralArtError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}.")


def dcgan_generator(latent_dim: int = LATENT_DIM, upsampling: str = "transpose",
                    kernel_size: int | None = None) -> keras.Model:
    """Noise ``(N, latent_dim)`` -> images ``(N, 28, 28, 1)`` in ``[-1, 1]``, convolutional.

    Dense to a 7x7x64 map, then two ``upsample_block``s (7 -> 14 -> 28) with
    BatchNorm and ReLU in between and ``tanh`` at the end (Radford et al. 2015,
    with fewer channels so that it trains on a CPU).
    """
    noise = keras.Input((latent_dim,), name="noise")
    x = keras.layers.Dense(7 * 7 * 64, use_bias=False)(noise)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
    x = keras.layers.Reshape((7, 7, 64))(x)
    x = upsample_block(x, 32, upsampling, kernel_size=kernel_size)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
    image = upsample_block(x, 1, upsampling, activation="tanh", kernel_size=kernel_size)
    return keras.Model(noise, image, name=f"dcgan_generator_{upsampling}")


def dcgan_discriminator() -> keras.Model:
    """Images ``(N, 28, 28, 1)`` -> logits ``(N, 1)``: two strided 3x3 convolutions, LeakyReLU."""
    image = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same")(image)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(image, keras.layers.Dense(1, name="logit")(x), name="dcgan_discriminator")


def build_models(model: str = "mlp", latent_dim: int = LATENT_DIM, upsampling: str = "transpose",
                 seed: int = 0, kernel_size: int | None = None) -> tuple[keras.Model, keras.Model]:
    """``(generator, discriminator)`` for ``model`` in ``MODELS``, initialised from ``seed``.

    ``upsampling`` and ``kernel_size`` choose the DCGAN generator's ``upsample_block``s.
    """
    if model not in MODELS:
        raise NeuralArtError(f"model must be one of {MODELS}, got {model!r}.")
    keras.utils.set_random_seed(seed)
    if model == "mlp":
        return mlp_generator(latent_dim), mlp_discriminator()
    return dcgan_generator(latent_dim, upsampling, kernel_size), dcgan_discriminator()


# --- Sections 3 and 4: the min-max game, one training step the Keras way ----------------


def discriminator_loss(real_logits, fake_logits):
    """``-mean log D(x) - mean log(1 - D(G(z)))`` computed from logits.

    Binary cross-entropy with target 1 for real images and 0 for generated ones.
    Args are logits of any shape (``D = sigmoid(logit)``); returns a scalar >= 0.
    At the start of training (``D = 1/2`` everywhere) it equals ``2 ln 2 = 1.386``.
    """
    real = keras.ops.binary_crossentropy(keras.ops.ones_like(real_logits), real_logits,
                                         from_logits=True)
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
    own network's variables. Noise comes from a ``keras.random.SeedGenerator``
    seeded with ``seed``, whose state is saved in checkpoints.

    Example:
        generator, discriminator = build_models("mlp", seed=0)
        gan = GAN(generator, discriminator, seed=0)
        gan.compile(make_optimizer(), make_optimizer())
        gan.fit(data.gan_dataset(images), epochs=1)
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(generator.input_shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
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

    def discriminator_step(self, real_images):
        """One Adam step on the discriminator only; returns its loss (a scalar).

        The fakes come from the generator in training mode (BatchNorm on batch
        statistics), as in the generator's own step, but outside the tape.
        """
        fake_images = self.generator(self.sample_noise(tf.shape(real_images)[0]), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            loss = discriminator_loss(real_logits, fake_logits)
            replica_loss = loss / _replicas()  # the replicas' gradients are summed
        variables = self.discriminator.trainable_variables
        gradients = tape.gradient(replica_loss, variables)
        self.discriminator_optimizer.apply_gradients(zip(gradients, variables))
        return loss

    def generator_step(self, batch_size):
        """One Adam step on the generator only (the discriminator is held fixed); returns its loss."""
        noise = self.sample_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(noise, training=True), training=True)
            loss = generator_loss(fake_logits)
            replica_loss = loss / _replicas()
        variables = self.generator.trainable_variables
        gradients = tape.gradient(replica_loss, variables)
        self.generator_optimizer.apply_gradients(zip(gradients, variables))
        return loss

    def train_step(self, real_images):
        """``fit`` calls this once per batch of real images ``(B, 28, 28, 1)`` in ``[-1, 1]``."""
        d_loss = self.discriminator_step(real_images)
        g_loss = self.generator_step(tf.shape(real_images)[0])
        return {"d_loss": d_loss, "g_loss": g_loss}

    def generate(self, noise) -> np.ndarray:
        """Images ``(N, 28, 28, 1)`` in ``[-1, 1]`` for ``noise`` ``(N, latent_dim)``.

        Runs the generator with ``training=False``: BatchNorm uses its moving
        averages, so an image depends on its own noise only, not on the batch.
        """
        return np.concatenate([  # in chunks, to bound memory for many samples
            keras.ops.convert_to_numpy(self.generator(noise[start:start + 1000], training=False))
            for start in range(0, len(noise), 1000)])


def _replicas() -> int:
    """How many replicas share a batch: gradients are summed over them, so losses are divided."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def build_gan(model: str = "mlp", seed: int = 0, upsampling: str = "transpose",
              latent_dim: int = LATENT_DIM, learning_rate: float = LEARNING_RATE,
              kernel_size: int | None = None) -> GAN:
    """A compiled ``GAN`` with fresh networks; everything random derives from ``seed``.

    Call it inside ``strategy.scope()`` to train on several devices.
    """
    generator, discriminator = build_models(model, latent_dim, upsampling, seed, kernel_size)
    gan = GAN(generator, discriminator, seed=seed, name=f"{model}_gan")
    gan.compile(make_optimizer(learning_rate), make_optimizer(learning_rate))
    return gan


# --- Section 5: watching it learn (fixed noise, 4x4 grids, loss curves) -----------------


def fixed_noise(count: int = 16, latent_dim: int = LATENT_DIM, seed: int = 0) -> np.ndarray:
    """The same noise batch ``(count, latent_dim)`` every time, to draw after each epoch."""
    return keras.ops.convert_to_numpy(keras.random.normal((count, latent_dim), seed=seed))


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
    """After every epoch, draw ``noise`` with the generator and keep the grid in ``frames``.

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


# --- Section 6: checkpoints, Ctrl-C and resuming ----------------------------------------


def make_checkpoint(gan: GAN) -> tf.train.Checkpoint:
    """Everything training changes: both networks, both optimizers, the noise generator's state.

    The discriminator optimizer's ``iterations`` counts the finished steps, which
    is where a resumed run continues.
    """
    return tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                               generator_optimizer=gan.generator_optimizer,
                               discriminator_optimizer=gan.discriminator_optimizer,
                               seed_state=gan.seed_generator.state)


def checkpoint_manager(gan: GAN, directory: str | Path, max_to_keep: int = 3):
    """A ``tf.train.CheckpointManager`` keeping the last ``max_to_keep`` checkpoints of ``gan``."""
    return tf.train.CheckpointManager(make_checkpoint(gan), str(directory), max_to_keep=max_to_keep)


def steps_done(gan: GAN) -> int:
    """How many training steps ``gan`` has taken (restored from a checkpoint, or 0)."""
    return int(keras.ops.convert_to_numpy(gan.discriminator_optimizer.iterations))


def restore_latest(gan: GAN, directory: str | Path) -> int:
    """Load the newest checkpoint in ``directory`` into ``gan``; return its step count.

    A checkpoint whose files were deleted is skipped, so deleting a damaged newest
    checkpoint falls back to the previous one (the manager keeps three).

    Raises:
        NeuralArtError: ``directory`` holds no checkpoint.
        CheckpointError: the newest checkpoint is damaged (a file cut short or
            overwritten); the message names it and the checkpoint to fall back to.
    """
    manager = checkpoint_manager(gan, directory)
    saved = [path for path in manager.checkpoints if tf.io.gfile.exists(path + ".index")]
    if not saved:
        raise NeuralArtError(f"No checkpoint in {directory}; train first with "
                             f"`neuralart gan train --out {directory}`.")
    try:
        manager.checkpoint.restore(saved[-1]).assert_consumed()
    except (tf.errors.OpError, IndexError) as error:  # IndexError: a .data file cut short
        raise _damaged_checkpoint(saved, error) from error
    return steps_done(gan)


def _damaged_checkpoint(saved: list[str], error: Exception) -> CheckpointError:
    """The error for the unreadable ``saved[-1]``: its bad file, what to delete, the fallback."""
    prefix = Path(saved[-1])
    files = sorted(Path(name).name for name in tf.io.gfile.glob(f"{prefix}.*"))
    damaged = [f"{prefix.name}.index"]
    with contextlib.suppress(tf.errors.OpError):  # the .index reads, so a .data file is damaged
        tf.train.load_checkpoint(str(prefix))
        damaged = [name for name in files if ".data-" in name] or [f"{prefix.name}.data-*"]
    advice = (f"delete {' and '.join(files)} in {prefix.parent} to fall back to the previous "
              f"checkpoint, {Path(saved[-2]).name}" if saved[1:] else
              f"no earlier checkpoint is left: delete {prefix.parent} and train again")
    return CheckpointError(f"Checkpoint {prefix} is damaged ({' '.join(damaged)}: "
                           f"{' '.join(str(error).split())}); {advice}.")


def save_checkpoint(manager: tf.train.CheckpointManager, step: int) -> str:
    """Save a checkpoint numbered ``step``; a Ctrl-C during the save waits until it is done.

    TensorFlow writes the files first and then, atomically, the small ``checkpoint``
    index that names the newest one, so a crash never leaves a half-written
    checkpoint that ``restore_latest`` would read.
    """
    with _keyboard_interrupt_deferred():
        return manager.save(checkpoint_number=step)


@contextlib.contextmanager
def _keyboard_interrupt_deferred():
    """Hold back SIGINT (Ctrl-C) inside the block and raise it at the end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def write_config(directory: str | Path, config: dict) -> Path:
    """Save the run's settings (model, seed, ...) as ``directory/config.json``, atomically."""
    path = Path(directory) / "config.json"
    text = json.dumps(config, indent=2, sort_keys=True)
    return atomic_write_text(path, text)


def read_config(directory: str | Path) -> dict:
    """The settings ``write_config`` saved; ``NeuralArtError`` when there are none."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise NeuralArtError(f"{path} not found: {directory} is not a folder made by "
                             f"`neuralart gan train`.")
    return json.loads(path.read_text())


# --- Section 5: training -----------------------------------------------------------------


def train_gan(gan: GAN, images, epochs: int, batch_size: int = 128, seed: int = 0,
              manager: tf.train.CheckpointManager | None = None,
              callbacks: list | None = None, verbose: int = 1) -> dict[str, list[float]]:
    """Train ``gan`` until it has done ``epochs`` epochs; return the losses of every step.

    Epoch ``e`` visits the images in the order ``data.epoch_order(N, seed, e)``
    and noise comes from the GAN's seed generator, so a ``gan`` restored from a
    checkpoint (``restore_latest``) continues exactly where it stopped, even
    mid-epoch, and ends with the weights of an uninterrupted run.

    Args:
        gan: a compiled ``GAN`` (fresh, or restored from a checkpoint).
        images: float32 ``(N, 28, 28, 1)`` in ``[-1, 1]``.
        epochs: total number of epochs, counting those already done.
        manager: if given, a checkpoint is saved after every epoch and on Ctrl-C.
        callbacks: Keras callbacks (e.g. ``GridSnapshots``), called as in ``fit``.
        verbose: as in ``fit``: 1 a progress bar, 2 one line per epoch, 0 nothing.

    Returns:
        ``{"d_loss": [...], "g_loss": [...]}``, one value per step taken by this call.
    """
    images = tf.convert_to_tensor(images, dtype=tf.float32)
    steps_per_epoch = int(images.shape[0]) // batch_size
    first_epoch, skip = divmod(steps_done(gan), max(steps_per_epoch, 1))
    history = LossHistory()
    if first_epoch >= epochs:
        return {"d_loss": [], "g_loss": []}
    callbacks = [history, *(callbacks or [])]
    if manager is not None:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: save_checkpoint(manager, steps_done(gan))))
    dataset = data.gan_dataset(images, batch_size, seed, first_epoch, epochs - first_epoch, skip)
    try:
        if skip:  # resumed in the middle of an epoch: finish that epoch first
            gan.fit(dataset.take(steps_per_epoch - skip), initial_epoch=first_epoch,
                    epochs=first_epoch + 1, steps_per_epoch=steps_per_epoch - skip,
                    verbose=verbose, callbacks=callbacks)
            dataset, first_epoch = dataset.skip(steps_per_epoch - skip), first_epoch + 1
        if first_epoch < epochs:
            gan.fit(dataset, initial_epoch=first_epoch, epochs=epochs,
                    steps_per_epoch=steps_per_epoch, verbose=verbose, callbacks=callbacks)
    except KeyboardInterrupt:
        if manager is not None:
            path = save_checkpoint(manager, steps_done(gan))
            print(f"Interrupted: saved {path} (step {steps_done(gan)}).")
        raise
    return history.steps
