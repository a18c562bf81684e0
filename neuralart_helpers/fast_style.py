"""Fast style transfer: a network that paints a photo in one pass (chapter 04, section 12).

Johnson, Alahi and Fei-Fei (2016) and Ulyanov et al. (2016) train a feed-forward
*image transformation network* on the perceptual loss of Gatys et al. (content,
style and total variation, computed by a fixed pretrained CNN), so that one forward
pass stylises any photo instead of one optimisation per photo. The pieces:

1. :func:`transform_network`: downsampling convolutions, residual blocks, and
   resize-then-convolve upsampling (no checkerboard, chapter 05), with instance
   normalisation (Ulyanov et al. 2016) after every convolution but the last.
2. :func:`photo_crops`: random crops and flips of the bundled photos, the training set.
3. :class:`FastStyleTrainer`: a ``keras.Model`` whose ``train_step`` takes a batch of
   crops, paints them, and descends the perceptual loss of :mod:`neuralart_helpers.style`
   (the same functions as the optimisation of sections 1-10), style from one painting.
4. :func:`train_fast_style` (checkpoints, a time limit, exact resume) and
   :func:`save_network` / :func:`load_network` (one ``.keras`` file, written atomically).

Pixels everywhere are RGB float32 in ``[0, 255]``, as in :mod:`neuralart_helpers.style`.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers import data, files, images, presets, style
from neuralart_helpers.backbones import Backbone
from neuralart_helpers.errors import NeuralArtError

FAST_STYLE = presets.FAST_STYLE
_NAME = "fast_style_network"  # the name a saved network must have (load_network checks it)


@keras.saving.register_keras_serializable("neuralart")
class CropTo(keras.layers.Layer):
    """``x[:, :H, :W]`` with ``(H, W)`` the size of a reference tensor (the network's input)."""

    def call(self, inputs):
        x, reference = inputs
        shape = tf.shape(reference)
        return x[:, :shape[1], :shape[2], :]


@keras.saving.register_keras_serializable("neuralart")
class ChangeInLogits(keras.layers.Layer):
    """``255 * sigmoid(logit(pixels / 255) + change)``: the photo, changed by ``change``.

    ``change = 0`` gives the photo back (clipped to ``[0.255, 254.745]``), so a network
    whose last layer starts at zero starts as the identity; the output stays in
    ``(0, 255)`` without a hard clip, which would give no gradient to pixels pushed past it.
    """

    def call(self, inputs):
        pixels, change = inputs
        fraction = tf.clip_by_value(pixels / 255.0, 1e-3, 1.0 - 1e-3)
        return 255.0 * tf.sigmoid(tf.math.log(fraction / (1.0 - fraction)) + change)


def _conv(x, filters: int, kernel: int, stride: int = 1, norm: bool = True, relu: bool = True):
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=not norm)(x)
    if norm:  # GroupNormalization with one group per channel is instance normalisation
        x = keras.layers.GroupNormalization(groups=-1, epsilon=1e-3)(x)
    return keras.layers.ReLU()(x) if relu else x


def transform_network(filters: int | None = None, residual_blocks: int | None = None,
                      seed: int = 0) -> keras.Model:
    """The image transformation network: pixels ``(B, H, W, 3)`` in, pixels of the same size out.

    Any ``H, W`` (odd too): the two stride-2 convolutions round up, the two 2x upsamplings
    give at least ``H x W`` back, and :class:`CropTo` trims the rest. The last layer
    starts at zero and its output changes the photo through :class:`ChangeInLogits`, so an
    untrained network returns the photo (clipped to ``[0.255, 254.745]``) and every output
    stays in ``(0, 255)``. Calls ``keras.utils.set_random_seed(seed)``, which also reseeds
    Python's, NumPy's and TensorFlow's global generators. ``filters`` (the first layer's;
    then 2x and 4x) and ``residual_blocks`` default to ``FAST_STYLE``'s.
    """
    filters = filters or FAST_STYLE["filters"]
    residual_blocks = FAST_STYLE["residual_blocks"] if residual_blocks is None else residual_blocks
    keras.utils.set_random_seed(seed)
    pixels = keras.Input((None, None, 3), name="pixels")
    x = _conv(keras.layers.Rescaling(1 / 127.5, -1.0)(pixels), filters, 9)
    x = _conv(_conv(x, 2 * filters, 3, 2), 4 * filters, 3, 2)
    for _ in range(residual_blocks):
        x = keras.layers.Add()([x, _conv(_conv(x, 4 * filters, 3), 4 * filters, 3, relu=False)])
    for width in (2 * filters, filters):
        x = _conv(keras.layers.UpSampling2D(2, interpolation="nearest")(x), width, 3)
    change = keras.layers.Conv2D(3, 9, padding="same", kernel_initializer="zeros")(x)
    return keras.Model(pixels, ChangeInLogits()([pixels, CropTo()([change, pixels])]), name=_NAME)


def photo_crops(photos: list[np.ndarray], size: int, batch_size: int, seed: int = 0,
                first_step: int = 0) -> tf.data.Dataset:
    """Batches of random ``size x size`` crops of ``photos``, flipped at random, without end.

    Batch ``s`` depends only on ``(seed, s)``, so a run resumed at step ``first_step``
    sees the batches an uninterrupted run would have seen.

    Args:
        photos: ``(H, W, 3)`` pixel images of any sizes, each at least ``size`` on both
            sides; a crop may come from anywhere in a photo.
    """
    if any(min(photo.shape[:2]) < size for photo in photos):
        raise NeuralArtError(f"Every training photo must be at least {size} px on both sides; "
                             f"use a smaller crop size or larger photos.")
    height, width = (max(photo.shape[axis] for photo in photos) for axis in (0, 1))
    stack = tf.constant(np.stack([np.pad(photo, [(0, height - photo.shape[0]),
                                                 (0, width - photo.shape[1]), (0, 0)])
                                  for photo in photos]), tf.float32)  # one tensor, zero-padded
    room = tf.constant([[photo.shape[0] - size + 1, photo.shape[1] - size + 1]
                        for photo in photos], tf.int32)  # the crop corners each photo allows

    def crop(index):  # image number `index` of the run: batch s holds s * batch_size, ...
        keys = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), index]), 3)
        pick = tf.random.stateless_uniform([], keys[0], 0, len(photos), tf.int32)
        corner = tf.random.stateless_uniform([2], keys[1], 0, 2**30, tf.int32) % room[pick]
        patch = tf.slice(stack[pick], tf.concat([corner, [0]], 0), [size, size, 3])
        return tf.image.stateless_random_flip_left_right(patch, keys[2])

    crops = tf.data.Dataset.counter(first_step * batch_size).map(crop)
    return data.without_autotune(crops.batch(batch_size, drop_remainder=True).prefetch(2))


def training_photos(size: int = FAST_STYLE["photo_size"],
                    names=FAST_STYLE["photos"]) -> list[np.ndarray]:
    """The bundled photos the network learns from, longer side ``size`` (chelsea is held out)."""
    return [images.content_photo(name, max_dim=size) for name in names]


class FastStyleTrainer(keras.Model):
    """Trains ``network`` to paint like ``style_image`` under the chapter's perceptual loss.

    The loss of a batch of crops ``x`` painted as ``y = network(x)``:
    ``content_weight * content(y, x) + style_weight * style(y) + tv_weight * tv(y)``,
    with :func:`style.content_loss`, :func:`style.style_loss` (Gram matrices of the
    painting, resized so its longer side is ``style_size``) and
    :func:`style.total_variation_loss`, averaged over the batch. The backbone is frozen.
    """

    def __init__(self, network: keras.Model, backbone: Backbone, style_image: np.ndarray,
                 style_size: int = FAST_STYLE["style_size"], jitter: int | None = None,
                 **weights):
        super().__init__(name="fast_style_trainer")
        self.network, self.backbone = network, backbone
        self.jitter_px = FAST_STYLE["jitter"] if jitter is None else jitter  # px, 0 or 1: none
        weights = {**{key: FAST_STYLE[key] for key in
                      ("content_weight", "style_weight", "tv_weight")}, **weights}
        # The optimisation problem of sections 1-10 holds the style's Gram matrices, the layers
        # and the weights; it is never run here. It wants a content image: the painting itself
        # at style_size serves, and sets the brush scale (the style is resized to its size).
        painting = images.resize_longer_side(images.check_image("style image", style_image),
                                             style_size)
        self.problem = style.StyleTransfer(backbone, painting, painting, **weights)

    def perceptual_loss(self, painted, crops) -> dict[str, tf.Tensor]:
        """``{"content", "style", "tv", "total"}`` of ``painted`` against the photos ``crops``."""
        problem = self.problem
        features = problem.features(painted)
        parts = {"content": style.content_loss(features[problem.content_layer],
                                               problem.features(crops)[problem.content_layer]),
                 "style": style.style_loss(features, problem.style_grams, problem.layer_weights),
                 "tv": style.total_variation_loss(painted, problem.tv_form)}
        weights = problem.weights
        parts["total"] = style.total_loss(parts["content"], parts["style"], parts["tv"],
                                          weights["content"], weights["style"], weights["tv"])
        return parts

    def jitter(self, pixels):
        """``pixels`` ``(B, H, W, 3)`` cut to ``(B, H - j, W - j, 3)`` at an offset of 0 to ``j - 1``.

        ``j`` is ``jitter_px``; with 0 or 1 the pixels come back unchanged. The network draws
        on a 4 px grid (two stride-2 layers) and SqueezeNet looks through one (its stride-2
        convolution and pooling). Were the grids always aligned, the network could learn a
        fine periodic pattern that only the loss network's sampling rewards; a new offset
        at every step (the same for the whole batch, and for the photos the content is
        compared with) keeps them apart. The offset depends on the step only (the constant
        17 is an arbitrary second seed word), so a resumed run sees the same offsets.
        """
        cut = self.jitter_px
        if cut <= 1:
            return pixels
        step = tf.cast(self.optimizer.iterations, tf.int32)
        dy, dx = tf.unstack(tf.random.stateless_uniform([2], [step, 17], 0, cut, tf.int32))
        height, width = pixels.shape[1], pixels.shape[2]  # static sizes keep XLA happy
        size = [-1, (height or tf.shape(pixels)[1]) - cut, (width or tf.shape(pixels)[2]) - cut, -1]
        return tf.slice(pixels, tf.stack([0, dy, dx, 0]), size)

    def call(self, pixels, training=False):
        return self.network(pixels, training=training)

    def train_step(self, crops):
        with tf.GradientTape() as tape:
            painted = self.network(crops, training=True)
            painted, crops = self.jitter(painted), self.jitter(crops)
            parts = self.perceptual_loss(painted, crops)
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(parts["total"], variables), variables))
        return parts


def make_trainer(backbone: Backbone, style_image: np.ndarray, seed: int = 0,
                 learning_rate: float | None = None, weights: dict | None = None,
                 jitter: int | None = None, **network_options) -> FastStyleTrainer:
    """A compiled :class:`FastStyleTrainer` around a fresh :func:`transform_network`.

    ``weights`` may set ``content_weight``, ``style_weight`` and ``tv_weight``;
    ``network_options`` are :func:`transform_network`'s.
    """
    trainer = FastStyleTrainer(transform_network(seed=seed, **network_options), backbone,
                               style_image, jitter=jitter, **(weights or {}))
    trainer.compile(keras.optimizers.Adam(learning_rate or FAST_STYLE["learning_rate"]))
    return trainer


def checkpoint_manager(trainer: FastStyleTrainer, directory, max_to_keep: int = 2):
    """A ``tf.train.CheckpointManager`` for the network and its optimizer (the step count)."""
    checkpoint = tf.train.Checkpoint(network=trainer.network, optimizer=trainer.optimizer)
    return tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep)


def train_fast_style(trainer: FastStyleTrainer, photos: list[np.ndarray], steps: int | None,
                     manager: tf.train.CheckpointManager | None = None,
                     callbacks: list | None = None, crop_size: int | None = None,
                     batch_size: int | None = None, seed: int = 0,
                     verbose: int = 1) -> dict[str, list[float]]:
    """Train until the optimizer has done ``steps`` steps (or a ``TimeLimit`` callback stops it).

    Resumable: the step count lives in the optimizer (``manager`` restores it with the
    weights, see :func:`restore_latest`) and the crops depend on the step only, so a
    resumed run ends with the weights of an uninterrupted one. With ``manager``, a
    checkpoint is written every ``FAST_STYLE["save_every"]`` steps, at the end and on Ctrl-C.
    ``crop_size`` and ``batch_size`` default to ``FAST_STYLE``'s.

    Returns:
        ``{"total": [...], "content": [...], "style": [...], "tv": [...]}`` per step.
    """
    from neuralart_helpers.checkpoints import save_checkpoint
    from neuralart_helpers.gan import LossHistory, TimeLimit

    if steps is None and not any(isinstance(c, TimeLimit) for c in callbacks or []):
        raise NeuralArtError("train_fast_style: give steps, or a TimeLimit callback to stop it.")
    crop_size = crop_size or FAST_STYLE["crop_size"]
    batch_size = batch_size or FAST_STYLE["batch_size"]
    _check_crop_size(crop_size, trainer.jitter_px, trainer.backbone.min_size)
    trainer.optimizer.build(trainer.network.trainable_variables)
    done = int(trainer.optimizer.iterations.numpy())
    todo = (steps - done) if steps is not None else 10**9  # None: until the TimeLimit stops it
    history = LossHistory()
    callbacks = [*(callbacks or []), *([_saving_callback(manager, done)] if manager else [])]
    try:
        if todo > 0:
            trainer.fit(photo_crops(photos, crop_size, batch_size, seed, done), epochs=1,
                        steps_per_epoch=todo, verbose=verbose, callbacks=[history, *callbacks])
    except KeyboardInterrupt:
        if manager is not None:
            save_checkpoint(manager, int(trainer.optimizer.iterations.numpy()))
        raise
    if manager is not None:
        save_checkpoint(manager, int(trainer.optimizer.iterations.numpy()))
    return history.steps


def _check_crop_size(crop_size: int, jitter: int, min_size: int) -> None:
    seen = crop_size - (jitter if jitter > 1 else 0)
    if seen < min_size:
        raise NeuralArtError(f"Crops of {crop_size} px leave {seen} px after the {jitter} px "
                             f"jitter; the loss network needs at least {min_size}: use crops of "
                             f"{crop_size + min_size - seen} px or more.")


def _saving_callback(manager: tf.train.CheckpointManager, done: int) -> keras.callbacks.Callback:
    """Save a checkpoint every ``FAST_STYLE["save_every"]`` steps of the whole run (``done`` before)."""
    from neuralart_helpers.checkpoints import save_checkpoint

    def save_on_schedule(batch, logs):
        if (done + batch + 1) % FAST_STYLE["save_every"] == 0:
            save_checkpoint(manager, done + batch + 1)

    return keras.callbacks.LambdaCallback(on_train_batch_end=save_on_schedule)


def restore_latest(trainer: FastStyleTrainer, directory) -> int:
    """Restore the newest checkpoint in ``directory`` into ``trainer``; return its step (0 if none).

    Raises:
        CheckpointError: the checkpoint is damaged, or holds a network of another shape.
    """
    from neuralart_helpers.checkpoints import _damaged_checkpoint

    manager = checkpoint_manager(trainer, directory)
    saved = [path for path in manager.checkpoints if tf.io.gfile.exists(path + ".index")]
    if not saved:
        return 0
    trainer.optimizer.build(trainer.network.trainable_variables)
    try:
        manager.checkpoint.restore(saved[-1]).assert_existing_objects_matched()
    except (tf.errors.OpError, IndexError, ValueError, AssertionError) as error:
        raise _damaged_checkpoint(saved, error) from error
    return int(trainer.optimizer.iterations.numpy())


_COMPILED: "weakref.WeakKeyDictionary[keras.Model, Callable]" = weakref.WeakKeyDictionary()


def stylize(network: keras.Model, photo: np.ndarray) -> np.ndarray:
    """One forward pass: the ``(H, W, 3)`` photo painted, ``(H, W, 3)`` float32 in ``[0, 255]``.

    The pass is compiled once per network (a ``tf.function`` for any image size), which
    saves Keras's layer-by-layer Python work on every call: the first call traces.
    """
    photo = images.check_image("photo", photo)
    if network not in _COMPILED:
        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        weak = weakref.ref(network)  # the cache must not keep the network alive
        _COMPILED[network] = tf.function(lambda batch: weak()(batch, training=False),
                                         input_signature=[spec])
    return _COMPILED[network](tf.constant(photo[None])).numpy()[0]


def save_network(network: keras.Model, path) -> Path:
    """Write ``network`` to ``path`` (``.keras``) atomically: an old file is never half-replaced."""
    if Path(path).suffix != ".keras":
        raise NeuralArtError(f"A style network is saved as a .keras file, got {Path(path).name}.")
    return files.atomic_write(path, network.save)


def load_network(path) -> keras.Model:
    """Load a network written by :func:`save_network`; a one-line error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise NeuralArtError(f"{path}: no such model file; train one with "
                             f"`neuralart style-train STYLE {path}`.")
    try:
        network = keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for a foreign file
        raise NeuralArtError(f"{path} is not a Keras model file ({type(error).__name__}); "
                             f"train one with `neuralart style-train`.") from None
    if network.name != _NAME:
        raise NeuralArtError(f"{path} holds a Keras model named {network.name!r}, not a style "
                             f"network from `neuralart style-train`.")
    return network
