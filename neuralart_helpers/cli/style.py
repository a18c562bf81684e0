"""``neuralart style``: paint a photo in the style of one or more paintings (chapter 04)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from neuralart_helpers import presets
from neuralart_helpers.cli import positive_int, with_defaults
from neuralart_helpers.errors import NeuralArtError


def _blend(text: str) -> list[float]:
    """Parse ``a,b,...`` into floats."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers "
                                         f"(e.g. 0.7,0.3)") from None


DEFAULTS = presets.STYLE
WEIGHTS = ("content_weight", "style_weight", "tv_weight")


def _add_inputs(parser) -> None:
    parser.add_argument("content", type=Path, metavar="CONTENT", help="the photo")
    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                        help="STYLE [STYLE2 ...] OUT: one or more style images, then the output "
                             "file (.png/.jpg)")
    parser.add_argument("--style-blend", type=_blend, default=None, metavar="A,B",
                        help="one weight per style image (default: equal)")
    parser.add_argument("--backbone", default=presets.DEFAULT_BACKBONE, choices=presets.BACKBONES)
    parser.add_argument("--max-dim", type=positive_int, metavar="D",
                        help=f"shrink the photo so its longer side is at most D px "
                             f"(default {DEFAULTS['max_dim']})")
    parser.add_argument("--init", choices=presets.INITIALIZATIONS,
                        help=f"start from the photo (default {DEFAULTS['init']}), noise or the style")
    parser.add_argument("--seed", type=int, help=f"seed of the noise start (default {DEFAULTS['seed']})")
    parser.add_argument("--model", type=Path, metavar="MODEL",
                        help="paint in one pass with a network from `neuralart style-train` "
                             "(then give only CONTENT OUT)")


def _add_optimisation(parser) -> None:
    rates = presets.LEARNING_RATES
    parser.add_argument("--steps", type=positive_int, dest="num_steps", metavar="K",
                        help=f"loss-and-gradient evaluations (default {DEFAULTS['num_steps']})")
    parser.add_argument("--optimizer", choices=presets.OPTIMIZERS,
                        help=f"adam, gd (normalised gradient descent), lbfgs or scipy-lbfgs "
                             f"(SciPy's L-BFGS-B, slower per step); default {DEFAULTS['optimizer']}")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"pixels per step for adam/gd (default: adam {rates['adam']:g}, "
                             f"gd {rates['gd']:g})")
    for flag in WEIGHTS:
        parser.add_argument(f"--{flag.replace('_', '-')}", type=float,
                            help=f"weight of the {flag.split('_')[0]} loss (default {DEFAULTS[flag]:g})")
    parser.add_argument("--preserve-color", action="store_true", default=False,
                        help="keep the photo's colours: the result's luminance (YIQ) with "
                             "the photo's chroma")
    parser.add_argument("--save-every", type=positive_int, metavar="K",
                        help=f"write the best image so far to OUT every K evaluations "
                             f"(default {DEFAULTS['save_every']}), so an interrupted run keeps "
                             f"its progress")
    parser.add_argument("--resume", action="store_true", default=False,
                        help="start from the image already in OUT (a run that was "
                             "interrupted, or one to refine) instead of --init")
    parser.add_argument("--quiet", action="store_true", default=False, help="no progress bar")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "style", help="neural style transfer: a photo painted like a painting (chapter 04)",
        usage="neuralart style [options] CONTENT STYLE [STYLE2 ...] OUT\n       "
              "neuralart style --model MODEL [--max-dim D] CONTENT OUT",
        argument_default=argparse.SUPPRESS,
        description="Repaint CONTENT with the textures and colours of STYLE (Gatys et al.): "
                    "match the photo's deep features and the painting's Gram matrices. With "
                    "several styles, their Grams are blended. Writes OUT atomically (PNG or "
                    "JPEG); OUT has the size of CONTENT after --max-dim.")
    _add_inputs(parser)
    _add_optimisation(parser)
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


def _check_settings(settings: dict, style_paths: list[Path], blend) -> None:
    for flag in WEIGHTS:
        if not settings[flag] >= 0:
            raise NeuralArtError(f"--{flag.replace('_', '-')} must be 0 or more, got {settings[flag]}.")
    if blend is not None and len(blend) != len(style_paths):
        raise NeuralArtError(f"--style-blend has {len(blend)} weights for {len(style_paths)} "
                             f"style images; give one weight per style.")


def _run_saving(transfer, start, settings: dict, args, output: Path, finish):
    """Run the transfer, writing the best image so far to OUT every --save-every evaluations."""
    from neuralart_helpers import errors, images

    saved = []

    def save_progress(image, evaluations: int) -> None:
        images.save_image(output, finish(image))  # atomic: OUT is never half-written
        saved.append(evaluations)

    try:
        with warnings.catch_warnings():  # a non-finite loss is reported by run, in one line
            warnings.simplefilter("ignore", errors.NonFiniteLossWarning)
            return transfer.run(start, settings["optimizer"], settings["num_steps"],
                                args.learning_rate, seed=settings["seed"], verbose=not args.quiet,
                                on_snapshot=save_progress, snapshot_every=settings["save_every"])
    except KeyboardInterrupt:
        if saved:
            print(f"neuralart style: {output} holds the best image after {saved[-1]} "
                  f"evaluations; run the same command with --resume to continue from it",
                  file=sys.stderr)
        raise


def run_model(args: argparse.Namespace) -> int:
    """``--model``: one forward pass of a trained style network over CONTENT."""
    if len(args.paths) != 1:
        raise NeuralArtError("With --model give CONTENT and OUT only, e.g. `neuralart style "
                             "--model starry.keras photo.jpg out.png`.")
    ignored = [name for name in vars(args) if name in DEFAULTS and name != "max_dim"]
    ignored += [name for name in ("learning_rate", "style_blend") if getattr(args, name, None)]
    ignored += [name for name in ("resume", "preserve_color") if getattr(args, name, False)]
    if ignored:
        flags = ", ".join("--steps" if name == "num_steps" else "--" + name.replace("_", "-")
                          for name in ignored)
        raise NeuralArtError(f"With --model the network paints in one pass: {flags} would be "
                             f"ignored; leave it out (only --max-dim applies).")
    _check_paths(args.content, [args.model, args.paths[0]])
    from neuralart_helpers import fast_style, images

    network = fast_style.load_network(args.model)
    content = images.load_image(args.content, max_dim=getattr(args, "max_dim", DEFAULTS["max_dim"]))
    image = fast_style.stylize(network, content)
    images.save_image(args.paths[0], image)
    print(f"wrote {args.paths[0]} ({image.shape[1]}x{image.shape[0]}, one pass of {args.model})")
    return 0


def run(args: argparse.Namespace) -> int:
    if hasattr(args, "model"):
        return run_model(args)
    style_paths, output = _check_paths(args.content, args.paths)
    settings = with_defaults(args, DEFAULTS)
    _check_settings(settings, style_paths, args.style_blend)

    from neuralart_helpers import backbones, color, images, style

    content = images.load_image(args.content, max_dim=settings["max_dim"])
    start = _resume_image(output, content, settings["max_dim"]) if args.resume else settings["init"]
    transfer = style.StyleTransfer(
        backbones.load_backbone(args.backbone), content,
        [images.load_image(path) for path in style_paths], style_blend=args.style_blend,
        **{flag: settings[flag] for flag in WEIGHTS})

    def finish(image):
        return color.combine_luminance_chroma(image, content) if args.preserve_color else image

    result = _run_saving(transfer, start, settings, args, output, finish)
    image = finish(result.image)
    images.save_image(output, image)
    final = result.losses["total"][-1] if result.losses["total"] else float("nan")
    print(f"wrote {output} ({image.shape[1]}x{image.shape[0]}, {len(result.losses['total'])} "
          f"evaluations in {result.seconds:.1f} s, final loss {final:.4g})")
    if result.stopped:
        print(f"neuralart style: warning: {result.stopped}", file=sys.stderr)
        return 1
    return 0
