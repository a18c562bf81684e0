"""``neuralart style-train``: train a network that paints like one painting (chapter 04, section 12)."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralart_helpers import presets
from neuralart_helpers.cli import positive_int
from neuralart_helpers.errors import CheckpointError, NeuralArtError

DEFAULTS = presets.FAST_STYLE


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "style-train", help="fast style transfer: train a network that paints in one pass",
        description="Train an image transformation network (Johnson et al. 2016) on random "
                    "crops of the bundled photos so that one forward pass paints any photo like "
                    "STYLE. Checkpoints go to OUT_MODEL.checkpoints/ every "
                    f"{DEFAULTS['save_every']} steps and on Ctrl-C; --resume continues exactly. "
                    "The network is written atomically to OUT_MODEL (.keras); paint with "
                    "`neuralart style --model OUT_MODEL CONTENT OUT`.")
    parser.add_argument("style", type=Path, metavar="STYLE", help="the painting (an image file)")
    parser.add_argument("out", type=Path, metavar="OUT_MODEL", help="the network to write (.keras)")
    parser.add_argument("--steps", type=positive_int, default=None, metavar="N",
                        help=f"training steps in all, counting resumed ones (default "
                             f"{DEFAULTS['steps']} unless --time-limit is given)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop at the first step after this much training time (and save)")
    parser.add_argument("--seed", type=_seed, default=DEFAULTS["seed"],
                        help="fixes the initial weights and the crops (0 to 2**32 - 1)")
    parser.add_argument("--resume", action="store_true", help="continue the run in OUT_MODEL.checkpoints/")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _seed(text: str) -> int:
    """An argparse ``type``: a seed NumPy and Keras accept."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {value}")
    return value


# The settings a resumed run must share with the run it continues (with the style and seed).
_RUN_SETTINGS = ("filters", "residual_blocks", "crop_size", "batch_size", "photo_size",
                 "style_size", "learning_rate", "content_weight", "style_weight", "tv_weight",
                 "jitter", "photos")


def _checkpoint_dir(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoints")


def _check(args: argparse.Namespace) -> dict:
    """The run's settings; one-line errors for a bad output name or a conflicting resume."""
    from neuralart_helpers import assets, checkpoints

    if args.out.suffix != ".keras" or args.out.is_dir():
        raise NeuralArtError(f"OUT_MODEL must be a file name ending in .keras, got {args.out}.")
    if not args.style.is_file():
        raise NeuralArtError(f"{args.style}: no such style image.")
    folder = _checkpoint_dir(args.out)
    has_run = (folder / "checkpoint").exists()
    if has_run != args.resume:
        raise NeuralArtError(f"{folder} already holds a run; add --resume to continue it, or "
                             f"choose another OUT_MODEL." if has_run else
                             f"--resume: {folder} holds no checkpoint to continue from.")
    if args.out.exists() and not args.resume:
        raise NeuralArtError(f"{args.out} exists; choose another OUT_MODEL so it is not replaced.")
    config = {"style_sha256": assets.file_sha256(args.style), "seed": args.seed,
              **{key: list(value) if isinstance(value, tuple) else value
                 for key, value in DEFAULTS.items() if key in _RUN_SETTINGS}}
    if args.resume:
        saved = checkpoints.read_config(folder, "neuralart style-train")
        for key, value in config.items():
            if saved.get(key) != value:
                what = {"style_sha256": "another style image", "seed": f"seed {saved.get('seed')}"}
                raise CheckpointError(f"--resume: {folder} was trained with "
                                      f"{what.get(key, f'{key} = {saved.get(key)}')}, not this "
                                      f"one; give the first run's STYLE and --seed, or start "
                                      f"another OUT_MODEL.")
    return config


def run(args: argparse.Namespace) -> int:
    config = _check(args)
    if args.time_limit is not None and not args.time_limit > 0:
        raise NeuralArtError(f"--time-limit must be a positive number of seconds, got {args.time_limit}.")
    steps = args.steps or (None if args.time_limit is not None else DEFAULTS["steps"])

    from neuralart_helpers import backbones, checkpoints, fast_style, gan, images

    trainer = fast_style.make_trainer(backbones.load_backbone("squeezenet"),
                                      images.load_image(args.style), seed=args.seed)
    folder = _checkpoint_dir(args.out)
    done = fast_style.restore_latest(trainer, folder) if args.resume else 0
    if args.resume:
        print(f"resuming {folder} at step {done}")
        if steps is not None and steps <= done:
            raise NeuralArtError(f"--steps {steps} counts all steps, and {folder} has done {done} "
                                 f"already; give a larger --steps to train on.")
    checkpoints.write_config(folder, config)
    timer = None if args.time_limit is None else gan.TimeLimit(args.time_limit)
    history = fast_style.train_fast_style(
        trainer, fast_style.training_photos(), steps, fast_style.checkpoint_manager(trainer, folder),
        [timer] if timer else None, seed=args.seed, verbose=0 if args.quiet else 1)
    fast_style.save_network(trainer.network, args.out)
    total = int(trainer.optimizer.iterations.numpy())
    last = f", last loss {history['total'][-1]:.4g}" if history.get("total") else ""
    stopped = " (time limit)" if timer is not None and timer.stopped else ""
    print(f"wrote {args.out} after {total} steps{stopped}{last}; checkpoints in {folder}")
    return 0
