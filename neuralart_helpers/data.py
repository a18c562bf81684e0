"""Fashion-MNIST (Xiao et al. 2017), offline first.

The four IDX files are looked up in the Keras cache, then in Debian's
``dataset-fashion-mnist`` package, then downloaded (see ``assets``).

Range convention: ``load_fashion_mnist`` gives uint8 images in ``[0, 255]``;
``scale_images`` maps them to float32 ``[-1, 1]``, the range the GAN draws in.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from neuralart_helpers import assets
from neuralart_helpers.errors import NeuralArtError
from neuralart_helpers.files import atomic_write
from neuralart_helpers.images import to_uint8

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def class_index(name: str | int) -> int:
    """The class number (0-9) of a Fashion-MNIST class name or number, e.g. ``"sneaker"`` -> 7.

    Names match ``CLASS_NAMES`` case-insensitively; ``"7"`` and ``7`` give 7 too.

    Raises:
        NeuralArtError: no such class; the message lists the ten names.
    """
    text = str(name).strip()
    lowered = [class_name.lower() for class_name in CLASS_NAMES]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    if text.isdecimal() and text.isascii() and int(text) < len(CLASS_NAMES):
        return int(text)
    raise NeuralArtError(f"Unknown class {text!r}: use a number from 0 to {len(CLASS_NAMES) - 1} "
                         f"or one of {', '.join(CLASS_NAMES)}.")


def check_labels(labels) -> np.ndarray:
    """``labels`` as int32 ``(N,)``, after checking they are class numbers 0-9.

    Raises:
        NeuralArtError: not one whole number per image, or a number outside 0-9.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise NeuralArtError(f"Labels must be one class number per image, shape (N,), got shape "
                             f"{labels.shape}.")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise NeuralArtError(f"Labels must be whole numbers (class numbers), got {labels.dtype}.")
    bad = labels[(labels < 0) | (labels >= len(CLASS_NAMES))]
    if bad.size:
        raise NeuralArtError(f"Labels are class numbers from 0 to {len(CLASS_NAMES) - 1}, got "
                             f"{bad[0]}.")
    return labels.astype(np.int32)


def read_idx(path) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST format) into a uint8 array.

    Images come out as ``(N, 28, 28)``, labels as ``(N,)``.
    """
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images and labels.

    Args:
        split: ``"train"`` (60 000 images) or ``"test"`` (10 000).

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28)`` in ``[0, 255]`` and uint8 ``(N,)`` in ``[0, 9]``
        (see ``CLASS_NAMES``).

    Raises:
        assets.AssetError: the files are nowhere to be found and cannot be downloaded;
            the message says where to put them (or to install ``dataset-fashion-mnist``).
    """
    if split not in ("train", "test"):
        raise NeuralArtError(f"split must be 'train' or 'test', got {split!r}.")
    try:
        images = read_idx(assets.fetch(f"fashion_{split}_images"))
        labels = read_idx(assets.fetch(f"fashion_{split}_labels"))
    except assets.AssetError as error:
        raise assets.AssetError(f"{error} On Debian/Ubuntu, `sudo apt-get install "
                                f"dataset-fashion-mnist` also provides these files.") from None
    return images, labels


# --- Chapter 05: the GAN's input pipeline ------------------------------------------------


def scale_images(images) -> np.ndarray:
    """Pixels to the range a ``tanh`` generator draws in: ``x / 127.5 - 1``.

    Args:
        images: ``(N, 28, 28)`` or ``(N, 28, 28, 1)``, values in ``[0, 255]`` (uint8 or float).

    Returns:
        float32 ``(N, 28, 28, 1)`` in ``[-1, 1]``.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise NeuralArtError(f"Expected grayscale images of shape (N, H, W) or (N, H, W, 1), "
                         f"got {images.shape}.")
    return images / 127.5 - 1.0


def unscale_images(images) -> np.ndarray:
    """The inverse of ``scale_images``: ``[-1, 1]`` back to pixels in ``[0, 255]`` (float32)."""
    return (np.clip(np.asarray(images, dtype=np.float32), -1.0, 1.0) + 1.0) * 127.5


def save_samples(path: str | os.PathLike, images) -> Path:
    """Save generated images as a ``.npy`` file in the data set's own format, atomically.

    Args:
        path: the file to write (a ``.npy`` name).
        images: ``(N, H, W, 1)`` or ``(N, H, W)`` in ``[-1, 1]``, as ``gan.GAN.generate`` draws.

    Returns:
        ``path``. The file holds uint8 ``(N, H, W)`` in ``[0, 255]``, like the images of
        ``load_fashion_mnist``, rounded as a saved PNG is: ``scale_images(np.load(path))``
        gives the images back to within half a grey level (1 / 255).
    """
    pixels = to_uint8(unscale_images(images))
    if pixels.ndim == 4 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim != 3:
        raise NeuralArtError(f"save_samples expects grey images (N, H, W, 1) or (N, H, W), got "
                             f"shape {pixels.shape}.")

    def write(tmp_path: str) -> None:
        with open(tmp_path, "wb") as stream:  # np.save(name) would append ".npy" to a name
            np.save(stream, pixels)

    return atomic_write(path, write)


def epoch_order(num_images: int, seed: int, epoch):
    """The order in which epoch ``epoch`` visits the images: a permutation of ``range(num_images)``.

    It depends only on ``(seed, epoch)`` (a stateless shuffle), so a run resumed
    at epoch ``k`` sees exactly the batches an uninterrupted run would have seen.
    ``epoch`` may be a Python int or a scalar tensor. Returns an int32 tensor ``(num_images,)``.
    """
    import tensorflow as tf

    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(num_images, dtype=tf.int32), seed=key)


def gan_dataset(images, batch_size: int = 128, seed: int = 0, first_epoch: int = 0,
                num_epochs: int = 1, skip_batches: int = 0, labels=None):
    """Shuffled batches of ``num_epochs`` epochs, one after the other, as a ``tf.data.Dataset``.

    Args:
        images: float32 ``(N, 28, 28, 1)`` in ``[-1, 1]`` (see ``scale_images``).
        batch_size: images per batch; each epoch drops its last incomplete batch, so
            every epoch has ``N // batch_size`` batches of the same shape.
        seed: with the epoch number, fixes each epoch's order (``epoch_order``).
        first_epoch, num_epochs: the epochs to produce, ``first_epoch, first_epoch + 1, ...``.
        skip_batches: start this many batches into ``first_epoch`` (to resume mid-epoch).
        labels: if given, the images' classes ``(N,)``, batched beside them.

    Returns:
        A dataset of float32 ``(batch_size, 28, 28, 1)`` tensors in ``[-1, 1]``, or
        of ``(images, labels)`` pairs with int32 labels ``(batch_size,)``.
    """
    import tensorflow as tf

    if batch_size < 1 or len(images) < batch_size:
        raise NeuralArtError(f"batch_size must be between 1 and the number of images "
                         f"({len(images)}), got {batch_size}.")
    images = tf.convert_to_tensor(images, dtype=tf.float32)
    num_images = int(images.shape[0])
    if labels is not None and len(labels) != num_images:
        raise NeuralArtError(f"gan_dataset: {len(labels)} labels for {num_images} images.")
    labels = None if labels is None else tf.constant(check_labels(labels))

    def gather(indices):  # one batch: the images, and their labels if any
        batch = tf.gather(images, indices)
        return batch if labels is None else (batch, tf.gather(labels, indices))

    def epoch_batches(epoch):  # the index batches of one epoch
        order = epoch_order(num_images, seed, epoch)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True)

    batches = tf.data.Dataset.range(first_epoch, first_epoch + num_epochs).flat_map(epoch_batches)
    count = num_epochs * (num_images // batch_size) - skip_batches  # flat_map cannot know it
    return without_autotune(batches.skip(skip_batches)
                            .apply(tf.data.experimental.assert_cardinality(count))
                            .map(gather, num_parallel_calls=2).prefetch(2))


def without_autotune(dataset):
    """``dataset`` with tf.data's autotuning switched off (a fixed pipeline instead).

    The autotuner's thread sleeps for a period that doubles while a run goes on (up to a
    minute), and deleting the dataset's iterator waits for it to wake up: measured on 2
    cores, ``fit`` returned 18 to 40 s after its last step on runs of a minute or more.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
