"""Neural style transfer with Gram matrices (Gatys, Ecker and Bethge 2015/2016).

Chapter 04 (``notebooks/04_style_transfer.ipynb``) teaches every function here,
in this order:

1. The losses, pure functions on tensors: :func:`content_loss`,
   :func:`gram_matrix` and its normalisations, :func:`style_layer_loss`,
   :func:`style_loss` (a weighted sum over layers), :func:`total_variation_loss`
   (L1, L2 and power-1.25 forms) and :func:`total_loss`.
2. :class:`StyleTransfer`, the *problem*: it computes the content targets and the
   style Gram matrices once and compiles ``loss -> gradient`` once. Its
   :meth:`~StyleTransfer.run` hands that loss to one of the optimisers of
   :mod:`neuralart_helpers.optimizers` (Adam, normalised gradient descent, SciPy's
   L-BFGS-B) or :func:`neuralart_helpers.lbfgs.minimize` (the course's L-BFGS), which
   all share one signature, and records what they did.

Colour preservation lives in :mod:`neuralart_helpers.color`; every default weight
and learning rate in :mod:`neuralart_helpers.presets`.

The image being optimised lives in pixel space: ``(H, W, 3)`` float32 RGB in
``[0, 255]``. The backbone's preprocessing is applied inside the loss, so the
learning rates are in pixel units and mean the same for every backbone.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from neuralart_helpers import images, lbfgs, optimizers, presets, pyramid, style_stats
from neuralart_helpers.backbones import Backbone
from neuralart_helpers.errors import NeuralArtError, NonFiniteLossWarning
from neuralart_helpers.style_record import StyleResult, _Recorder, _StopOptimization
from neuralart_helpers.style_stats import gatys_style_layer_loss  # noqa: F401 - section 4

OPTIMIZERS = presets.OPTIMIZERS
TV_FORMS = presets.TV_FORMS
INITIALIZATIONS = presets.INITIALIZATIONS
LAYER_WEIGHTS = presets.STYLE_LAYER_WEIGHTS
CONTENT_WEIGHT = presets.STYLE["content_weight"]
STYLE_WEIGHT = presets.STYLE["style_weight"]
TV_WEIGHT = presets.STYLE["tv_weight"]
TUTORIAL_ADAM = presets.TUTORIAL_ADAM


# ---------------------------------------------------------------- 1. losses


def content_loss(features: tf.Tensor, target_features: tf.Tensor) -> tf.Tensor:
    """Mean squared difference between two activations of the same layer.

    Args:
        features, target_features: ``(batch, h, w, channels)`` (or any equal shapes).

    Returns:
        A scalar: ``mean((features - target_features) ** 2)``. Gatys et al. use
        half the *sum*; the mean keeps the number independent of the image size.
    """
    return tf.reduce_mean(tf.square(features - target_features))


def gram_matrix(features: tf.Tensor, normalization: str = "locations") -> tf.Tensor:
    """Channel-by-channel correlations of a layer's activations, summed over positions.

    ``G[c, d] = sum over positions p of F[p, c] * F[p, d]``.

    Args:
        features: ``(batch, h, w, channels)`` or ``(h, w, channels)``.
        normalization: ``"locations"`` divides by ``h * w`` (the TensorFlow tutorial
            and the Gluon tutorial), so images of different sizes give comparable
            Grams; ``"none"`` keeps the raw sum (Gatys et al.'s ``G``).

    Returns:
        ``(batch, channels, channels)`` (or ``(channels, channels)``), symmetric.
    """
    gram = tf.einsum("...ijc,...ijd->...cd", features, features)
    if normalization == "none":
        return gram
    if normalization != "locations":
        raise NeuralArtError(f"Unknown Gram normalization {normalization!r}; "
                              f"use 'locations' or 'none'.")
    shape = tf.shape(features)
    locations = tf.cast(shape[-3] * shape[-2], gram.dtype)
    return gram / locations


def style_layer_loss(gram: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """Mean squared difference between two Gram matrices (one layer).

    With location-normalised Grams this equals Gatys et al.'s
    ``sum((G - A) ** 2) / (4 C**2 (h w)**2)`` on raw Grams, times 4: see
    :func:`gatys_style_layer_loss`. The constant is folded into the layer weights.
    """
    return tf.reduce_mean(tf.square(gram - target_gram))


def style_loss(features: Mapping[str, tf.Tensor], target_grams: Mapping[str, tf.Tensor],
               layer_weights: Mapping[str, float], statistic: Callable | None = None) -> tf.Tensor:
    """Weighted sum over layers of :func:`style_layer_loss`.

    Args:
        features: ``{layer: (batch, h, w, C)}`` activations of the image being made.
        target_grams: ``{layer: (C, C)}`` location-normalised Grams of the style (or
            the style's ``statistic``).
        layer_weights: ``{layer: weight}``; only these layers count.
        statistic: another summary of a layer's activations to match instead of the
            Gram matrix (``style_stats``: covariance, channel mean and std, or yours).
    """
    return tf.add_n([weight * style_layer_loss((statistic or gram_matrix)(features[layer]),
                                               target_grams[layer])
                     for layer, weight in layer_weights.items()])


def total_variation_loss(image: tf.Tensor, form: str = "l2", power: float = 1.25) -> tf.Tensor:
    """How much neighbouring pixels differ; small for smooth images.

    With ``dy``/``dx`` the differences to the pixel below / to the right:

    - ``"l1"``: ``mean|dy| + mean|dx|`` (anisotropic TV, ``tf.image.total_variation``
      up to the mean);
    - ``"l2"``: ``mean(dy**2) + mean(dx**2)``;
    - ``"power"``: ``mean((dy**2 + dx**2) ** power)`` on the common
      ``(h-1, w-1)`` grid (the keras.io example, ``power=1.25``);
    - ``"l1-sum"``: ``sum|dy| + sum|dx|``, exactly ``tf.image.total_variation`` (the
      TensorFlow tutorial's form; it grows with the image size).

    Args:
        image: ``(h, w, 3)`` or ``(batch, h, w, 3)``, any value range (pixels here).
    """
    down = image[..., 1:, :, :] - image[..., :-1, :, :]
    right = image[..., :, 1:, :] - image[..., :, :-1, :]
    if form in ("l1", "l1-sum"):
        reduce = tf.reduce_mean if form == "l1" else tf.reduce_sum
        return reduce(tf.abs(down)) + reduce(tf.abs(right))
    if form == "l2":
        return tf.reduce_mean(tf.square(down)) + tf.reduce_mean(tf.square(right))
    if form == "power":
        squared = tf.square(down[..., :, :-1, :]) + tf.square(right[..., :-1, :, :])
        return tf.reduce_mean(tf.pow(squared, power))
    raise NeuralArtError(f"Unknown total-variation form {form!r}; "
                          f"choose one of {', '.join(TV_FORMS)}.")


def total_loss(content: tf.Tensor, style: tf.Tensor, variation: tf.Tensor,
               content_weight: float, style_weight: float, tv_weight: float) -> tf.Tensor:
    """``content_weight * content + style_weight * style + tv_weight * variation``."""
    return content_weight * content + style_weight * style + tv_weight * variation


# ---------------------------------------------------------------- 2. the problem and its runs


def default_layer_weights(backbone: Backbone) -> dict[str, float]:
    """``LAYER_WEIGHTS[backbone.name]``, else equal weights over ``backbone.style_layers``."""
    if backbone.name in LAYER_WEIGHTS:
        return dict(LAYER_WEIGHTS[backbone.name])
    return {layer: 1.0 / len(backbone.style_layers) for layer in backbone.style_layers}


def blend_grams(grams: Sequence[Mapping[str, tf.Tensor]],
                weights: Sequence[float]) -> dict[str, tf.Tensor]:
    """Weighted average of several styles' Grams, layer by layer (weights are normalised to sum 1).

    For weights summing to one, ``sum_i w_i * |G - A_i|**2 = |G - sum_i w_i A_i|**2 +
    constant``, so matching the blended Gram is the same as blending the style losses.
    """
    weights = np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()
    return {layer: tf.add_n([float(weight) * gram[layer] for weight, gram in zip(weights, grams)])
            for layer in grams[0]}


def _style_list(style_images) -> list:
    one_image = isinstance(style_images, (np.ndarray, tf.Tensor)) and np.ndim(style_images) in (2, 3)
    style_list = [style_images] if one_image else list(style_images)
    if not style_list:
        raise NeuralArtError("Give at least one style image.")
    return style_list


def _unknown(what: str, value, choices):
    raise NeuralArtError(f"Unknown {what} {value!r}; choose one of {', '.join(choices)}.")


class StyleTransfer:
    """One style-transfer problem: targets computed once, loss and gradient compiled once.

    Args:
        backbone: from :func:`neuralart_helpers.backbones.load_backbone`.
        content_image: ``(H, W, 3)`` in ``[0, 255]``; the result has this shape.
        style_images: one style image or a list of them, any sizes (each is resized
            so its longer side equals the content's, which sets the brush-stroke scale).
        style_blend: one weight per style image (default: equal).
        layer_weights: ``{style layer: weight}`` (default: :func:`default_layer_weights`).
        content_layer: default ``backbone.content_layer``.
        content_weight, style_weight, tv_weight: the weights of the total loss (>= 0;
            defaults in :data:`neuralart_helpers.presets.STYLE`).
        tv_form: ``"l1"``, ``"l2"`` or ``"power"`` (see :func:`total_variation_loss`).
        statistic: what "style" is: ``"gram"`` (default), ``"covariance"``, ``"mean-std"``
            or a function of one layer's activations (:mod:`neuralart_helpers.style_stats`).
    """

    def __init__(self, backbone: Backbone, content_image: np.ndarray,
                 style_images: np.ndarray | Sequence[np.ndarray], *,
                 style_blend: Sequence[float] | None = None,
                 layer_weights: Mapping[str, float] | None = None,
                 content_layer: str | None = None, content_weight: float = CONTENT_WEIGHT,
                 style_weight: float = STYLE_WEIGHT, tv_weight: float = TV_WEIGHT,
                 tv_form: str = presets.STYLE["tv_form"], statistic: str | Callable = "gram"):
        self.backbone = backbone
        self.content_image = images.check_image("content image", content_image)
        self.style_images = [fit_style_to_content(images.check_image(f"style image {i + 1}", style),
                                                  self.content_image)
                             for i, style in enumerate(_style_list(style_images))]
        for image in [self.content_image, *self.style_images]:
            backbone.check_size(*image.shape[:2])
        self.style_blend = check_blend(style_blend, len(self.style_images))
        self.layer_weights = dict(layer_weights or default_layer_weights(backbone))
        self.content_layer = content_layer or backbone.content_layer
        self.weights = {"content": content_weight, "style": style_weight, "tv": tv_weight}
        check_weights({f"{name}_weight": value for name, value in self.weights.items()}
                      | {f"weight of {layer}": w for layer, w in self.layer_weights.items()})
        self.tv_form = tv_form if tv_form in TV_FORMS else _unknown("tv_form", tv_form, TV_FORMS)
        self.layers = list(dict.fromkeys([*self.layer_weights, self.content_layer]))
        self.content_target = self.features(self.content_image)[self.content_layer]
        self.statistic = None if statistic == "gram" else style_stats.statistic_function(statistic)
        self.style_grams = blend_grams(list(map(self.style_targets, self.style_images)), self.style_blend)
        spec = tf.TensorSpec(self.content_image.shape, tf.float32)
        self.losses = tf.function(self._losses, input_signature=[spec])
        self.loss_and_gradient = tf.function(self._loss_and_gradient, input_signature=[spec])
        self.compiled_steps: dict = {}  # Adam's and GD's step, L-BFGS's on bands: traced once each

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.content_image.shape)

    @property
    def lbfgs_options(self) -> dict:
        """The course's L-BFGS settings :meth:`run` uses by default for this loss.

        With an L1 total variation (``tv_form`` ``"l1"`` or ``"l1-sum"``, kinked at every
        edge) L-BFGS on the pixels was measured slow; on the bands of a Laplacian pyramid,
        which move whole patches at once, with Adam's ``H0`` and 7 pairs it reached the
        tutorial Adam's loss 2.2-2.4x sooner than plain L-BFGS on the pixels (chelsea, 192
        and 320 px), and got there where plain L-BFGS never did (astronaut)
        (``presets.L1_TV_LBFGS``). With the smooth L2 one: the pixels and
        :func:`lbfgs.minimize`'s defaults (chapter 04, section 8).
        """
        return dict(presets.L1_TV_LBFGS) if self.tv_form in ("l1", "l1-sum") else {}

    def style_targets(self, image) -> dict[str, tf.Tensor]:
        """``{style layer: Gram (C, C)}`` of an ``(H, W, 3)`` image, or its ``statistic``."""
        features = self.features(image)
        return {layer: gram_matrix(features[layer])[0] if self.statistic is None
                else self.statistic(features[layer]) for layer in self.layer_weights}

    def features(self, image) -> dict[str, tf.Tensor]:
        """Activations ``{layer: (1, h, w, C)}`` of an ``(H, W, 3)`` pixel image."""
        return self.backbone.features(image, self.layers)

    def _losses(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        features = self.features(image)
        parts = {"content": content_loss(features[self.content_layer], self.content_target),
                 "style": style_loss(features, self.style_grams, self.layer_weights,
                                     self.statistic),
                 "tv": total_variation_loss(image, self.tv_form)}
        parts["total"] = total_loss(parts["content"], parts["style"], parts["tv"],
                                    self.weights["content"], self.weights["style"],
                                    self.weights["tv"])
        return parts

    def _loss_and_gradient(self, image: tf.Tensor):
        """Losses of ``clip(image, 0, 255)`` and their gradient with respect to ``image``.

        Clipping inside the loss changes nothing for pixels in range and gives zero
        gradient to pixels outside it, so an unconstrained optimiser (L-BFGS)
        minimises exactly the loss of the picture it returns.
        """
        with tf.GradientTape() as tape:
            tape.watch(image)
            parts = self._losses(tf.clip_by_value(image, 0.0, 255.0))
        return parts, tape.gradient(parts["total"], image)

    def band_loss_and_gradient(self, levels: int) -> Callable:
        """:meth:`loss_and_gradient` in pyramid coordinates (compiled once per ``levels``).

        Takes the flat band vector ``z`` of :func:`pyramid.to_band_vector` and returns
        ``(losses, gradient with respect to z, the image z stands for)``.
        """
        if ("bands", levels) not in self.compiled_steps:
            size = len(pyramid.to_band_vector(self.content_image, levels))

            @tf.function(input_signature=[tf.TensorSpec([size], tf.float32)])
            def band_step(vector):
                with tf.GradientTape() as tape:
                    tape.watch(vector)
                    image = pyramid.from_band_vector(vector, self.shape, levels)
                    parts = self._losses(tf.clip_by_value(image, 0.0, 255.0))
                return parts, tape.gradient(parts["total"], vector), image

            self.compiled_steps[("bands", levels)] = band_step
        return self.compiled_steps[("bands", levels)]

    def initial_image(self, kind: str = "content", seed: int = 0) -> np.ndarray:
        """``"content"`` (the photo), ``"noise"`` (uniform in [0, 255], seeded) or ``"style"``."""
        if kind == "content":
            return self.content_image.copy()
        if kind == "noise":
            return np.random.default_rng(seed).uniform(0, 255, self.shape).astype(np.float32)
        if kind == "style":
            return images.resize(self.style_images[0], *self.shape[:2])
        _unknown("initial image", kind, INITIALIZATIONS)

    def run(self, initial_image: np.ndarray | str = "content",
            optimizer: str = presets.STYLE["optimizer"], num_steps: int = 100,
            learning_rate: float | None = None, *, seed: int = 0, frame_every: int = 0,
            verbose: bool = True, on_snapshot: Callable[[np.ndarray, int], None] | None = None,
            snapshot_every: int = 50, **optimizer_options) -> StyleResult:
        """Minimise the total loss from ``initial_image`` with ``num_steps`` loss evaluations.

        Args:
            initial_image: an ``(H, W, 3)`` image, or ``"content"``, ``"noise"``, ``"style"``.
            optimizer: ``"adam"``, ``"gd"`` (normalised gradient descent, learning rate
                decayed 10x over the run), ``"lbfgs"`` (:func:`lbfgs.minimize`, pixels
                kept in [0, 255] by projection, or pyramid bands: :attr:`lbfgs_options`)
                or ``"scipy-lbfgs"`` (SciPy's L-BFGS-B
                with the pixel bounds [0, 255]; the same method, slower bookkeeping).
            num_steps: the budget in loss-and-gradient evaluations (one per step for
                Adam and GD; L-BFGS spends some on line searches).
            learning_rate: pixels per step (Adam, GD); default ``presets.LEARNING_RATES``.
            seed: for the ``"noise"`` start.
            frame_every: keep a snapshot every this many evaluations (0: none).
            verbose: show a progress bar.
            on_snapshot: called as ``on_snapshot(image, evaluations)`` every
                ``snapshot_every`` evaluations with the best image so far (clipped to
                [0, 255]), so a long run can save its progress (``neuralart style``
                writes its output file this way, and resumes from it).
            snapshot_every: see ``on_snapshot``.
            **optimizer_options: passed to the optimiser: ``beta_1``, ``beta_2``,
                ``epsilon`` (Adam), ``final_fraction`` (GD); ``history``,
                ``preconditioner`` and ``pyramid_levels`` (0: pixels) for the course's
                L-BFGS (defaults :attr:`lbfgs_options`), ``history`` for SciPy's; and
                ``bounded`` (keep pixels in [0, 255], default; ``False``
                optimises freely, the loss seeing the clipped image).

        Returns:
            A :class:`StyleResult`. A NaN or infinite loss stops the run at once with
            a :class:`~neuralart_helpers.errors.NonFiniteLossWarning`; ``result.image``
            is then the last image whose loss was finite.
        """
        if isinstance(initial_image, str):
            initial_image = self.initial_image(initial_image, seed)
        image = images.check_image("initial image", initial_image)
        learning_rate = _check_run(optimizer, num_steps, learning_rate, image.shape, self.shape,
                                   on_snapshot, snapshot_every)
        recorder = _Recorder(int(num_steps), frame_every, verbose, on_snapshot, snapshot_every)
        start = time.perf_counter()
        run = _run_steps if optimizer in ("adam", "gd") else _run_evaluations
        final = run(self, optimizer, image, int(num_steps), learning_rate, recorder,
                    optimizer_options)
        recorder.close()
        return StyleResult(np.clip(np.asarray(final, np.float32), 0, 255), recorder.losses,
                           recorder.times, recorder.frames, time.perf_counter() - start,
                           recorder.stopped)


def _check_run(optimizer, num_steps, learning_rate, image_shape, shape, on_snapshot,
               snapshot_every) -> float | None:
    """Refuse what a run cannot do; return the learning rate to use."""
    if optimizer not in OPTIMIZERS:
        _unknown("optimizer", optimizer, OPTIMIZERS)
    if int(num_steps) < 1:
        raise NeuralArtError(f"num_steps must be at least 1, got {num_steps}.")
    if image_shape != shape:
        raise NeuralArtError(f"The initial image is {image_shape}, the content image {shape}; "
                             f"resize it with images.resize first.")
    learning_rate = presets.LEARNING_RATES[optimizer] if learning_rate is None else learning_rate
    if learning_rate is not None and not learning_rate > 0:
        raise NeuralArtError(f"learning_rate must be positive, got {learning_rate}.")
    if on_snapshot is not None and int(snapshot_every) < 1:
        raise NeuralArtError(f"snapshot_every must be at least 1, got {snapshot_every}.")
    return learning_rate


def _box(options: dict) -> dict:
    """``lower``/``upper`` for the optimisers from the ``bounded`` option (default: [0, 255])."""
    bounded = options.pop("bounded", True)
    return {"lower": 0.0 if bounded else None, "upper": 255.0 if bounded else None}


def _run_steps(problem: StyleTransfer, optimizer, image, num_steps, learning_rate, recorder, options):
    """Adam or gradient descent on the shared loop; returns the final image."""
    function, compile_step = ((optimizers.adam, optimizers.compile_adam) if optimizer == "adam"
                              else (optimizers.gradient_descent, optimizers.compile_gradient_descent))
    recorder.start_image = image
    if optimizer not in problem.compiled_steps:
        problem.compiled_steps[optimizer] = compile_step(problem.loss_and_gradient, problem.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteLossWarning)  # said once, below
        result = function(problem.loss_and_gradient, image, num_steps,
                          learning_rate=learning_rate, callback=recorder.after_step,
                          compiled=problem.compiled_steps[optimizer], **_box(options), **options)
    recorder.losses.update({name: result.parts.get(name, []) for name in recorder.losses})
    recorder.stop(result.stopped)
    return result.state[0]


def _run_evaluations(problem: StyleTransfer, optimizer, image, num_steps, learning_rate,
                     recorder, options):
    """The course's L-BFGS or SciPy's, one record per evaluation; returns the best image.

    The course's L-BFGS takes its defaults from :attr:`StyleTransfer.lbfgs_options`; with
    ``pyramid_levels > 0`` it moves the image's Laplacian-pyramid bands instead of its
    pixels (no box then: the loss sees the image clipped to [0, 255]).
    """
    if optimizer == "lbfgs":
        options = {**problem.lbfgs_options, **options}
        levels = int(options.pop("pyramid_levels", 0))
        if levels < 0:
            raise NeuralArtError(f"pyramid_levels must be 0 or more, got {levels}.")
        if levels:
            return _run_lbfgs_on_bands(problem, image, num_steps, recorder, levels, options)

    def objective(candidate: np.ndarray):
        parts, gradient = problem.loss_and_gradient(tf.constant(candidate))
        recorder.record(parts, candidate)
        return float(parts["total"]), np.asarray(gradient)  # a read-only view, no copy

    function = lbfgs.minimize if optimizer == "lbfgs" else optimizers.scipy_lbfgs
    with contextlib.suppress(_StopOptimization):  # a non-finite loss ended the run
        function(objective, image, num_steps, **_box(options), **options)
    recorder.stop(recorder.stopped)
    return recorder.best_image


def _run_lbfgs_on_bands(problem: StyleTransfer, image, num_steps, recorder, levels, options):
    """:func:`lbfgs.minimize` on the pyramid bands of the image; returns the best image."""
    if options.pop("bounded", False):
        raise NeuralArtError("L-BFGS on pyramid bands keeps no box (the loss sees the image clipped "
                             "to [0, 255]); drop bounded=True, or pass pyramid_levels=0.")
    step = problem.band_loss_and_gradient(levels)

    def objective(vector: np.ndarray):
        parts, gradient, candidate = step(tf.constant(vector))
        recorder.record(parts, np.asarray(candidate))
        return float(parts["total"]), np.asarray(gradient)

    with contextlib.suppress(_StopOptimization):
        lbfgs.minimize(objective, pyramid.to_band_vector(image, levels), num_steps, **options)
    recorder.stop(recorder.stopped)
    return recorder.best_image


# ---------------------------------------------------------------- input checks


def check_weights(weights: Mapping[str, float]) -> None:
    """Raise :class:`NeuralArtError` if any weight is negative or not a finite number."""
    for name, value in weights.items():
        is_number = isinstance(value, (int, float, np.floating, np.integer))
        if not (is_number and math.isfinite(value) and value >= 0):
            raise NeuralArtError(f"{name} must be a finite number >= 0, got {value!r}.")


def check_blend(blend: Sequence[float] | None, count: int) -> list[float]:
    """One non-negative weight per style image, not all zero (default: equal weights)."""
    if blend is None:
        return [1.0 / count] * count
    blend = [float(weight) for weight in blend]
    if len(blend) != count:
        raise NeuralArtError(f"Got {count} style images but {len(blend)} blend weights; "
                             f"give one weight per style image.")
    check_weights({f"blend weight {index + 1}": weight for index, weight in enumerate(blend)})
    if sum(blend) <= 0:
        raise NeuralArtError("The style blend weights are all zero; give one positive weight.")
    return blend


def fit_style_to_content(style_image: np.ndarray, content_image: np.ndarray) -> np.ndarray:
    """Resize ``style_image`` (aspect kept) so its longer side equals the content's longer side."""
    return images.resize_longer_side(style_image, max(content_image.shape[:2]))
