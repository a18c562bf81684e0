"""The generators and discriminators of chapter 05_fashion_mnist_gan.

Images are float32 ``(N, 28, 28, 1)`` in ``[-1, 1]``; noise is float32
``(N, latent_dim)``; a discriminator returns logits ``(N, 1)``. A conditional
network takes ``[tensor, labels]`` with int labels ``(N,)`` in ``0..9``.
``neuralart_helpers.gan`` re-exports everything here (``gan.build_models``, ...).
"""

from __future__ import annotations

import keras

from neuralart_helpers import data, presets
from neuralart_helpers.errors import NeuralArtError

LATENT_DIM = 100                 # length of the noise vector z (the seed article's choice)
NUM_CLASSES = len(data.CLASS_NAMES)  # a conditional GAN's labels: 0 (T-shirt/top) ... 9 (ankle boot)
MODELS = presets.GAN_MODELS
UPSAMPLING = presets.GAN_UPSAMPLING
TRANSPOSE_KERNEL = 4             # DCGAN transposed convolutions: 4x4, divisible by the stride 2
RESIZE_KERNEL = 3                # DCGAN convolutions after nearest-neighbour upsampling
RECIPES = presets.GAN_RECIPES    # models that are networks plus a training recipe (build_gan)


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


# --- Section 8: a DCGAN, and the checkerboard question ---------------------------------


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


# --- Section 6: a conditional GAN, "ask for sneakers" ------------------------------------


def conditional_mlp_generator(latent_dim: int = LATENT_DIM,
                              num_classes: int = NUM_CLASSES) -> keras.Model:
    """``[noise (N, latent_dim), labels (N,) int]`` -> images ``(N, 28, 28, 1)`` in ``[-1, 1]``.

    The MLP generator with the label's one-hot vector appended to the noise
    (Mirza and Osindero 2014): the same dense layers, 10 more inputs.
    """
    noise = keras.Input((latent_dim,), name="noise")
    label = keras.Input((), dtype="int32", name="label")
    one_hot = keras.layers.CategoryEncoding(num_classes, output_mode="one_hot")(label)
    x = keras.layers.Concatenate()([noise, one_hot])
    image = mlp_generator(latent_dim + num_classes)(x)
    return keras.Model([noise, label], image, name="conditional_mlp_generator")


def conditional_mlp_discriminator(num_classes: int = NUM_CLASSES) -> keras.Model:
    """``[images (N, 28, 28, 1), labels (N,) int]`` -> logits ``(N, 1)``, a projection discriminator.

    The MLP discriminator's features ``h`` (256 values) give the logit
    ``w . h + b + e_y . h``, where ``e_y`` is a learnt vector for class ``y``
    (Miyato and Koyama 2018): an image scores high only if it is real *and*
    looks like its label, so the generator must draw the class it was asked for.
    """
    image = keras.Input((28, 28, 1), name="image")
    label = keras.Input((), dtype="int32", name="label")
    x = keras.layers.Flatten()(image)
    for units in (512, 256):
        x = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(units)(x))
    class_vector = keras.layers.Embedding(num_classes, 256, name="class_vectors")(label)
    projection = keras.layers.Dot(axes=1)([class_vector, x])
    logit = keras.layers.Add(name="logit")([keras.layers.Dense(1)(x), projection])
    return keras.Model([image, label], logit, name="conditional_mlp_discriminator")


def build_models(model: str = "mlp", latent_dim: int = LATENT_DIM, upsampling: str = "transpose",
                 seed: int = 0, kernel_size: int | None = None) -> tuple[keras.Model, keras.Model]:
    """``(generator, discriminator)`` for ``model`` in ``MODELS``, initialised from ``seed``.

    ``upsampling`` and ``kernel_size`` choose the DCGAN generator's ``upsample_block``s.
    """
    if model not in MODELS:
        raise NeuralArtError(f"model must be one of {MODELS}, got {model!r}.")
    model = RECIPES.get(model, {}).get("networks", model)
    keras.utils.set_random_seed(seed)
    if model == "mlp":
        return mlp_generator(latent_dim), mlp_discriminator()
    if model == "mlp-conditional":
        return conditional_mlp_generator(latent_dim), conditional_mlp_discriminator()
    return dcgan_generator(latent_dim, upsampling, kernel_size), dcgan_discriminator()
