"""Neural style transfer with Gram matrices (Gatys, Ecker and Bethge 2015/2016).

Chapter 04 (``notebooks/04_style_transfer.ipynb``) teaches every function here,
in this order:

1. The losses, pure functions on tensors: :func:`content_loss`,
   :func:`gram_matrix` and its normalisations, :func:`style_layer_loss`,
   :func:`style_loss` (a weighted sum over layers), :func:`total_variation_loss`
   (L1, L2 and power-1.25 forms) and :func:`total_loss`.
2. :class:`StyleTransfer`, which computes the content targets and the style
   Gram matrices once, compiles ``loss -> gradient`` once, and runs one of the
   optimisers: Adam (the TensorFlow tutorial), normalised gradient
   descent with learning-rate decay (the Gluon tutorial) and L-BFGS (Gatys et al.):
   the course's own (:mod:`neuralart_helpers.lbfgs`) or SciPy's L-BFGS-B through
   ``scipy.optimize.minimize``.
3. Colour: :func:`luminance_only_inputs` / :func:`combine_luminance_chroma`
   (transfer on luminance, keep the photo's colours) and :func:`match_histograms`.

The image being optimised lives in pixel space: ``(H, W, 3)`` float32 RGB in
``[0, 255]``. The backbone's preprocessing is applied inside the loss, so the
learning rates below are in pixel units and mean the same for every backbone.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from neuralart_helpers import dream, images, lbfgs
from neuralart_helpers.backbones import Backbone
from neuralart_helpers.errors import NeuralArtError, NonFiniteLossWarning

OPTIMIZERS = ("adam", "gd", "lbfgs", "scipy-lbfgs")
TV_FORMS = ("l1", "l2", "power")
INITIALIZATIONS = ("content", "noise", "style")
# Per-layer style weights tuned by eye on the four paintings at 192-256 px: the first
# ReLU carries colour and brush texture, deeper layers add strokes and swirls.
# Backbones not listed get equal weights over their `style_layers` preset.
LAYER_WEIGHTS = {
    "squeezenet": {"relu_conv1": 1.0, "fire2_concat": 0.2, "fire3_concat": 0.2,
                   "fire5_concat": 0.05, "fire7_concat": 0.05},
}
# Loss weights that go with LAYER_WEIGHTS (SqueezeNet, content layer fire5_concat).
CONTENT_WEIGHT = 10.0
STYLE_WEIGHT = 1.0
TV_WEIGHT = 5.0
# Learning rates in pixel units (the image is in [0, 255]).
DEFAULT_LEARNING_RATES = {"adam": 8.0, "gd": 4.0, "lbfgs": None, "scipy-lbfgs": None}
# The TensorFlow tutorial's Adam (lr 0.02, epsilon 0.1 on [0, 1] images), moved to pixel units.
TUTORIAL_ADAM = {"learning_rate": 0.02 * 255.0, "beta_1": 0.99, "epsilon": 0.1 / 255.0}






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


def gatys_style_layer_loss(features: tf.Tensor, target_features: tf.Tensor) -> tf.Tensor:
    """Gatys et al.'s per-layer style loss on raw Grams: ``sum((G - A)**2) / (4 C**2 M**2)``.

    ``C`` is the number of channels and ``M = h * w`` the number of positions of
    ``features`` (``(h, w, C)``, same shape as ``target_features``). Kept to show
    that it is ``style_layer_loss`` of location-normalised Grams divided by 4.
    """
    channels = tf.cast(tf.shape(features)[-1], tf.float32)
    locations = tf.cast(tf.shape(features)[-3] * tf.shape(features)[-2], tf.float32)
    difference = gram_matrix(features, "none") - gram_matrix(target_features, "none")
    return tf.reduce_sum(tf.square(difference)) / (4.0 * channels**2 * locations**2)


def style_loss(features: Mapping[str, tf.Tensor], target_grams: Mapping[str, tf.Tensor],
               layer_weights: Mapping[str, float]) -> tf.Tensor:
    """Weighted sum over layers of :func:`style_layer_loss`.

    Args:
        features: ``{layer: (batch, h, w, C)}`` activations of the image being made.
        target_grams: ``{layer: (C, C)}`` location-normalised Grams of the style.
        layer_weights: ``{layer: weight}``; only these layers count.
    """
    return tf.add_n([weight * style_layer_loss(gram_matrix(features[layer]), target_grams[layer])
                     for layer, weight in layer_weights.items()])


def total_variation_loss(image: tf.Tensor, form: str = "l2", power: float = 1.25) -> tf.Tensor:
    """How much neighbouring pixels differ; small for smooth images.

    With ``dy``/``dx`` the differences to the pixel below / to the right:

    - ``"l1"``: ``mean|dy| + mean|dx|`` (anisotropic TV, ``tf.image.total_variation``
      up to the mean);
    - ``"l2"``: ``mean(dy**2) + mean(dx**2)``;
    - ``"power"``: ``mean((dy**2 + dx**2) ** power)`` on the common
      ``(h-1, w-1)`` grid (the keras.io example, ``power=1.25``).

    Args:
        image: ``(h, w, 3)`` or ``(batch, h, w, 3)``, any value range (pixels here).
    """
    down = image[..., 1:, :, :] - image[..., :-1, :, :]
    right = image[..., :, 1:, :] - image[..., :, :-1, :]
    if form == "l1":
        return tf.reduce_mean(tf.abs(down)) + tf.reduce_mean(tf.abs(right))
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


# ---------------------------------------------------------------- 2. optimiser updates


def adam_update(image: tf.Tensor, gradient: tf.Tensor, first_moment: tf.Tensor,
                second_moment: tf.Tensor, step: tf.Tensor, learning_rate: float,
                beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7):
    """One Adam step (Kingma and Ba 2015), the same rule as ``keras.optimizers.Adam``.

    Args:
        image, gradient, first_moment, second_moment: tensors of one shape.
        step: the 1-based step number (float), for the bias correction.

    Returns:
        ``(new_image, new_first_moment, new_second_moment)``.
    """
    first_moment = beta_1 * first_moment + (1.0 - beta_1) * gradient
    second_moment = beta_2 * second_moment + (1.0 - beta_2) * tf.square(gradient)
    corrected_rate = learning_rate * tf.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
    image = image - corrected_rate * first_moment / (tf.sqrt(second_moment) + epsilon)
    return image, first_moment, second_moment


def normalized_gradient_update(image: tf.Tensor, gradient: tf.Tensor,
                               learning_rate: float) -> tf.Tensor:
    """Gradient descent with the gradient divided by its mean absolute value.

    Every step then moves pixels by about ``learning_rate`` whatever the scale of
    the loss, so one learning rate works for all weights and backbones. It is
    DeepDream's normalisation (:func:`neuralart_helpers.dream.normalize_gradient`),
    used to go down instead of up.
    """
    return image - learning_rate * dream.normalize_gradient(gradient)


def decayed_learning_rate(initial_rate: float, step: int, num_steps: int,
                          final_fraction: float = 0.1) -> float:
    """Exponential decay from ``initial_rate`` at step 0 to ``final_fraction`` of it at the end."""
    return initial_rate * final_fraction ** (step / max(1, num_steps - 1))


# ---------------------------------------------------------------- 3. the runner


@dataclass
class StyleResult:
    """What :meth:`StyleTransfer.run` returns.

    Attributes:
        image: ``(H, W, 3)`` float32 in ``[0, 255]``, the content image's shape.
        losses: ``{"total" | "content" | "style" | "tv": [one value per loss evaluation]}``.
        times: seconds from the start of the run to each loss evaluation.
        frames: snapshots of the image (every ``frame_every`` evaluations) for a GIF.
        seconds: wall time of the optimisation.
        stopped: ``None``, or the message saying why the run stopped early.
    """

    image: np.ndarray
    losses: dict[str, list[float]]
    times: list[float] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str | None = None


class _StopOptimization(Exception):
    """Raised inside the L-BFGS objective to end the run (budget spent or a bad loss)."""


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
        content_weight, style_weight, tv_weight: the weights of the total loss (>= 0).
        tv_form: ``"l1"``, ``"l2"`` or ``"power"`` (see :func:`total_variation_loss`).
    """

    def __init__(self, backbone: Backbone, content_image: np.ndarray,
                 style_images: np.ndarray | Sequence[np.ndarray], *,
                 style_blend: Sequence[float] | None = None,
                 layer_weights: Mapping[str, float] | None = None,
                 content_layer: str | None = None, content_weight: float = CONTENT_WEIGHT,
                 style_weight: float = STYLE_WEIGHT, tv_weight: float = TV_WEIGHT,
                 tv_form: str = "l2"):
        self.backbone = backbone
        self.content_image = check_image("content image", content_image)
        height, width = self.content_image.shape[:2]
        backbone.check_size(height, width)
        one_image = (isinstance(style_images, (np.ndarray, tf.Tensor))
                     and np.ndim(style_images) in (2, 3))
        style_list = [style_images] if one_image else list(style_images)
        if not style_list:
            raise NeuralArtError("Give at least one style image.")
        self.style_images = [fit_style_to_content(check_image(f"style image {index + 1}", style),
                                                  self.content_image)
                             for index, style in enumerate(style_list)]
        for style in self.style_images:
            backbone.check_size(*style.shape[:2])
        self.style_blend = check_blend(style_blend, len(self.style_images))
        self.layer_weights = dict(layer_weights or default_layer_weights(backbone))
        self.content_layer = content_layer or backbone.content_layer
        layer_checks = {f"weight of {layer}": value for layer, value in self.layer_weights.items()}
        check_weights({"content_weight": content_weight, "style_weight": style_weight,
                       "tv_weight": tv_weight, **layer_checks})
        if tv_form not in TV_FORMS:
            raise NeuralArtError(f"Unknown tv_form {tv_form!r}; "
                                  f"choose one of {', '.join(TV_FORMS)}.")
        self.weights = {"content": float(content_weight), "style": float(style_weight),
                        "tv": float(tv_weight)}
        self.tv_form = tv_form
        layers = list(dict.fromkeys([*self.layer_weights, self.content_layer]))
        self.extractor = backbone.extractor(layers)
        self.content_target = self.features(self.content_image)[self.content_layer]
        self.style_grams = blend_grams(
            [{layer: gram_matrix(features[layer])[0] for layer in self.layer_weights}
             for features in map(self.features, self.style_images)], self.style_blend)
        spec = tf.TensorSpec(self.content_image.shape, tf.float32)
        self.losses = tf.function(self._losses, input_signature=[spec])
        self.loss_and_gradient = tf.function(self._loss_and_gradient, input_signature=[spec])
        self._adam_step = None
        self._gd_step = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.content_image.shape)

    def features(self, image) -> dict[str, tf.Tensor]:
        """Activations ``{layer: (1, h, w, C)}`` of an ``(H, W, 3)`` pixel image."""
        return self.extractor(self.backbone.preprocess(tf.convert_to_tensor(image)[None]))

    def _losses(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        features = self.features(image)
        parts = {"content": content_loss(features[self.content_layer], self.content_target),
                 "style": style_loss(features, self.style_grams, self.layer_weights),
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

    # ------------------------------------------------------------ starting points

    def initial_image(self, kind: str = "content", seed: int = 0) -> np.ndarray:
        """``"content"`` (the photo), ``"noise"`` (uniform in [0, 255], seeded) or ``"style"``."""
        if kind == "content":
            return self.content_image.copy()
        if kind == "noise":
            return np.random.default_rng(seed).uniform(0, 255, self.shape).astype(np.float32)
        if kind == "style":
            return images.resize(self.style_images[0], *self.shape[:2])
        raise NeuralArtError(f"Unknown initial image {kind!r}; "
                              f"choose one of {', '.join(INITIALIZATIONS)}.")

    # ------------------------------------------------------------ the loop

    def run(self, initial_image: np.ndarray | str = "content", optimizer: str = "lbfgs",
            num_steps: int = 100, learning_rate: float | None = None, *, seed: int = 0,
            frame_every: int = 0, verbose: bool = True,
            on_snapshot: Callable[[np.ndarray, int], None] | None = None,
            snapshot_every: int = 50, **optimizer_options) -> StyleResult:
        """Minimise the total loss from ``initial_image`` with ``num_steps`` loss evaluations.

        Args:
            initial_image: an ``(H, W, 3)`` image, or ``"content"``, ``"noise"``, ``"style"``.
            optimizer: ``"adam"``, ``"gd"`` (normalised gradient descent, learning rate
                decayed 10x over the run), ``"lbfgs"`` (:func:`lbfgs.minimize`, pixels
                kept in [0, 255] by projection) or ``"scipy-lbfgs"`` (SciPy's L-BFGS-B
                with the pixel bounds [0, 255]; the same method, slower bookkeeping).
            num_steps: the budget in loss-and-gradient evaluations (one per step for
                Adam and GD; L-BFGS spends some on line searches).
            learning_rate: pixels per step (Adam, GD); default ``DEFAULT_LEARNING_RATES``.
            seed: for the ``"noise"`` start.
            frame_every: keep a snapshot every this many evaluations (0: none).
            verbose: show a progress bar.
            on_snapshot: called as ``on_snapshot(image, evaluations)`` every
                ``snapshot_every`` evaluations with the best image so far (clipped to
                [0, 255]), so a long run can save its progress (``neuralart style``
                writes its output file this way, and resumes from it).
            snapshot_every: see ``on_snapshot``.
            **optimizer_options: ``beta_1``, ``beta_2``, ``epsilon`` (Adam),
                ``final_fraction`` (GD), ``history`` (L-BFGS memory, default 10) and
                ``bounded`` (both L-BFGS: keep pixels in [0, 255], default; ``False``
                optimises freely, the loss seeing the clipped image).

        Returns:
            A :class:`StyleResult`. A NaN or infinite loss stops the run at once with
            a :class:`NonFiniteLossWarning`; ``result.image`` is then the last image
            whose loss was finite.
        """
        if optimizer not in OPTIMIZERS:
            raise NeuralArtError(f"Unknown optimizer {optimizer!r}; "
                                  f"choose one of {', '.join(OPTIMIZERS)}.")
        if int(num_steps) < 1:
            raise NeuralArtError(f"num_steps must be at least 1, got {num_steps}.")
        if isinstance(initial_image, str):
            initial_image = self.initial_image(initial_image, seed)
        image = check_image("initial image", initial_image)
        if image.shape != self.shape:
            raise NeuralArtError(f"The initial image is {image.shape}, the content image "
                                  f"{self.shape}; resize it with images.resize first.")
        if learning_rate is None:
            learning_rate = DEFAULT_LEARNING_RATES[optimizer]
        if learning_rate is not None and not learning_rate > 0:
            raise NeuralArtError(f"learning_rate must be positive, got {learning_rate}.")
        if on_snapshot is not None and int(snapshot_every) < 1:
            raise NeuralArtError(f"snapshot_every must be at least 1, got {snapshot_every}.")
        recorder = _Recorder(int(num_steps), frame_every, verbose, on_snapshot, snapshot_every)
        start = time.perf_counter()
        loop = {"adam": self._run_adam, "gd": self._run_gd, "lbfgs": self._run_lbfgs,
                "scipy-lbfgs": self._run_scipy_lbfgs}[optimizer]
        try:
            loop(image, int(num_steps), learning_rate, recorder, **optimizer_options)
        except _StopOptimization:
            pass
        recorder.close()
        if recorder.stopped:
            warnings.warn(recorder.stopped, NonFiniteLossWarning, stacklevel=2)
        final = recorder.best_image if recorder.use_best else recorder.last_good
        return StyleResult(np.clip(np.asarray(final, np.float32), 0, 255), recorder.losses,
                           recorder.times, recorder.frames, time.perf_counter() - start,
                           recorder.stopped)

    def _run_adam(self, image, num_steps, learning_rate, recorder,
                  beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7):
        if self._adam_step is None:
            spec = tf.TensorSpec(self.shape, tf.float32)
            scalar = tf.TensorSpec([], tf.float32)
            self._adam_step = tf.function(self._adam_step_eager,
                                          input_signature=[spec, spec, spec] + [scalar] * 5)
        image = tf.constant(image)
        first_moment, second_moment = tf.zeros_like(image), tf.zeros_like(image)
        for step in range(1, num_steps + 1):
            parts, new_image, first_moment, second_moment = self._adam_step(
                image, first_moment, second_moment, float(step), learning_rate,
                beta_1, beta_2, epsilon)
            recorder.record(parts, image)
            image = new_image
        recorder.finish(image)

    def _adam_step_eager(self, image, first_moment, second_moment, step, learning_rate,
                         beta_1, beta_2, epsilon):
        parts, gradient = self._loss_and_gradient(image)
        image, first_moment, second_moment = adam_update(
            image, gradient, first_moment, second_moment, step, learning_rate,
            beta_1, beta_2, epsilon)
        return parts, tf.clip_by_value(image, 0.0, 255.0), first_moment, second_moment

    def _run_gd(self, image, num_steps, learning_rate, recorder, final_fraction: float = 0.1):
        if self._gd_step is None:
            spec = tf.TensorSpec(self.shape, tf.float32)
            self._gd_step = tf.function(self._gd_step_eager,
                                        input_signature=[spec, tf.TensorSpec([], tf.float32)])
        image = tf.constant(image)
        for step in range(num_steps):
            rate = decayed_learning_rate(learning_rate, step, num_steps, final_fraction)
            parts, new_image = self._gd_step(image, rate)
            recorder.record(parts, image)
            image = new_image
        recorder.finish(image)

    def _gd_step_eager(self, image, learning_rate):
        parts, gradient = self._loss_and_gradient(image)
        image = normalized_gradient_update(image, gradient, learning_rate)
        return parts, tf.clip_by_value(image, 0.0, 255.0)

    def _run_lbfgs(self, image, num_steps, learning_rate, recorder, history: int = 10,
                   bounded: bool = True):
        recorder.use_best = True  # line-search trials can be worse than the best point so far

        def objective(candidate: np.ndarray):
            parts, gradient = self.loss_and_gradient(tf.constant(candidate))
            recorder.record(parts, candidate)
            return float(parts["total"]), gradient.numpy()

        lower, upper = (0.0, 255.0) if bounded else (None, None)
        lbfgs.minimize(objective, image, num_steps, history=history, lower=lower, upper=upper)

    def _run_scipy_lbfgs(self, image, num_steps, learning_rate, recorder, history: int = 10,
                         bounded: bool = True):
        from scipy.optimize import Bounds, minimize

        recorder.use_best = True  # line-search trials can be worse than the best point so far

        def objective(flat: np.ndarray):
            if recorder.count >= num_steps:
                raise _StopOptimization
            candidate = flat.reshape(self.shape).astype(np.float32)
            parts, gradient = self.loss_and_gradient(tf.constant(candidate))
            recorder.record(parts, candidate)
            return float(parts["total"]), gradient.numpy().astype(np.float64).ravel()

        bounds = Bounds(0.0, 255.0) if bounded else None  # one pair for every pixel, no list
        with single_threaded_blas():
            minimize(objective, image.astype(np.float64).ravel(), jac=True, method="L-BFGS-B",
                     bounds=bounds, options={"maxiter": num_steps, "maxfun": num_steps,
                                             "maxcor": history, "ftol": 0.0, "gtol": 0.0})


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with OpenBLAS on one thread, then restore its thread count.

    SciPy's L-BFGS-B (>= 1.15) calls BLAS on vectors as long as the image; OpenBLAS
    worker threads then compete with TensorFlow's for the cores and each L-BFGS
    iteration gets several times slower (scipy issues #22438, #23191). Best effort:
    on systems without a loaded OpenBLAS this does nothing.
    """
    restore = []
    for get_threads, set_threads in _openblas_thread_controls():
        restore.append((set_threads, get_threads()))
        set_threads(1)
    try:
        yield
    finally:
        for set_threads, count in restore:
            set_threads(count)


def _openblas_thread_controls() -> list:
    """``(get_num_threads, set_num_threads)`` of every OpenBLAS library loaded (Linux only)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    controls = []
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", ""), ("scipy_openblas", "64_"), ("openblas", "")):
            getter = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
            setter = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
            if getter is not None and setter is not None:
                controls.append((getter, setter))
                break
    return controls


class _Recorder:
    """Keeps the loss curves, GIF frames, the last finite-loss image and a progress bar."""

    def __init__(self, num_steps: int, frame_every: int, verbose: bool,
                 on_snapshot: Callable[[np.ndarray, int], None] | None = None,
                 snapshot_every: int = 0):
        import keras

        self.losses: dict[str, list[float]] = {"total": [], "content": [], "style": [], "tv": []}
        self.times: list[float] = []
        self.start = time.perf_counter()
        self.frames: list[np.ndarray] = []
        self.frame_every = frame_every
        self.on_snapshot, self.snapshot_every = on_snapshot, snapshot_every
        self.count = 0
        self.last_good = None  # images are kept as given (tensor or array), converted at the end
        self.best_image = None
        self.best_loss = math.inf
        self.use_best = False
        self.stopped: str | None = None
        self.progress = (keras.utils.Progbar(num_steps, stateful_metrics=["loss"])
                         if verbose else None)

    def record(self, parts: Mapping[str, tf.Tensor], image) -> None:
        """Log the losses of ``image``; stop the run if they are not finite."""
        values = {name: float(value) for name, value in parts.items()}
        self.count += 1
        if not math.isfinite(values["total"]):
            kept = "the last image with a finite loss"
            if self.last_good is None:
                kept = "the starting image"
                self.last_good = self.best_image = image
            self.stopped = (f"The loss became {values['total']} at evaluation {self.count}; "
                            f"stopped and kept {kept}. Lower the weights (or the learning rate).")
            raise _StopOptimization
        for name in self.losses:
            self.losses[name].append(values[name])
        self.times.append(time.perf_counter() - self.start)
        self.last_good = image
        if values["total"] < self.best_loss:
            self.best_loss, self.best_image = values["total"], image
        if self.frame_every and (self.count - 1) % self.frame_every == 0:
            self.frames.append(np.clip(np.asarray(image, np.float32), 0, 255))
        if self.on_snapshot is not None and self.count % self.snapshot_every == 0:
            best = self.best_image if self.use_best else image
            self.on_snapshot(np.clip(np.asarray(best, np.float32), 0, 255), self.count)
        if self.progress is not None:
            self.progress.update(self.count, [("loss", values["total"])])

    def finish(self, image) -> None:
        """The image after the last update of Adam/GD (its loss was never evaluated)."""
        self.last_good = self.best_image = image
        if self.frame_every:
            self.frames.append(np.clip(np.asarray(image, np.float32), 0, 255))

    def close(self) -> None:
        if self.progress is not None and self.count < self.progress.target:
            self.progress.target = self.count
            self.progress.update(self.count, finalize=True)


# ---------------------------------------------------------------- input checks


def check_image(name: str, image) -> np.ndarray:
    """Return ``image`` as an ``(H, W, 3)`` float32 array in [0, 255]; grey ``(H, W)`` or
    ``(H, W, 1)`` and RGBA ``(H, W, 4)`` are converted. Raises :class:`NeuralArtError`."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise NeuralArtError(f"The {name} must be an (H, W, 3) RGB image, "
                              f"got shape {array.shape}.")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        array = array[:, :, :3]
    if not np.all(np.isfinite(array)):
        raise NeuralArtError(f"The {name} contains NaN or infinite values.")
    if array.max(initial=0) <= 1.0 and array.max(initial=0) > 0:
        warnings.warn(f"The {name} has values in [0, 1]; the course's images are in [0, 255] "
                      f"(multiply by 255).", stacklevel=3)
    return np.clip(array, 0, 255)


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
        raise NeuralArtError("The style blend weights are all zero; "
                              "give at least one positive weight.")
    return blend


def fit_style_to_content(style_image: np.ndarray, content_image: np.ndarray) -> np.ndarray:
    """Resize ``style_image`` (aspect kept) so its longer side equals the content's longer side."""
    target = max(content_image.shape[:2])
    height, width = style_image.shape[:2]
    scale = target / max(height, width)
    if abs(scale - 1.0) < 1e-6:
        return style_image
    return images.resize(style_image, max(1, round(height * scale)), max(1, round(width * scale)))


# ---------------------------------------------------------------- colour


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB in [0, 255] -> YIQ (Y in [0, 255], I and Q signed)."""
    return np.asarray(image, np.float32) @ _RGB_TO_YIQ.T


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    """Exact inverse of :func:`rgb_to_yiq` (no clipping)."""
    return np.asarray(image, np.float32) @ _YIQ_TO_RGB.T


_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]], dtype=np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


def luminance_only_inputs(content_image: np.ndarray, style_image: np.ndarray):
    """Grey versions of both images for luminance-only transfer (Gatys et al. 2016).

    The style's luminance is shifted and scaled to the content's mean and standard
    deviation, so the result keeps the photo's brightness. Returns two ``(H, W, 3)``
    images whose three channels are equal.
    """
    content_luma = rgb_to_yiq(content_image)[..., 0]
    style_luma = rgb_to_yiq(style_image)[..., 0]
    style_luma = (style_luma - style_luma.mean()) / (style_luma.std() + 1e-6)
    style_luma = style_luma * content_luma.std() + content_luma.mean()
    grey = lambda luma: np.repeat(np.clip(luma, 0, 255)[..., None], 3, axis=2).astype(np.float32)
    return grey(content_luma), grey(style_luma)


def combine_luminance_chroma(luminance_image: np.ndarray, chroma_image: np.ndarray) -> np.ndarray:
    """Y of ``luminance_image`` with I and Q of ``chroma_image`` (same shape), as RGB [0, 255]."""
    yiq = rgb_to_yiq(chroma_image)
    yiq[..., 0] = rgb_to_yiq(luminance_image)[..., 0]
    return np.clip(yiq_to_rgb(yiq), 0, 255).astype(np.float32)


def match_histograms(style_image: np.ndarray, content_image: np.ndarray) -> np.ndarray:
    """Recolour ``style_image`` so each RGB channel has the content's histogram (skimage).

    The other colour-preserving recipe of Gatys et al. 2016: transfer with this
    recoloured style and the palette of the result is the photo's.
    """
    from skimage.exposure import match_histograms as skimage_match

    matched = skimage_match(style_image, content_image, channel_axis=-1)
    return np.clip(matched, 0, 255).astype(np.float32)
