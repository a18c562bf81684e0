"""What one unit sees: receptive fields, their effective size, and dataset examples (chapter 01).

- :func:`receptive_field`: the *theoretical* field of a layer, walked from the Keras
  model's convolution and pooling kernels and strides: its side in input pixels,
  the stride between neighbouring units, and where unit 0 is centred.
- :func:`effective_receptive_field`: the *effective* field (Luo et al. 2016): how
  much each input pixel moves one unit, ``|d a / d x|`` summed over colour and
  normalised; :func:`mass_radius` measures how far from the unit's centre most of it lies.
- :func:`ring_amplitude`: the Fourier amplitude of an image or gradient at one
  spatial frequency, to compare what a step changes with the gradient it follows.
- :func:`top_crops`: the crops of photos that excite one channel most (the
  "dataset examples" of Olah et al. 2017), mapped back through the field's geometry.

Pixel coordinates: pixel ``k`` of a side is centred at ``k``; images are ``[0, 255]``.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers import objectives
from neuralart_helpers.errors import NeuralArtError


class Field(NamedTuple):
    """The theoretical receptive field of a layer along one axis.

    Attributes:
        size: the side of one unit's field, in input pixels.
        stride: input pixels between the fields of neighbouring units.
        start: the input-pixel coordinate of the centre of unit 0's field
            (unit ``i`` is centred at ``start + i * stride``).
    """

    size: int
    stride: int
    start: float


_UNSUPPORTED = (keras.layers.ZeroPadding2D, keras.layers.Cropping2D, keras.layers.UpSampling2D,
                keras.layers.Conv2DTranspose)


def _kernel(layer: keras.layers.Layer, axis: int) -> tuple[int, int, str]:
    """``(kernel span, stride, padding)`` of a layer along ``axis``; pointwise layers: ``(1, 1, "valid")``."""
    if isinstance(layer, _UNSUPPORTED):
        raise NeuralArtError(f"receptive_field does not handle a {type(layer).__name__} "
                             f"layer ({layer.name}).")
    size = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if size is None:
        return 1, 1, "valid"
    dilation = getattr(layer, "dilation_rate", (1, 1))
    return (int(size[axis]) - 1) * int(dilation[axis]) + 1, int(layer.strides[axis]), layer.padding


def _union(fields: Sequence[Field]) -> Field:
    """The field covering all of ``fields`` (the inputs of a concatenation or a sum)."""
    low = min(f.start - (f.size - 1) / 2 for f in fields)
    high = max(f.start + (f.size - 1) / 2 for f in fields)
    return Field(int(round(high - low + 1)), max(f.stride for f in fields), (low + high) / 2)


def receptive_field(network, layer: str, axis: int = 0) -> Field:
    """The theoretical receptive field of ``layer``'s units along ``axis`` (0: rows, 1: columns).

    Walks the model from its input: a kernel spanning ``k`` pixels with stride ``s``
    grows the field by ``(k - 1)`` times the incoming stride and multiplies the
    stride by ``s``; a concatenation or sum takes the union of its inputs' fields.
    ``"same"`` padding is assumed to pad ``(k - s) // 2`` before (exact for stride 1).

    Args:
        network: a :class:`~neuralart_helpers.backbones.Backbone` or a Keras model.
        layer: a layer name.
    """
    model = getattr(network, "model", network)
    producer = {id(current.output): current.name for current in model.layers}
    fields: dict[str, Field] = {}
    for current in model.layers:
        inputs = [] if isinstance(current, keras.layers.InputLayer) else current.input
        parents = [producer[id(tensor)] for tensor in keras.tree.flatten(inputs)]
        if not parents:
            fields[current.name] = Field(1, 1, 0.0)
            continue
        incoming = _union([fields[name] for name in parents])
        span, stride, padding = _kernel(current, axis)
        before = 0 if padding == "valid" else max(span - stride, 0) // 2
        fields[current.name] = Field(incoming.size + (span - 1) * incoming.stride,
                                     incoming.stride * stride,
                                     incoming.start + ((span - 1) / 2 - before) * incoming.stride)
        if current.name == layer:
            return fields[layer]
    raise NeuralArtError(f"{model.name} has no layer named {layer!r}.")


def unit_centre(network, layer: str, row: int, column: int) -> tuple[float, float]:
    """Input-pixel ``(y, x)`` of the centre of unit ``(row, column)``'s theoretical field."""
    rows, columns = receptive_field(network, layer, 0), receptive_field(network, layer, 1)
    return rows.start + row * rows.stride, columns.start + column * columns.stride


def effective_receptive_field(backbone, layer: str, channel: int,
                              image: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """The gradient of one unit, the centre one of ``channel`` (as :func:`objectives.neuron`).

    Args:
        backbone: a :class:`~neuralart_helpers.backbones.Backbone`.
        image: ``(H, W, 3)`` pixels in ``[0, 255]``, e.g. grey noise.

    Returns:
        ``(weights, centre)``: ``weights`` is ``(H, W)``, ``|d a / d x|`` summed over
        colour and divided by its sum (so it sums to 1, and is 0 outside the
        theoretical field); ``centre`` is the unit's ``(y, x)`` from :func:`unit_centre`.

    Raises:
        NeuralArtError: the unit's gradient is zero everywhere (a dead unit on this image).
    """
    pixels = tf.constant(np.asarray(image, np.float32)[None])
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        activations = backbone.features(pixels, [layer])
        value = objectives.neuron(layer, channel)(activations)
    weights = np.abs(tape.gradient(value, pixels)[0].numpy()).sum(axis=2)
    if not weights.sum() > 0:
        raise NeuralArtError(f"The centre unit of {layer}:{channel} has a zero gradient on this "
                             f"image (it does not fire): pick another channel or image.")
    height, width = activations[layer].shape[1:3]
    return weights / weights.sum(), unit_centre(backbone, layer, height // 2, width // 2)


def mass_radius(weights: np.ndarray, centre: tuple[float, float], fraction: float = 0.9) -> float:
    """The smallest distance from ``centre`` (pixels) within which ``fraction`` of ``weights``' mass lies.

    Args:
        weights: ``(H, W)``, non-negative (e.g. from :func:`effective_receptive_field`).
        centre: ``(y, x)`` in pixels.
        fraction: in ``(0, 1]``.
    """
    rows, columns = np.indices(weights.shape)
    distance = np.hypot(rows - centre[0], columns - centre[1]).ravel()
    order = np.argsort(distance, kind="stable")
    mass = np.cumsum(np.asarray(weights, np.float64).ravel()[order])
    index = min(int(np.searchsorted(mass, fraction * mass[-1] * (1 - 1e-12))), mass.size - 1)
    return float(distance[order][index])


def ring_amplitude(array: np.ndarray, frequency: float) -> float:
    """Mean Fourier amplitude of an ``(H, W)`` or ``(H, W, C)`` array at one radial frequency.

    Averages ``|DFT|`` over the colour channels and over the frequencies
    ``(fy, fx)`` whose radius ``sqrt(fy**2 + fx**2)`` is within half a frequency bin
    (``0.5 / max(H, W)``) of ``frequency``, in cycles per pixel (``0 < frequency <= 0.5``).
    """
    array = np.asarray(array, np.float64)
    array = array[..., None] if array.ndim == 2 else array
    height, width = array.shape[:2]
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    ring = np.abs(radius - frequency) <= 0.5 / max(height, width)
    if not ring.any():
        raise NeuralArtError(f"No frequency of a {height}x{width} array is near {frequency}.")
    return float(np.abs(np.fft.fft2(array, axes=(0, 1)))[ring].mean())


class Crop(NamedTuple):
    """One dataset example: where in which photo, and how strongly the channel fired there.

    Attributes:
        photo: index into the photos given to :func:`top_crops`.
        activation: the channel's activation at that unit.
        top, left: the crop's corner in the photo (pixels).
        pixels: ``(crop_size, crop_size, 3)`` in ``[0, 255]``.
    """

    photo: int
    activation: float
    top: int
    left: int
    pixels: np.ndarray


def crop_corner(centre: float, crop_size: int, length: int) -> int:
    """The first pixel of a ``crop_size`` window centred at ``centre``, moved inside ``[0, length)``."""
    first = int(np.floor(centre - (crop_size - 1) / 2 + 0.5))
    return int(np.clip(first, 0, max(length - crop_size, 0)))


def top_crops(backbone, layer: str, channel: int, photos: Sequence[np.ndarray], crop_size: int,
              count: int) -> list[Crop]:
    """The ``count`` photo crops around the units where ``channel`` of ``layer`` fires most.

    Every unit of every photo is a candidate, strongest first; a unit is skipped when
    a unit already chosen in the same photo is centred less than ``crop_size / 2``
    pixels away, so the crops do not repeat one spot. Unit ``(i, j)`` is centred at
    :func:`unit_centre`; its crop is ``crop_size`` square, moved inside the photo.

    Args:
        photos: each ``(H, W, 3)`` in ``[0, 255]``, at least ``crop_size`` on each side.

    Returns:
        Up to ``count`` :class:`Crop`, the strongest activation first.
    """
    rows, columns = receptive_field(backbone, layer, 0), receptive_field(backbone, layer, 1)
    candidates = []
    for index, photo in enumerate(photos):
        values = backbone.features(photo, [layer])[layer][0, ..., channel].numpy()
        candidates += [(float(values[i, j]), index, rows.start + i * rows.stride,
                        columns.start + j * columns.stride) for i, j in np.ndindex(values.shape)]
    chosen, centres = [], []
    for value, index, y, x in sorted(candidates, key=lambda c: -c[0]):
        if len(chosen) == count:
            break
        if any(p == index and np.hypot(cy - y, cx - x) < crop_size / 2 for p, cy, cx in centres):
            continue
        height, width = photos[index].shape[:2]
        top, left = crop_corner(y, crop_size, height), crop_corner(x, crop_size, width)
        centres.append((index, y, x))
        chosen.append(Crop(index, value, top, left,
                           np.asarray(photos[index])[top:top + crop_size, left:left + crop_size]))
    return chosen
