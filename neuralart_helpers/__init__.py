"""Helpers for the course book *Neural Art with TensorFlow*.

One module per concern, each imported on its own (nothing heavy happens here):

- ``assets``: the registry of downloadable files, cached and hash-checked.
- ``images``: load / convert / resize, atomic saving, GIFs, bundled photos.
- ``plotting``: image grids and loss curves.
- ``backbones``: SqueezeNet v1.1, InceptionV3, VGG19 with pre/deprocessing and presets.
- ``data``: Fashion-MNIST, offline first.
- Chapter 01: ``objectives``, ``param``, ``transforms``, ``render`` (feature visualisation).
- Chapters 02 and 03: ``pyramid``, ``dream`` (DeepDream).
- Chapter 04: ``style`` (losses and the runner), ``lbfgs`` (the optimiser).
- Chapter 05: ``gan``, ``metrics``.
- ``checks``, ``exercises``: the exercises' checks and the student edition.
- ``cli``: the ``neuralart`` command.
"""

__version__ = "0.1.0"
