"""``neuralart style``: paint a photo in the style of one or more paintings (chapter 04)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from neuralart_helpers.cli import positive_int
from neuralart_helpers.errors import NeuralArtError


def _blend(text: str) -> list[float]:
    """Parse ``a,b,...`` into floats."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers "
                                         f"(e.g. 0.7,0.3)") from None


# The choices of neuralart_helpers.style (not imported here: it loads TensorFlow, and
# `neuralart --help` should stay instant). tests/test_style.py checks they agree.
OPTIMIZERS = ("adam", "gd", "lbfgs", "scipy-lbfgs")
INITIALIZATIONS = ("content", "noise", "style")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "style", help="neural style transfer: a photo painted like a painting (chapter 04)",
        usage="neuralart style [options] CONTENT STYLE [STYLE2 ...] OUT",
        description="Repaint CONTENT with the textures and colours of STYLE (Gatys et al.): "
                    "match the photo's deep features and the painting's Gram matrices. With "
                    "several styles, their Grams are blended. Writes OUT atomically (PNG or "
                    "JPEG); OUT has the size of CONTENT after --max-dim.")
    parser.add_argument("content", type=Path, metavar="CONTENT", help="the photo")
    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                        help="STYLE [STYLE2 ...] OUT: one or more style images, then the output "
                             "file (.png/.jpg)")
    parser.add_argument("--style-blend", type=_blend, default=None, metavar="A,B",
                        help="one weight per style image (default: equal)")
    parser.add_argument("--backbone", default="squeezenet",
                        choices=["squeezenet", "inception_v3", "vgg19"])
    parser.add_argument("--max-dim", type=positive_int, default=256, metavar="D",
                        help="shrink the photo so its longer side is at most D px (default 256)")
    parser.add_argument("--steps", type=positive_int, default=150, metavar="K",
                        help="loss-and-gradient evaluations (default 150)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs",
                        help="adam, gd (normalised gradient descent), lbfgs (default) or "
                             "scipy-lbfgs (SciPy's L-BFGS-B, slower per step)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="pixels per step for adam/gd (default: adam 8, gd 4)")
    parser.add_argument("--content-weight", type=float, default=None,
                        help="weight of the content loss (default: style.CONTENT_WEIGHT, 10)")
    parser.add_argument("--style-weight", type=float, default=None,
                        help="weight of the style loss (default: style.STYLE_WEIGHT, 1)")
    parser.add_argument("--tv-weight", type=float, default=None,
                        help="weight of the total-variation loss (default: style.TV_WEIGHT, 5)")
    parser.add_argument("--init", choices=INITIALIZATIONS, default="content",
                        help="start from the photo (default), noise or the style")
    parser.add_argument("--preserve-color", action="store_true",
                        help="keep the photo's colours: the result's luminance (YIQ) with "
                             "the photo's chroma")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise start (default 0)")
    parser.add_argument("--save-every", type=positive_int, default=50, metavar="K",
                        help="write the best image so far to OUT every K evaluations "
                             "(default 50), so an interrupted run keeps its progress")
    parser.add_argument("--resume", action="store_true",
                        help="start from the image already in OUT (a run that was "
                             "interrupted, or one to refine) instead of --init")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _check_paths(content: Path, paths: list[Path]) -> tuple[list[Path], Path]:
    if len(paths) < 2:
        raise NeuralArtError("Give CONTENT, at least one STYLE, then OUT, e.g. "
                         "`neuralart style photo.jpg starry.jpg out.png`.")
    styles, output = paths[:-1], paths[-1]
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise NeuralArtError(f"OUT (the last path) must end in .png, .jpg or .jpeg, got {output.name}.")
    if output.exists():
        for given in (content, *styles):
            if given.exists() and given.resolve() == output.resolve():
                raise NeuralArtError(f"OUT is the same file as the input {given}; choose another "
                                 f"output name so the input is not overwritten.")
    return styles, output


def _resume_image(output: Path, content, max_dim: int):
    """The image in OUT, which must have the content's size, to start from."""
    from neuralart_helpers import images

    if not output.exists():
        raise NeuralArtError(f"--resume: {output} does not exist yet; run once without --resume.")
    start = images.load_image(output)
    if start.shape != content.shape:
        raise NeuralArtError(f"--resume: {output} is {start.shape[1]}x{start.shape[0]} but the "
                         f"content at --max-dim {max_dim} is {content.shape[1]}x"
                         f"{content.shape[0]}; use the --max-dim of the first run.")
    return start


def run(args: argparse.Namespace) -> int:
    style_paths, output = _check_paths(args.content, args.paths)
    for flag in ("content_weight", "style_weight", "tv_weight"):
        value = getattr(args, flag)
        if value is not None and not value >= 0:
            raise NeuralArtError(f"--{flag.replace('_', '-')} must be 0 or more, got {value}.")
    if args.style_blend is not None and len(args.style_blend) != len(style_paths):
        raise NeuralArtError(f"--style-blend has {len(args.style_blend)} weights for "
                         f"{len(style_paths)} style images; give one weight per style.")

    from neuralart_helpers import backbones, images, style

    defaults = {"content_weight": style.CONTENT_WEIGHT, "style_weight": style.STYLE_WEIGHT,
                "tv_weight": style.TV_WEIGHT}
    weights = {flag: default if getattr(args, flag) is None else getattr(args, flag)
               for flag, default in defaults.items()}

    content = images.load_image(args.content, max_dim=args.max_dim)
    start = _resume_image(output, content, args.max_dim) if args.resume else args.init
    styles = [images.load_image(path) for path in style_paths]
    backbone = backbones.load_backbone(args.backbone)
    transfer = style.StyleTransfer(
        backbone, content, styles, style_blend=args.style_blend, **weights)

    def finish(image):
        return style.combine_luminance_chroma(image, content) if args.preserve_color else image

    saved = []

    def save_progress(image, evaluations: int) -> None:
        images.save_image(output, finish(image))  # atomic: OUT is never half-written
        saved.append(evaluations)

    try:
        with warnings.catch_warnings():  # a non-finite loss is reported below, in one line
            warnings.simplefilter("ignore", style.NonFiniteLossWarning)
            result = transfer.run(start, args.optimizer, args.steps, args.learning_rate,
                                  seed=args.seed, verbose=not args.quiet,
                                  on_snapshot=save_progress, snapshot_every=args.save_every)
    except KeyboardInterrupt:
        if saved:
            print(f"neuralart style: {output} holds the best image after {saved[-1]} "
                  f"evaluations; run the same command with --resume to continue from it",
                  file=sys.stderr)
        raise
    image = finish(result.image)
    images.save_image(output, image)
    final = result.losses["total"][-1] if result.losses["total"] else float("nan")
    print(f"wrote {output} ({image.shape[1]}x{image.shape[0]}, {len(result.losses['total'])} "
          f"evaluations in {result.seconds:.1f} s, final loss {final:.4g})")
    if result.stopped:
        print(f"neuralart style: warning: {result.stopped}", file=sys.stderr)
        return 1
    return 0
