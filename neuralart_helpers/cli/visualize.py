"""``neuralart visualize``: render what one channel of a CNN layer responds to (chapter 01).

The recipe (size, steps, step sizes, octaves) is ``presets.VISUALIZE``, the one of
``notebooks/01_feature_visualization.ipynb``, section 5.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from neuralart_helpers import presets
from neuralart_helpers.cli import with_defaults
from neuralart_helpers.errors import ImageError

RECIPE = presets.VISUALIZE


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "visualize", help="render an image that excites one channel of a CNN layer",
        argument_default=argparse.SUPPRESS,
        description="Gradient ascent on the input image: start from grey, change the pixels (or, "
                    "with --fourier, a decorrelated Fourier spectrum) so that the mean "
                    "activation of one channel grows, with small random jitter, scaling and "
                    "rotation at every step. Writes a PNG or JPEG.")
    parser.add_argument("output", metavar="OUT", type=Path, help="image to write (.png or .jpg)")
    parser.add_argument("--backbone", default=presets.DEFAULT_BACKBONE, choices=presets.BACKBONES,
                        help=f"the network (default {presets.DEFAULT_BACKBONE}, offline)")
    parser.add_argument("--layer", default=None,
                        help="layer name (default: the backbone's deepest visualisation preset, "
                             "e.g. fire8_concat for squeezenet)")
    parser.add_argument("--channel", type=int, help=f"channel index (default {RECIPE['channel']})")
    parser.add_argument("--size", type=int, help=f"image side in pixels (default {RECIPE['size']})")
    parser.add_argument("--steps", type=int, dest="num_steps", metavar="N",
                        help=f"ascent steps in all (default {RECIPE['num_steps']})")
    parser.add_argument("--step-size", type=float, dest="step_size", metavar="S",
                        help=f"size of a normalised step (default {RECIPE['pixel_step_size']} "
                             f"pixels, or {RECIPE['fourier_step_size']} with --fourier)")
    parser.add_argument("--fourier", action="store_true", default=False,
                        help="optimise a decorrelated Fourier parameterisation (smoother, more "
                             "natural colours) instead of multiscale pixels")
    parser.add_argument("--seed", type=int, help=f"random seed (default {RECIPE['seed']})")
    parser.add_argument("--quiet", action="store_true", default=False, help="no progress bar")
    parser.set_defaults(func=run)


def _render(objective, backbone, settings: dict, fourier: bool, verbose: bool):
    """The Fourier render, or the multiscale pixel render with as many octaves as fit."""
    from neuralart_helpers import octaves, param, render, transforms

    size, seed, num_steps = settings["size"], settings["seed"], settings["num_steps"]
    if fourier:
        image_param = param.fourier_image(size, size, seed=seed)
        return render.render(objective, backbone, image_param, transforms.standard_transforms(),
                             num_steps, settings["step_size"], seed=seed, verbose=verbose)
    num_octaves = max(1, octaves.octaves_that_fit(size, size, backbone.min_size,
                                                  RECIPE["octave_scale"],
                                                  min(RECIPE["num_octaves"], num_steps)))
    return render.render_octaves(objective, backbone, size, num_octaves, RECIPE["octave_scale"],
                                 num_steps // num_octaves, settings["step_size"],
                                 transforms.standard_transforms(), seed=seed, verbose=verbose)


def run(args: argparse.Namespace) -> int:
    from neuralart_helpers import errors, images, objectives, render
    from neuralart_helpers.backbones import load_backbone

    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ImageError(f"Cannot write {args.output}: give a .png, .jpg or .jpeg file name.")
    step_size = RECIPE["fourier_step_size" if args.fourier else "pixel_step_size"]
    settings = with_defaults(args, {**RECIPE, "step_size": step_size})
    render.check_steps(settings["num_steps"], settings["step_size"])
    backbone = load_backbone(args.backbone)
    layer = args.layer or backbone.visualize_layers[-1]
    objective = objectives.channel(layer, settings["channel"])
    render.check_objective(objective, backbone)
    backbone.check_size(settings["size"], settings["size"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", errors.DeadChannelWarning)
        result = _render(objective, backbone, settings, args.fourier, not args.quiet)
    for warning in caught:
        print(f"neuralart visualize: warning: {warning.message}")
    images.save_image(args.output, result.images[0])
    print(f"wrote {args.output} ({settings['size']}x{settings['size']}, {backbone.name} {layer} "
          f"channel {settings['channel']}, value {result.values[0]:.3g} -> "
          f"{result.values[-1]:.3g})")
    return 0
