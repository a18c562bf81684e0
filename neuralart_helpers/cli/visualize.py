"""``neuralart visualize``: render what one channel of a CNN layer responds to (chapter 01)."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

# The recipes of notebooks/01_feature_visualization.ipynb, section 5.
PIXEL_STEP_SIZE = 1.5      # pixels per normalised step
FOURIER_STEP_SIZE = 0.01   # spectrum units per normalised step
NUM_OCTAVES = 3            # pixel images are rendered multiscale
OCTAVE_SCALE = 1.4


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "visualize", help="render an image that excites one channel of a CNN layer",
        description="Gradient ascent on the input image: start from grey, change the pixels (or, "
                    "with --fourier, a decorrelated Fourier spectrum) so that the mean "
                    "activation of one channel grows, with small random jitter, scaling and "
                    "rotation at every step. Writes a PNG or JPEG.")
    parser.add_argument("output", metavar="OUT", type=Path, help="image to write (.png or .jpg)")
    parser.add_argument("--backbone", default="squeezenet",
                        help="squeezenet (default, offline), inception_v3 or vgg19")
    parser.add_argument("--layer", help="layer name (default: the backbone's deepest "
                                        "visualisation preset, e.g. fire8_concat for squeezenet)")
    parser.add_argument("--channel", type=int, default=0, help="channel index (default: 0)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (default: 224)")
    parser.add_argument("--steps", type=int, default=96, help="ascent steps in all (default: 96)")
    parser.add_argument("--step-size", type=float, default=None,
                        help=f"size of a normalised step (default: {PIXEL_STEP_SIZE} pixels, or "
                             f"{FOURIER_STEP_SIZE} with --fourier)")
    parser.add_argument("--fourier", action="store_true",
                        help="optimise a decorrelated Fourier parameterisation (smoother, more "
                             "natural colours) instead of multiscale pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neuralart_helpers import objectives, param, render, transforms
    from neuralart_helpers.backbones import load_backbone
    from neuralart_helpers.images import ImageError, save_image

    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ImageError(f"Cannot write {args.output}: give a .png, .jpg or .jpeg file name.")
    step_size = args.step_size if args.step_size is not None else (
        FOURIER_STEP_SIZE if args.fourier else PIXEL_STEP_SIZE)
    render.check_steps(args.steps, step_size)
    backbone = load_backbone(args.backbone)
    layer = args.layer or backbone.visualize_layers[-1]
    objective = objectives.channel(layer, args.channel)
    render.check_objective(objective, backbone)
    backbone.check_size(args.size, args.size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", render.DeadChannelWarning)
        if args.fourier:
            result = render.render(objective, backbone, param.fourier_image(args.size, args.size,
                                                                            seed=args.seed),
                                   transforms.standard_transforms(), args.steps, step_size,
                                   seed=args.seed, verbose=not args.quiet)
        else:
            num_octaves = _octaves_that_fit(args.size, backbone.min_size, args.steps)
            result = render.render_octaves(objective, backbone, args.size, num_octaves,
                                           OCTAVE_SCALE, args.steps // num_octaves, step_size,
                                           transforms.standard_transforms(), seed=args.seed,
                                           verbose=not args.quiet)
    for warning in caught:
        print(f"neuralart visualize: warning: {warning.message}")
    save_image(args.output, result.images[0])
    print(f"wrote {args.output} ({args.size}x{args.size}, {backbone.name} {layer} channel "
          f"{args.channel}, value {result.values[0]:.3g} -> {result.values[-1]:.3g})")
    return 0


def _octaves_that_fit(size: int, min_size: int, steps: int) -> int:
    """Up to ``NUM_OCTAVES``, as long as the first is at least ``min_size`` and each gets a step."""
    octaves = min(NUM_OCTAVES, steps)
    while octaves > 1 and size / OCTAVE_SCALE ** (octaves - 1) < min_size:
        octaves -= 1
    return octaves
