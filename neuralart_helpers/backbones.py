"""Pretrained CNNs the course looks inside: SqueezeNet v1.1, InceptionV3 and VGG19.

``load_backbone(name)`` returns a :class:`Backbone`: the Keras model (without
its classifier, any input size), the matching preprocessing and its exact
inverse, the smallest input it accepts, and named layer presets for each
technique (from :mod:`neuralart_helpers.presets`). ``backbone.features(pixels,
layers)`` gives the activations of pixel images as a dict keyed by layer name,
preprocessing included; ``backbone.extractor(layers)`` is the Keras model behind it.

SqueezeNet (Iandola et al. 2016) is defined here because Keras does not ship
it; its ImageNet weights (3 MB) come from the asset registry. InceptionV3 and
VGG19 come from ``keras.applications`` (about 90 MB of weights each, downloaded
by Keras on first use).

Range convention: every function here takes RGB pixels in ``[0, 255]``;
``preprocess`` turns them into what the network expects (BGR minus the ImageNet
mean for SqueezeNet and VGG19, ``[-1, 1]`` for InceptionV3) and ``deprocess`` undoes it.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers import presets
from neuralart_helpers.errors import AssetError, ImageTooSmallError, LayerNameError, NeuralArtError

BACKBONES = tuple(presets.BACKBONES)

# ImageNet channel means in BGR order, used by Caffe-trained models (SqueezeNet, VGG).
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)








# ---------------------------------------------------------------- preprocessing


def caffe_preprocess(image: tf.Tensor) -> tf.Tensor:
    """RGB ``[0, 255]`` -> BGR with the ImageNet mean removed (SqueezeNet, VGG19).

    Works on ``(..., H, W, 3)`` tensors.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    return image[..., ::-1] - tf.constant(_CAFFE_BGR_MEAN, tf.float32)


def caffe_deprocess(x: tf.Tensor) -> tf.Tensor:
    """Exact inverse of :func:`caffe_preprocess` (no clipping)."""
    x = tf.convert_to_tensor(x, tf.float32)
    return (x + tf.constant(_CAFFE_BGR_MEAN, tf.float32))[..., ::-1]


def inception_preprocess(image: tf.Tensor) -> tf.Tensor:
    """RGB ``[0, 255]`` -> ``[-1, 1]`` (InceptionV3)."""
    return tf.convert_to_tensor(image, tf.float32) / 127.5 - 1.0


def inception_deprocess(x: tf.Tensor) -> tf.Tensor:
    """Exact inverse of :func:`inception_preprocess` (no clipping)."""
    return (tf.convert_to_tensor(x, tf.float32) + 1.0) * 127.5


# ---------------------------------------------------------------- SqueezeNet v1.1

_FIRE_MODULES = {2: (16, 64), 3: (16, 64), 4: (32, 128), 5: (32, 128),
                 6: (48, 192), 7: (48, 192), 8: (64, 256), 9: (64, 256)}


def _fire(x, fire_id: int, squeeze: int, expand: int):
    """A Fire module: 1x1 squeeze, then parallel 1x1 and 3x3 expands, concatenated."""
    prefix = f"fire{fire_id}_"
    x = keras.layers.Conv2D(squeeze, 1, name=prefix + "squeeze1x1")(x)
    x = keras.layers.ReLU(name=prefix + "relu_squeeze1x1")(x)
    left = keras.layers.Conv2D(expand, 1, name=prefix + "expand1x1")(x)
    left = keras.layers.ReLU(name=prefix + "relu_expand1x1")(left)
    right = keras.layers.Conv2D(expand, 3, padding="same", name=prefix + "expand3x3")(x)
    right = keras.layers.ReLU(name=prefix + "relu_expand3x3")(right)
    return keras.layers.Concatenate(axis=-1, name=prefix + "concat")([left, right])


def squeezenet(weights: str | None = "imagenet") -> keras.Model:
    """SqueezeNet v1.1 without the classifier, for inputs of any size >= 31x31.

    Layer names follow the original Caffe model with ``/`` replaced by ``_``
    (Keras 3 forbids ``/``): ``conv1``, ``pool1``, ``fire2_squeeze1x1`` ...
    ``fire9_concat``. Input: caffe-preprocessed BGR (see :func:`caffe_preprocess`).

    Args:
        weights: ``"imagenet"`` (from the asset cache), ``None`` (random), or a
            path to an HDF5 file in the original format.
    """
    inputs = keras.Input(shape=(None, None, 3), name="input")
    x = keras.layers.Conv2D(64, 3, strides=2, name="conv1")(inputs)
    x = keras.layers.ReLU(name="relu_conv1")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for fire_id in (2, 3, 4, 5, 6, 7, 8, 9):
        x = _fire(x, fire_id, *_FIRE_MODULES[fire_id])
        if fire_id in (3, 5):
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{fire_id}")(x)
    model = keras.Model(inputs, x, name="squeezenet_v1_1")
    if weights is not None:
        load_squeezenet_weights(model, _weights_path(weights))
    return model


def _weights_path(weights: str) -> str:
    if weights != "imagenet":
        return weights
    from neuralart_helpers import assets

    try:
        return str(assets.fetch("squeezenet_weights"))
    except assets.AssetError as error:
        raise AssetError(str(error)) from None


def load_squeezenet_weights(model: keras.Model, path: str) -> None:
    """Copy kernels and biases from the original HDF5 file into ``model``, layer by layer.

    The file names layers ``fire2/squeeze1x1``; our layers are ``fire2_squeeze1x1``.
    """
    import h5py

    with h5py.File(path, "r") as weights_file:
        for h5_name in weights_file.attrs["layer_names"]:
            h5_name = h5_name.decode() if isinstance(h5_name, bytes) else h5_name
            group = weights_file.get(h5_name)
            if group is None:
                continue
            arrays = []
            group.visititems(lambda _, obj: arrays.append(np.asarray(obj))
                             if isinstance(obj, h5py.Dataset) else None)
            if not arrays:
                continue
            kernel = next(a for a in arrays if a.ndim == 4)
            bias = next(a for a in arrays if a.ndim == 1)
            model.get_layer(h5_name.replace("/", "_")).set_weights([kernel, bias])


# ---------------------------------------------------------------- the Backbone record


@dataclass
class Backbone:
    """A feature network with everything the techniques need to use it.

    Attributes:
        name: ``"squeezenet"``, ``"inception_v3"`` or ``"vgg19"``.
        model: Keras model, input ``(batch, H, W, 3)`` preprocessed.
        preprocess: RGB ``[0, 255]`` -> network input.
        deprocess: exact inverse of ``preprocess``.
        min_size: smallest height/width the network accepts.
        dream_layers: DeepDream preset, ``{layer: weight}``.
        style_layers: style-transfer preset (Gram matrices).
        content_layer: style-transfer content layer.
        visualize_layers: shallow, middle and deep layers for feature visualisation.
    """

    name: str
    model: keras.Model
    preprocess: Callable[[tf.Tensor], tf.Tensor]
    deprocess: Callable[[tf.Tensor], tf.Tensor]
    min_size: int
    dream_layers: dict[str, float]
    style_layers: tuple[str, ...]
    content_layer: str
    visualize_layers: tuple[str, ...]
    _extractors: dict = field(default_factory=dict, repr=False)

    @property
    def layer_names(self) -> list[str]:
        """Every layer whose output can be read (the input layer excluded)."""
        return [layer.name for layer in self.model.layers
                if not isinstance(layer, keras.layers.InputLayer)]

    def check_layers(self, names: Sequence[str]) -> None:
        """Raise :class:`LayerNameError` listing the valid names if any of ``names`` is unknown."""
        valid = self.layer_names
        unknown = [name for name in names if name not in valid]
        if unknown:
            raise LayerNameError(
                f"{self.name} has no layer named {', '.join(map(repr, unknown))}. "
                f"Valid layer names: {', '.join(valid)}.")

    def channels(self, layer: str) -> int:
        """Number of channels of ``layer``'s output."""
        self.check_layers([layer])
        return int(self.model.get_layer(layer).output.shape[-1])

    def check_size(self, height: int, width: int) -> None:
        """Raise :class:`ImageTooSmallError` if ``height x width`` is below ``min_size``."""
        if min(height, width) < self.min_size:
            raise ImageTooSmallError(
                f"A {height}x{width} image is too small for {self.name}: both sides must be "
                f"at least {self.min_size} pixels. Use a larger image (or fewer octaves).")

    def features(self, pixels, layers: Sequence[str]) -> dict[str, tf.Tensor]:
        """Activations ``{layer: (B, h, w, C)}`` of pixel images, preprocessing included.

        Args:
            pixels: ``(H, W, 3)`` or ``(B, H, W, 3)`` RGB in ``[0, 255]`` (array or tensor;
                one image gets a batch axis of 1).
            layers: the layer names to read.

        Differentiable with respect to ``pixels`` (use it inside a ``GradientTape``).
        """
        pixels = tf.convert_to_tensor(pixels, tf.float32)
        if pixels.shape.rank == 3:
            pixels = pixels[None]
        return self.extractor(layers)(self.preprocess(pixels), training=False)

    def extractor(self, layers: Sequence[str]) -> keras.Model:
        """A model mapping a preprocessed batch to ``{layer_name: activations}``.

        Activations have shape ``(batch, h, w, channels)``. Extractors are cached
        per layer list, so asking twice costs nothing.
        """
        layers = tuple(layers)
        if not layers:
            raise LayerNameError(f"Name at least one layer. Valid layer names: "
                                 f"{', '.join(self.layer_names)}.")
        self.check_layers(layers)
        if layers not in self._extractors:
            outputs = {name: self.model.get_layer(name).output for name in layers}
            self._extractors[layers] = keras.Model(self.model.inputs, outputs,
                                                   name=f"{self.name}_features")
        return self._extractors[layers]


_NETWORKS = {
    "squeezenet": (lambda weights: squeezenet(weights), caffe_preprocess, caffe_deprocess),
    "inception_v3": (lambda weights: _keras_application(keras.applications.InceptionV3,
                                                        "InceptionV3", weights),
                     inception_preprocess, inception_deprocess),
    "vgg19": (lambda weights: _keras_application(keras.applications.VGG19, "VGG19", weights),
              caffe_preprocess, caffe_deprocess),
}


def load_backbone(name: str = presets.DEFAULT_BACKBONE,
                  weights: str | None = "imagenet") -> Backbone:
    """Build a backbone by name, frozen (``trainable = False``), with its presets.

    Args:
        name: one of ``BACKBONES``.
        weights: ``"imagenet"`` for pretrained weights, ``None`` for random ones
            (enough to test shapes and code paths offline), or a weights file path.

    Raises:
        NeuralArtError: unknown name.
        AssetError: the ImageNet weights are not cached and cannot be
            downloaded; the message says where to put the file.

    The layer presets and minimum size come from
    :data:`neuralart_helpers.presets.BACKBONES`.
    """
    if name not in _NETWORKS:
        raise NeuralArtError(f"Unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}.")
    build, preprocess, deprocess = _NETWORKS[name]
    model = build(weights)
    model.trainable = False
    spec = presets.BACKBONES[name]
    return Backbone(name, model, preprocess, deprocess, min_size=spec["min_size"],
                    dream_layers=dict(spec["dream_layers"]), style_layers=spec["style_layers"],
                    content_layer=spec["content_layer"],
                    visualize_layers=spec["visualize_layers"])


def _snake_case(name: str) -> str:
    """``Conv2D`` -> ``conv2d``, ``BatchNormalization`` -> ``batch_normalization``, as Keras names."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _fresh_session_names(model: keras.Model) -> dict[str, str]:
    """``{name: name it would have had in a fresh session}`` for the automatically named layers.

    Keras numbers unnamed layers across the whole session (``conv2d``, ``conv2d_1``, ...), so
    a second InceptionV3 calls its first convolution ``conv2d_94`` and the ``conv2d`` of the
    presets would not exist. Within one model the numbers keep their order, so counting
    each kind of layer from zero gives back the names of a first build.
    """
    numbered: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        match = re.fullmatch(rf"{re.escape(base)}(?:_(\d+))?", layer.name)
        if match:
            numbered[base].append((int(match.group(1) or 0), layer.name))
    return {name: base if index == 0 else f"{base}_{index}"
            for base, layers in numbered.items()
            for index, (_, name) in enumerate(sorted(layers))}


def _with_fresh_session_names(model: keras.Model) -> keras.Model:
    """``model`` itself, or a copy (same weights) whose layers have their first-build names."""
    names = {old: new for old, new in _fresh_session_names(model).items() if old != new}
    if not names:
        return model

    def renamed(layer):
        config = layer.get_config()
        config["name"] = names.get(layer.name, layer.name)
        return type(layer).from_config(config)

    copy = keras.models.clone_model(model, clone_function=renamed)
    copy.set_weights(model.get_weights())
    return copy


def _keras_application(constructor, label: str, weights: str | None) -> keras.Model:
    try:
        model = constructor(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as error:  # noqa: BLE001 - Keras raises bare Exception when offline
        if weights != "imagenet":
            raise
        from neuralart_helpers.assets import keras_home

        raise AssetError(
            f"The ImageNet weights of {label} could not be downloaded ({str(error).splitlines()[0]}). "
            f"On a machine with internet run `python -c \"import keras; "
            f"keras.applications.{label}(include_top=False)\"` and copy the .h5 file it "
            f"saves into {keras_home() / 'models'}; or use the offline backbone "
            f"'squeezenet'.") from None
    return _with_fresh_session_names(model)
