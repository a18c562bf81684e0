"""Helpers for the course book *Neural Art with TensorFlow*.

One module per concern, each imported on its own (nothing heavy happens here).

The shared core, under every chapter:

- ``errors``: ``NeuralArtError`` and its few kinds (the CLI prints these in one line).
- ``files``: atomic writes with the user's umask.
- ``presets``: every default (backbones, layers, weights, recipes); no TensorFlow.
- ``environment``: the versions found against the ranges the package declares (the first cell).
- ``ascent``: the compiled gradient, the gradient normalisers and the one optimisation loop.
- ``tiling``: tile bounds and area-weighted tiled gradients.
- ``octaves``: the octave schedule and how many octaves fit.

Around it:

- ``assets``: the registry of downloadable files, cached and hash-checked.
- ``images``: load / convert / resize (the one resize), saving, GIFs, bundled photos.
- ``plotting``: image grids and loss curves.
- ``backbones``: SqueezeNet v1.1, InceptionV3, VGG19 with pre/deprocessing, presets and ``features``.
- ``data``: Fashion-MNIST, offline first.
- ``training``, ``checkpoints``: the moving average of a network's weights; checkpoints and resume.
- Chapter 01: ``objectives``, ``param``, ``transforms``, ``render`` (feature visualisation).
- Chapters 02 and 03: ``pyramid``, ``dream`` (DeepDream).
- Chapter 04: ``style`` (losses and the problem), ``optimizers`` (Adam, gradient descent,
  SciPy's L-BFGS-B), ``lbfgs`` (the course's L-BFGS), ``color`` (keeping the photo's colours),
  ``style_stats``, ``style_record``, ``style_recipes``, ``fast_style``.
- Chapter 05: ``gan``, ``gan_networks``, ``gan2d``; ``metrics`` (the classifier judge, also 06's).
- Chapter 06: ``diffusion``, ``diffusion_unet``, ``diffusion_sampling``.
- ``checks``, ``exercises``: the exercises' checks and the student edition.
- ``cli``: the ``neuralart`` command.
"""

__version__ = "0.1.0"
