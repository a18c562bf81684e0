"""Style-transfer benchmarks (chapter 04). Run: python benchmarks/bench_style.py

Prints ratios against reference runs made in the same process, with the goal
beside each:

(a) one step of our style-transfer loop (Adam, GD, L-BFGS; SciPy's for information) /
    one bare compiled forward+backward pass of the same loss at the same size,
    i.e. what the runner adds (Python loop, updates, logging)   (goal <= 1.1).
    For information, that bare pass / a pass through the network alone shows
    what the Gram matrices cost (with SqueezeNet they are as dear as the net).
(b) time to quality: wall time of the TensorFlow tutorial's recipe (Adam,
    learning rate 0.02, beta_1 0.99, epsilon 0.1 on [0, 1] images, 1000 steps)
    / wall time our best optimiser (the course's L-BFGS, ``lbfgs.minimize``) needs
    to reach the same total loss, same backbone, image size and loss function
                                                                (goal >= 3)
    on each ``--formulation``: the course's loss (``presets.STYLE``) and the
    tutorial's own (``style_recipes.tutorial_formulation``), for each ``--size`` and
    each ``--content``/``--style`` pair. One line per case ends with
    ``time-to-quality R.RRx (goal >= 3)``.
    For information, the same for SciPy's L-BFGS-B, and the ratio of loss
    evaluations: on 2 cores SciPy 1.15 spends about as long on its own bookkeeping
    per evaluation as SqueezeNet spends on the forward and backward pass at 256 px.

Our L-BFGS runs with ``StyleTransfer.lbfgs_options``: on the tutorial's loss (an L1 total
variation) in Laplacian-pyramid coordinates with Adam's per-coordinate ``H0`` and history 7
(``presets.L1_TV_LBFGS``), on the course's the plain method on pixels. ``--history``,
``--preconditioner`` and ``--pyramid-levels`` override them (``--pyramid-levels 0
--preconditioner none --history 10`` is the plain method).

Use a quiet machine: the numbers are wall times. ``--skip-steps`` runs (b) only, e.g.
``python benchmarks/bench_style.py --skip-steps --formulation tutorial --size 192``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from neuralart_helpers import assets, backbones, images, presets, style, style_recipes  # noqa: E402
from timing import best_time, network_pass  # noqa: E402

TUTORIAL_STEPS = 1000


def bare_step_times(transfer: style.StyleTransfer, steps: int) -> tuple[float, float]:
    """Seconds per compiled forward+backward pass (of the same total loss, of the network alone)."""
    spec = [tf.TensorSpec(transfer.shape, tf.float32)]

    @tf.function(input_signature=spec)
    def same_loss(pixels):
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            total = transfer._losses(pixels)["total"]
        return tape.gradient(total, pixels)

    network_only = network_pass(transfer.layers, transfer.backbone, input_signature=spec)

    image = tf.constant(transfer.content_image)
    return tuple(best_time(lambda: [bare(image) for _ in range(steps)], 5) / steps
                 for bare in (same_loss, network_only))


def step_ratios(transfer: style.StyleTransfer, steps: int) -> dict[str, float]:
    reference, network = bare_step_times(transfer, steps)
    ratios = {}
    for optimizer in style.OPTIMIZERS:
        run = lambda: transfer.run("content", optimizer, steps, verbose=False)
        ours = best_time(run, 5) / steps
        ratios[optimizer] = ours / reference
    print(f"    bare forward+backward of the loss: {reference * 1000:.1f} ms; of the network "
          f"alone: {network * 1000:.1f} ms (loss / network = {reference / network:.2f}, "
          f"information)")
    return ratios


def tutorial_loss(transfer: style.StyleTransfer) -> tuple[float, float]:
    """(seconds, final total loss) of the TensorFlow tutorial's 1000 Adam steps on ``transfer``'s loss."""
    transfer.run("content", "adam", 2, verbose=False, **presets.TUTORIAL_ADAM)  # compile first
    start = time.perf_counter()
    tutorial = transfer.run("content", "adam", TUTORIAL_STEPS, verbose=False, **presets.TUTORIAL_ADAM)
    seconds = time.perf_counter() - start
    return seconds, float(transfer.losses(tf.constant(tutorial.image))["total"])


def time_to_loss(transfer: style.StyleTransfer, optimizer: str, target: float,
                 budget: int, **options) -> tuple[float, int]:
    """(seconds, evaluations) ``optimizer`` needs to reach ``target`` (inf if it does not)."""
    transfer.run("content", optimizer, 2, verbose=False, **options)  # compile first
    run = transfer.run("content", optimizer, budget, verbose=False, **options)
    evaluations = run.evaluations_to(target)
    if evaluations is None:
        print(f"    {optimizer} did not reach {target:.4g} in {budget} evaluations "
              f"(best {min(run.losses['total']):.4g}); raise --budget")
        return float("inf"), budget
    return run.times[evaluations - 1], evaluations


def load_image(name: str, kind: str, max_dim: int) -> np.ndarray:
    """A bundled photo or painting by name, or an image file, with its longer side ``max_dim``."""
    if kind == "content" and name in images.CONTENT_PHOTOS:
        return images.content_photo(name, max_dim)
    if kind == "style" and name in assets.PAINTINGS:
        return images.painting(name)
    return images.load_image(name, max_dim=max_dim if kind == "content" else None)


def problem(backbone, content, painting, formulation: str) -> style.StyleTransfer:
    """The course's loss (``presets.STYLE``) or the tutorial's (``style_recipes``)."""
    settings = style_recipes.tutorial_formulation(backbone) if formulation == "tutorial" else {}
    return style.StyleTransfer(backbone, content, painting, **settings)


def time_to_quality(transfer: style.StyleTransfer, budget: int, label: str,
                    lbfgs_options: dict) -> None:
    """(b) for one case: the tutorial's Adam, then each L-BFGS to its loss; one line each."""
    tutorial_seconds, target = tutorial_loss(transfer)
    used = {"history": 10, "preconditioner": None, "pyramid_levels": 0,
            **transfer.lbfgs_options, **lbfgs_options}
    print(f"    {label}: tutorial Adam {tutorial_seconds:5.1f} s to loss {target:.4g}; our L-BFGS: "
          + ", ".join(f"{name} {value}" for name, value in used.items()))
    for optimizer, name in (("lbfgs", "our L-BFGS"), ("scipy-lbfgs", "SciPy L-BFGS-B")):
        options = lbfgs_options if optimizer == "lbfgs" else {}
        seconds, evaluations = time_to_loss(transfer, optimizer, target, budget, **options)
        goal = "(goal >= 3)" if optimizer == "lbfgs" else "(information)"
        print(f"    {label}: {name:14s} {seconds:5.1f} s, {evaluations} evaluations "
              f"({TUTORIAL_STEPS / evaluations:.1f}x fewer): time-to-quality "
              f"{tutorial_seconds / seconds:.2f}x {goal}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-dim", type=int, default=256, help="image size for (a)")
    parser.add_argument("--steps", type=int, default=20, help="steps timed in (a)")
    parser.add_argument("--budget", type=int, default=600, help="L-BFGS evaluations allowed in (b)")
    parser.add_argument("--formulation", nargs="+", choices=("course", "tutorial"),
                        default=["course", "tutorial"], help="the losses of (b)")
    parser.add_argument("--content", nargs="+", default=["chelsea", "astronaut"],
                        help="photos of (b): bundled names or image files")
    parser.add_argument("--style", nargs="+", default=["starry_night", "the_scream"],
                        help="paintings of (b), one per --content: bundled names or image files")
    parser.add_argument("--size", nargs="+", type=int, default=[192, 320],
                        help="longer sides of the photos in (b), in pixels")
    parser.add_argument("--history", type=int, default=None,
                        help="our L-BFGS's memory in (b) (default: StyleTransfer.lbfgs_options)")
    parser.add_argument("--preconditioner", choices=("none", "adam"), default=None,
                        help="our L-BFGS's H0 in (b): gamma I, or Adam's per-coordinate scale "
                             "(default: StyleTransfer.lbfgs_options)")
    parser.add_argument("--pyramid-levels", type=int, default=None,
                        help="our L-BFGS's coordinates in (b): 0 pixels, n > 0 the bands of an "
                             "n-level Laplacian pyramid (default: StyleTransfer.lbfgs_options, "
                             "bands for the tutorial's L1 total variation, pixels for the course's)")
    parser.add_argument("--skip-steps", action="store_true", help="skip (a)")
    args = parser.parse_args()
    if len(args.content) != len(args.style):
        parser.error("give one --style per --content (they are paired)")

    backbone = backbones.load_backbone("squeezenet")
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    if not args.skip_steps:
        content = images.content_photo("chelsea", args.max_dim)
        transfer = style.StyleTransfer(backbone, content, images.painting("starry_night"))
        print(f"(a) chelsea {content.shape[1]}x{content.shape[0]} in the style of starry_night, "
              f"{threads} threads: one step / one bare forward+backward pass of the same loss "
              f"(goal <= 1.1)")
        for optimizer, ratio in step_ratios(transfer, args.steps).items():
            note = ("  (SciPy's L-BFGS-B bookkeeping, for information)"
                    if optimizer == "scipy-lbfgs" else "")
            print(f"    {optimizer:11s} {ratio:.2f}{note}")

    lbfgs_options = {}  # what the command line overrides of StyleTransfer.lbfgs_options
    if args.history is not None:
        lbfgs_options["history"] = args.history
    if args.pyramid_levels is not None:
        lbfgs_options["pyramid_levels"] = args.pyramid_levels
    if args.preconditioner is not None:
        lbfgs_options["preconditioner"] = None if args.preconditioner == "none" else "adam"
    print(f"(b) time to the loss the TensorFlow tutorial's Adam reaches in {TUTORIAL_STEPS} steps, "
          f"on each formulation of the loss (goal >= 3x faster), {threads} threads")
    for formulation in args.formulation:
        for size in args.size:
            for content_name, style_name in zip(args.content, args.style):
                content = load_image(content_name, "content", size)
                painting = load_image(style_name, "style", size)
                label = (f"{formulation} loss, {content_name} {content.shape[1]}x{content.shape[0]}"
                         f" / {style_name}")
                time_to_quality(problem(backbone, content, painting, formulation), args.budget,
                                label, lbfgs_options)


if __name__ == "__main__":
    main()
