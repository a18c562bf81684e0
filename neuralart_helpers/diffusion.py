"""Denoising diffusion and flow matching on Fashion-MNIST (chapter 06_diffusion).

Ho et al. (2020, "Denoising diffusion probabilistic models"): blur an image into noise
step by step (the *forward process*), train a network to predict the noise that was
added, then run the process backwards from pure noise to draw new images. Lipman et al.
(2023) and Liu et al. (2023) draw a straight line from image to noise instead and learn
its velocity (*flow matching*, *rectified flow*).

Conventions: images float32 ``(B, 28, 28, 1)`` in ``[-1, 1]`` (``data.scale_images``);
time ``t`` in ``[0, 1]``, 0 the clean image and 1 pure noise; every noisy image is
``x_t = a(t) x0 + b(t) eps`` with ``eps ~ N(0, I)`` (``noise_scales``). The network is in
``diffusion_unet``; the samplers are in ``diffusion_sampling``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers import data, gan, presets
from neuralart_helpers.checkpoints import (  # noqa: F401 - re-exported for the chapter
    checkpoint_manager, read_config, restore_latest, save_checkpoint, steps_done, write_config)
from neuralart_helpers.diffusion_unet import (  # noqa: F401 - re-exported
    NULL_CLASS, NUM_CLASSES, WIDTHS, residual_block, time_embedding, unet)
from neuralart_helpers.errors import NeuralArtError
from neuralart_helpers.training import WeightAverage

SCHEDULES = presets.DIFFUSION_SCHEDULES  # "cosine" (Nichol and Dhariwal 2021), "linear" (Ho et al.)
TARGETS = presets.DIFFUSION_TARGETS      # "eps": predict the noise; "flow": the velocity eps - x0
TRAIN_DEFAULTS = presets.DIFFUSION_TRAIN
ALPHA_BAR_MIN = 1e-5     # abar(1) is clipped here: at t = 1 a trace of the image is left
COSINE_OFFSET = 0.008    # s of Nichol and Dhariwal: keeps the first steps' noise from vanishing
LINEAR_BETAS = (0.1, 20.0)  # Ho et al.'s beta from 1e-4 to 0.02 over T = 1000 steps, times T


# --- Section 1: the forward process, from image to noise ----------------------------------


def alpha_bar(t, schedule: str = "cosine"):
    """``abar(t)``, the share of the image's variance left at time ``t``: float32, ``t``'s shape.

    ``"cosine"`` (Nichol and Dhariwal 2021): ``cos^2(pi/2 (t + s) / (1 + s))``, divided by
    its value at 0. ``"linear"`` (Ho et al. 2020, T = 1000 steps with beta from 1e-4 to
    0.02), in continuous time: ``exp(-(0.1 t + 9.95 t^2))``. Both fall from 1 at ``t = 0``
    to about 0 at ``t = 1``; they are clipped to ``[ALPHA_BAR_MIN, 1]``.
    """
    t = tf.cast(t, tf.float32)
    if schedule == "cosine":
        angle = lambda u: (u + COSINE_OFFSET) / (1.0 + COSINE_OFFSET) * (math.pi / 2)  # noqa: E731
        value = tf.cos(angle(t)) ** 2 / tf.cos(angle(tf.zeros_like(t))) ** 2  # exactly 1 at 0
    elif schedule == "linear":
        low, high = LINEAR_BETAS
        value = tf.exp(-(low * t + 0.5 * (high - low) * t ** 2))
    else:
        raise NeuralArtError(f"schedule must be one of {SCHEDULES}, got {schedule!r}.")
    return tf.clip_by_value(value, ALPHA_BAR_MIN, 1.0)


def noise_scales(t, schedule: str = "cosine"):
    """``(a(t), b(t))`` of ``x_t = a x0 + b eps``, float32 with ``t``'s shape.

    A variance-preserving schedule (``"cosine"``, ``"linear"``): ``a = sqrt(abar)``,
    ``b = sqrt(1 - abar)``, so ``a^2 + b^2 = 1``. ``"straight"``, the path of flow
    matching: ``a = 1 - t``, ``b = t``.
    """
    if schedule == "straight":
        t = tf.cast(t, tf.float32)
        return 1.0 - t, t
    signal = alpha_bar(t, schedule)
    return tf.sqrt(signal), tf.sqrt(1.0 - signal)


def _broadcast(value):
    """A per-image value ``(B,)`` (or a scalar) shaped to multiply images ``(B, H, W, C)``."""
    value = tf.convert_to_tensor(value, tf.float32)
    return tf.reshape(value, [-1, 1, 1, 1]) if value.shape.rank == 1 else value


def add_noise(x0, noise, t, schedule: str = "cosine"):
    """The closed form of the forward process: ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``.

    Args:
        x0: clean images ``(B, 28, 28, 1)`` in ``[-1, 1]``.
        noise: ``eps``, standard normal, ``x0``'s shape.
        t: times ``(B,)`` (or one for all) in ``[0, 1]``.
        schedule: ``"cosine"``, ``"linear"``, or ``"straight"`` (``(1 - t) x0 + t eps``).

    Returns:
        float32 ``x0``'s shape: ``x0`` at ``t = 0``, (almost) only noise at ``t = 1``.
    """
    a, b = noise_scales(t, schedule)
    return _broadcast(a) * tf.cast(x0, tf.float32) + _broadcast(b) * tf.cast(noise, tf.float32)


def q_step(x_s, noise, s, t, schedule: str = "cosine"):
    """One step of the forward process, from time ``s`` to a later ``t``: a sample of q(x_t | x_s).

    ``x_t = (a_t / a_s) x_s + sqrt(b_t^2 - (a_t / a_s)^2 b_s^2) eps``; for a
    variance-preserving schedule that is ``sqrt(1 - beta) x_s + sqrt(beta) eps`` with
    ``beta = 1 - abar_t / abar_s``, Ho et al.'s step. Iterated from 0 to ``t`` it gives the
    distribution of ``add_noise`` at ``t`` (Gaussian: the variances add up).
    Shapes as in ``add_noise``; ``s < t``, both in ``[0, 1)`` for ``"straight"``.
    """
    a_s, b_s = noise_scales(s, schedule)
    a_t, b_t = noise_scales(t, schedule)
    ratio = a_t / a_s
    spread = tf.sqrt(tf.maximum(b_t ** 2 - (ratio * b_s) ** 2, 0.0))
    return _broadcast(ratio) * tf.cast(x_s, tf.float32) + _broadcast(spread) * tf.cast(noise,
                                                                                    tf.float32)


def predicted_clean_and_noise(x_t, prediction, t, target: str, schedule: str):
    """``(x0_hat, eps_hat)`` from the network's ``prediction`` at ``x_t``, time ``t`` ``(B,)``.

    ``target="eps"``: the prediction is ``eps_hat``, and ``x0_hat = (x_t - b eps_hat) / a``.
    ``target="flow"``: it is the velocity ``v = eps - x0`` of the straight path, and
    ``x0_hat = x_t - t v``, ``eps_hat = x_t + (1 - t) v``. Both float32 ``x_t``'s shape.
    """
    if target == "flow":
        t = _broadcast(t)
        return x_t - t * prediction, x_t + (1.0 - t) * prediction
    a, b = noise_scales(t, schedule)
    return (x_t - _broadcast(b) * prediction) / _broadcast(a), prediction


# --- Section 2: the model and its training step ------------------------------------------


class DiffusionModel(keras.Model):
    """A denoising ``network`` (``unet``) trained by ``fit`` to predict noise or velocity.

    Each step draws a time ``t`` per image (stratified: one in each ``1/B`` of ``[0, 1]``,
    in random order) and noise ``eps``, makes ``x_t`` and minimises the mean squared
    error of the prediction: ``eps`` for ``target="eps"`` (Ho et al. 2020), the velocity
    ``eps - x0`` of the straight path ``x_t = (1 - t) x0 + t eps`` for ``target="flow"``
    (Lipman et al. 2023; ``schedule`` is then ``"straight"``). A conditional network
    (three inputs) trains on ``(images, labels)`` batches, each label replaced by
    ``NULL_CLASS`` with probability ``label_dropout`` so that the same network also
    predicts without a class (classifier-free guidance, ``diffusion_sampling``).
    Randomness is stateless, keyed on ``(seed, step)``: a resumed run draws the same numbers.
    With ``ema_momentum``, ``average`` keeps a moving average of the network's weights
    (``training.WeightAverage``), updated after every step; the samplers draw with it.
    """

    def __init__(self, network: keras.Model, target: str = "eps", schedule: str = "cosine",
                 label_dropout: float = 0.15, seed: int = 0, ema_momentum: float | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        if target not in TARGETS:
            raise NeuralArtError(f"target must be one of {TARGETS}, got {target!r}.")
        if not 0.0 <= label_dropout < 1.0:
            raise NeuralArtError(f"label_dropout must be in [0, 1), got {label_dropout}.")
        alpha_bar(0.0, schedule)  # checks the name
        self.network, self.target = network, target
        # in a variable, so that a checkpoint holds it and a restored model draws the same numbers
        self.seed = tf.Variable(int(seed), dtype=tf.int64, trainable=False, name="seed")
        self.schedule = "straight" if target == "flow" else schedule
        self.label_dropout = float(label_dropout)
        self.conditional = len(network.inputs) == 3  # [images, times, labels]
        self.average = None if ema_momentum is None else WeightAverage(network, ema_momentum)
        self.built = True  # the network is a built Functional model

    def compile(self, optimizer, **kwargs):
        """Attach the optimizer and create its slots (so checkpoints can hold them).

        It is kept as ``network_optimizer``, outside Keras's single ``optimizer``, as in ``gan.GAN``.
        """
        super().compile(optimizer=None, **kwargs)
        self.network_optimizer = optimizer
        optimizer.build(self.network.trainable_variables)

    def training_state(self) -> dict:
        """What a checkpoint holds: the network, the optimizer (its steps), the seed, the average."""
        state = {"network": self.network, "optimizer": self.network_optimizer, "seed": self.seed}
        if self.average is not None:
            state["average"] = self.average
        return state

    def step_keys(self, count: int = 3):
        """``count`` stateless seeds ``(count, 2)`` for this step and replica, from ``(seed, step)``."""
        context = tf.distribute.get_replica_context()
        replica = 0 if context is None else context.replica_id_in_sync_group
        key = tf.stack([self.seed * 1009 + tf.cast(replica, tf.int64),
                        tf.cast(self.network_optimizer.iterations, tf.int64)])
        return tf.random.experimental.stateless_split(key, count)

    def noisy_batch(self, images, keys):
        """``(x_t, t, target)`` for clean ``images`` ``(B, 28, 28, 1)``: the training example."""
        count = tf.shape(images)[0]
        shift = tf.random.stateless_uniform((), keys[0])
        order = tf.random.experimental.stateless_shuffle(tf.range(count), keys[1])
        times = (tf.cast(order, tf.float32) + shift) / tf.cast(count, tf.float32)
        noise = tf.random.stateless_normal(tf.shape(images), keys[2])
        x_t = add_noise(images, noise, times, self.schedule)
        return x_t, times, noise - images if self.target == "flow" else noise

    def drop_labels(self, labels, key):
        """``labels`` ``(B,)`` with each replaced by ``NULL_CLASS`` with probability ``label_dropout``."""
        dropped = tf.random.stateless_uniform(tf.shape(labels), key) < self.label_dropout
        return tf.where(dropped, tf.fill(tf.shape(labels), NULL_CLASS), tf.cast(labels, tf.int32))

    def train_step(self, batch):
        """One Adam step on a batch ``(B, 28, 28, 1)`` in ``[-1, 1]`` (conditional: with labels)."""
        images, labels = batch if self.conditional else (batch, None)
        keys = self.step_keys(4)
        x_t, times, target = self.noisy_batch(images, keys)
        inputs = [x_t, times] if labels is None else [x_t, times, self.drop_labels(labels, keys[3])]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.network(inputs, training=True) - target))
            replica_loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.network.trainable_variables
        gradients = tape.gradient(replica_loss, variables)
        self.network_optimizer.apply_gradients(zip(gradients, variables))
        if self.average is not None:
            self.average.update()
        return {"loss": loss}

    @property
    def metrics(self) -> list:
        """None: ``train_step`` reports each step's loss itself. (Keras would otherwise report its
        own "loss" tracker, which this model never updates, as 0 at the end of every epoch.)"""
        return []

    def sampling_network(self) -> keras.Model:
        """The network that draws: with the moving average of its weights, if it keeps one."""
        return self.network if self.average is None else self.average.network_copy()

    def generate(self, noise, labels=None) -> np.ndarray:
        """Images ``(N, 28, 28, 1)`` in ``[-1, 1]`` from starting noise ``(N, 28, 28, 1)``.

        The default sampler for the target (``diffusion_sampling.default_sampler``: DDIM for
        ``eps``, Euler for ``flow``, both deterministic) with the default number of steps and
        the averaged weights; a conditional model draws ``labels`` or the classes in
        turn. ``gan.GridSnapshots`` calls it after every epoch.
        """
        from neuralart_helpers import diffusion_sampling

        return diffusion_sampling.sample(self, len(noise), labels=labels, noise=noise)

    def check_labels(self, count: int, labels=None) -> np.ndarray | None:
        """``labels`` as int32 ``(count,)`` (every class in turn if ``None``); ``None`` if unconditional.

        Raises:
            NeuralArtError: labels for an unconditional model, or of another length, or
                outside ``0..9``.
        """
        if not self.conditional:
            if labels is not None:
                raise NeuralArtError("This diffusion model is not conditional: it draws no "
                                     "chosen class. Train one with --conditional to ask for one.")
            return None
        labels = np.arange(count) % NUM_CLASSES if labels is None else np.asarray(labels)
        if labels.shape != (count,):
            raise NeuralArtError(f"Give {count} labels, one per image, got shape {labels.shape}.")
        return data.check_labels(labels)


def build_diffusion(target: str = TRAIN_DEFAULTS["target"],
                    conditional: bool = TRAIN_DEFAULTS["conditional"],
                    schedule: str = TRAIN_DEFAULTS["schedule"], seed: int = 0,
                    widths=TRAIN_DEFAULTS["widths"],
                    learning_rate: float = TRAIN_DEFAULTS["learning_rate"],
                    ema_momentum: float | None = TRAIN_DEFAULTS["ema_momentum"],
                    label_dropout: float = TRAIN_DEFAULTS["label_dropout"],
                    jit_compile: bool = False) -> DiffusionModel:
    """A compiled ``DiffusionModel`` with a fresh ``unet(widths)``, initialised from ``seed``.

    Adam with ``learning_rate``, keeping a moving average of the weights (momentum
    ``ema_momentum``, ``None`` for none) that the samplers draw with. Call it inside
    ``strategy.scope()`` to train on several devices.
    """
    keras.utils.set_random_seed(seed)
    network = unet(tuple(widths), conditional)
    model = DiffusionModel(network, target, schedule, label_dropout, seed, ema_momentum,
                           name=f"{'conditional_' if conditional else ''}{target}_diffusion")
    model.compile(keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    return model


# --- Section 3: training, with checkpoints and exact resume --------------------------------


def fixed_noise(count: int = 16, seed: int = 0) -> np.ndarray:
    """The same starting noise ``(count, 28, 28, 1)`` every time, to draw after each epoch."""
    return keras.ops.convert_to_numpy(keras.random.normal((count, 28, 28, 1), seed=seed))


def train_diffusion(model: DiffusionModel, images, epochs: int | None,
                    batch_size: int = TRAIN_DEFAULTS["batch_size"], seed: int = 0,
                    manager: tf.train.CheckpointManager | None = None,
                    callbacks: list | None = None, verbose: int = 1,
                    labels=None) -> dict[str, list[float]]:
    """Train ``model`` until it has done ``epochs`` epochs; return ``{"loss": [...]}`` per step.

    As ``gan.train_gan``: epoch ``e`` visits the images in ``data.epoch_order(N, seed, e)``,
    a checkpoint is saved after every epoch, on Ctrl-C and where a ``gan.TimeLimit`` stops
    training (``epochs=None``: until it does), and a model restored from one
    (``restore_latest``) ends with the weights of an uninterrupted run.

    Args:
        images: float32 ``(N, 28, 28, 1)`` in ``[-1, 1]``.
        labels: the images' classes, ints ``(N,)``; needed by a conditional model only.
    """
    gan.check_end(epochs, callbacks, "train_diffusion")
    if model.conditional != (labels is not None):
        raise NeuralArtError("train_diffusion: a conditional model needs labels=... (ints (N,) "
                             "in 0..9)." if model.conditional else "train_diffusion: this model "
                             "is not conditional; leave labels out (or build it with "
                             "conditional=True).")
    return gan.fit_resumably(model, images, epochs, batch_size, seed, manager, callbacks, verbose,
                             labels)
