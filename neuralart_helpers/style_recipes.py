"""Other formulations of the style-transfer loss, to compare the course's optimiser on them.

The TensorFlow tutorial ("Neural style transfer", tensorflow.org) minimises a loss of
its own on a ``[0, 1]`` image with Adam. :func:`tutorial_formulation` writes that loss
on any backbone's layers as ``style.StyleTransfer`` keywords, in the course's pixel
units, so that ``benchmarks/bench_style.py --formulation tutorial`` can time the
course's L-BFGS against the tutorial's Adam on the tutorial's own loss.
"""

from __future__ import annotations

from neuralart_helpers import presets
from neuralart_helpers.backbones import Backbone


def tutorial_formulation(backbone: Backbone) -> dict:
    """``StyleTransfer`` keywords for the TensorFlow tutorial's loss on ``backbone``'s layers.

    Style: the mean over the ``L`` style layers of ``mean((G - A)^2)`` (Grams divided
    by the number of positions), times ``1e-2``, i.e. a weight ``1e-2 / L`` per layer;
    content: ``1e4 * mean((F - P)^2)``; total variation: ``30 *
    tf.image.total_variation`` of the ``[0, 1]`` image, i.e. ``(30 / 255) * (sum |dy| +
    sum |dx|)`` in pixels (``presets.TUTORIAL_FORMULATION``). The tutorial's optimiser
    is ``presets.TUTORIAL_ADAM``.
    """
    settings = dict(presets.TUTORIAL_FORMULATION)
    scale = settings.pop("style_scale")
    layers = backbone.style_layers
    return {**settings, "layer_weights": {layer: scale / len(layers) for layer in layers}}
