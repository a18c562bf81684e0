"""``neuralart dream``: DeepDream a photo with octaves, tiles and (optionally) Laplacian normalisation.

Defaults are ``presets.DREAM``, the library's own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralart_helpers import presets
from neuralart_helpers.cli import positive_int, with_defaults
from neuralart_helpers.errors import NeuralArtError

DEFAULTS = presets.DREAM


def _layer_weights(text: str) -> dict[str, float]:
    """Parse ``name=weight,name=weight`` (a bare ``name`` means weight 1)."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition("=")
        try:
            weights[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is not name=weight (e.g. fire5_concat=1.5)")
    if not weights:
        raise argparse.ArgumentTypeError("give at least one layer, e.g. fire5_concat=1,fire7_concat=2")
    return weights


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dream", help="DeepDream a photo (chapters 02 and 03)", argument_default=argparse.SUPPRESS,
        description="Exaggerate what a network sees in a photo: gradient ascent on the photo at "
                    "several octaves, re-injecting the detail lost by shrinking. Writes OUT "
                    "atomically (PNG or JPEG).")
    parser.add_argument("input", type=Path, metavar="IN", help="the photo to dream on")
    parser.add_argument("output", type=Path, metavar="OUT", help="where to write the dream (.png/.jpg)")
    parser.add_argument("--backbone", default=presets.DEFAULT_BACKBONE, choices=presets.BACKBONES)
    parser.add_argument("--layers", type=_layer_weights, default=None, metavar="NAME=W,...",
                        help="layers and weights (default: the backbone's preset)")
    parser.add_argument("--octaves", type=int, dest="num_octaves", metavar="N",
                        help=f"number of scales (default {DEFAULTS['num_octaves']})")
    parser.add_argument("--octave-scale", type=float, metavar="S",
                        help=f"size ratio between octaves, >= 1 (default {DEFAULTS['octave_scale']})")
    parser.add_argument("--steps", type=int, dest="num_steps", metavar="N",
                        help=f"ascent steps per octave (default {DEFAULTS['num_steps']})")
    parser.add_argument("--step-size", type=float, metavar="S",
                        help=f"pixels moved per step (default {DEFAULTS['step_size']})")
    parser.add_argument("--laplacian", type=int, nargs="?", const=DEFAULTS["laplacian_levels"],
                        dest="laplacian_levels", metavar="LEVELS",
                        help=f"normalise the gradient per Laplacian band (default "
                             f"{DEFAULTS['laplacian_levels']} levels; off without the flag)")
    parser.add_argument("--tile", type=positive_int, dest="tile_size", metavar="SIZE",
                        help="compute gradients in randomly shifted tiles of SIZE px (flat memory)")
    _add_run_options(parser)
    parser.set_defaults(func=run)


def _add_run_options(parser) -> None:
    parser.add_argument("--max-dim", type=positive_int, default=None, metavar="D",
                        help="shrink the photo so its longer side is at most D px first")
    parser.add_argument("--max-loss", type=float, help="stop an octave at this loss")
    parser.add_argument("--seed", type=int, help=f"seed of the tile shifts (default {DEFAULTS['seed']})")
    parser.add_argument("--quiet", action="store_true", default=False, help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.output.exists() and args.input.exists() and args.output.resolve() == args.input.resolve():
        raise NeuralArtError(f"OUT is the same file as IN ({args.input}); choose another output "
                             f"name so your photo is not overwritten.")
    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise NeuralArtError(f"OUT must end in .png, .jpg or .jpeg, got {args.output.name}.")
    settings = with_defaults(args, {key: DEFAULTS[key] for key in (
        "num_octaves", "octave_scale", "num_steps", "step_size", "seed")} | {
        "laplacian_levels": 0, "tile_size": None, "max_loss": None})
    if settings["num_steps"] < 0:
        raise NeuralArtError(f"--steps must be 0 or more, got {settings['num_steps']}.")
    if not settings["step_size"] > 0:
        raise NeuralArtError(f"--step-size must be positive, got {settings['step_size']}.")

    from neuralart_helpers import backbones, dream, images

    photo = images.load_image(args.input, max_dim=args.max_dim)
    model = dream.DreamModel(backbones.load_backbone(args.backbone), args.layers)
    result, history = dream.dream(model, photo, **settings, verbose=not args.quiet)
    images.save_image(args.output, result)
    final = history[-1][-1] if history and history[-1] else float("nan")
    print(f"wrote {args.output} ({result.shape[1]}x{result.shape[0]}, final loss {final:.4g})")
    return 0
