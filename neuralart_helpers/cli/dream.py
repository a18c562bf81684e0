"""``neuralart dream``: DeepDream a photo with octaves, tiles and (optionally) Laplacian normalisation."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralart_helpers.cli import positive_int
from neuralart_helpers.errors import NeuralArtError


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
        "dream", help="DeepDream a photo (chapters 02 and 03)",
        description="Exaggerate what a network sees in a photo: gradient ascent on the photo at "
                    "several octaves, re-injecting the detail lost by shrinking. Writes OUT "
                    "atomically (PNG or JPEG).")
    parser.add_argument("input", type=Path, metavar="IN", help="the photo to dream on")
    parser.add_argument("output", type=Path, metavar="OUT", help="where to write the dream (.png/.jpg)")
    parser.add_argument("--backbone", default="squeezenet",
                        choices=["squeezenet", "inception_v3", "vgg19"])
    parser.add_argument("--layers", type=_layer_weights, default=None, metavar="NAME=W,...",
                        help="layers and weights (default: the backbone's preset)")
    parser.add_argument("--octaves", type=int, default=3, help="number of scales (default 3)")
    parser.add_argument("--octave-scale", type=float, default=1.4,
                        help="size ratio between octaves, > 1 (default 1.4)")
    parser.add_argument("--steps", type=int, default=20, help="ascent steps per octave (default 20)")
    parser.add_argument("--step-size", type=float, default=1.5,
                        help="pixels moved per step (default 1.5)")
    parser.add_argument("--laplacian", type=int, nargs="?", const=4, default=0, metavar="LEVELS",
                        help="normalise the gradient per Laplacian band (default 4 levels)")
    parser.add_argument("--tile", type=positive_int, default=None, metavar="SIZE",
                        help="compute gradients in randomly shifted tiles of SIZE px (flat memory)")
    parser.add_argument("--max-dim", type=positive_int, default=None, metavar="D",
                        help="shrink the photo so its longer side is at most D px first")
    parser.add_argument("--max-loss", type=float, default=None, help="stop an octave at this loss")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tile shifts (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.output.exists() and args.input.exists() and args.output.resolve() == args.input.resolve():
        raise NeuralArtError(f"OUT is the same file as IN ({args.input}); choose another output name "
                         f"so your photo is not overwritten.")
    if args.steps < 0:
        raise NeuralArtError(f"--steps must be 0 or more, got {args.steps}.")
    if not args.step_size > 0:
        raise NeuralArtError(f"--step-size must be positive, got {args.step_size}.")
    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise NeuralArtError(f"OUT must end in .png, .jpg or .jpeg, got {args.output.name}.")

    from neuralart_helpers import backbones, dream, images

    photo = images.load_image(args.input, max_dim=args.max_dim)
    backbone = backbones.load_backbone(args.backbone)
    model = dream.DreamModel(backbone, args.layers)
    result, history = dream.dream(
        model, photo, octaves=args.octaves, octave_scale=args.octave_scale, steps=args.steps,
        step_size=args.step_size, laplacian_levels=args.laplacian, tile_size=args.tile,
        max_loss=args.max_loss, seed=args.seed, verbose=not args.quiet)
    images.save_image(args.output, result)
    final = history[-1][-1] if history and history[-1] else float("nan")
    print(f"wrote {args.output} ({result.shape[1]}x{result.shape[0]}, final loss {final:.4g})")
    return 0
