"""``neuralart diffusion``: train a diffusion model on Fashion-MNIST, draw from it, measure it.

    neuralart diffusion train --out DIR [--epochs N] [--time-limit SECONDS] [--resume]
                              [--conditional] [--target eps|flow] [--schedule cosine|linear]
    neuralart diffusion sample --checkpoint DIR [--n 16] [--steps K] [--sampler ddim|ddpm|euler]
                               [--class NAME|INDEX] [--guidance W] OUT.png|OUT.npy
    neuralart diffusion evaluate --checkpoint DIR [--samples N] [--seed 12345]

The sampler defaults to the run's target: DDIM for ``--target eps``, Euler for ``flow``.

As ``neuralart gan``: checkpoints after every epoch, on Ctrl-C and where ``--time-limit``
stops training; ``--resume`` continues bit for bit with the settings saved in
DIR/config.json; grids of a fixed starting noise in DIR/samples and DIR/progress.gif.
A conditional run (``--conditional``) draws every class in turn unless ``--class`` asks for
one, with classifier-free guidance of weight W (0: the conditional model as it is).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralart_helpers import presets
from neuralart_helpers.cli.gan import (check_evaluation, check_sample_output, report_samples,
                                       report_training, resume_hint, run_settings,
                                       save_progress_gif, snapshot_callbacks, write_samples)
from neuralart_helpers.errors import CheckpointError, NeuralArtError

COMMAND = "neuralart diffusion train"
KIND = "diffusion"  # config.json's "kind": tells this command's runs from a GAN's


class _LibraryDefaults(argparse.HelpFormatter):
    """Help that shows the library's defaults, ``presets.DIFFUSION_TRAIN`` and ``_SAMPLE``."""

    def _get_help_string(self, action):
        default = {**presets.DIFFUSION_TRAIN, **presets.DIFFUSION_SAMPLE}.get(action.dest)
        if default is None or isinstance(default, bool) or "(default" in action.help:
            return action.help  # e.g. --seed of sample and evaluate, which says its own
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        return f"{action.help} (default {shown})"


def register(subparsers) -> None:
    parser = subparsers.add_parser("diffusion", help="train, sample and evaluate a Fashion-MNIST "
                                                     "diffusion model",
                                   description="Train a denoising diffusion or flow-matching "
                                               "model on Fashion-MNIST (chapter 06_diffusion), "
                                               "draw samples from a checkpoint, or measure them.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    _add_train_parser(actions)
    _add_sample_parser(actions)
    _add_evaluate_parser(actions)


def _add_train_parser(actions) -> None:
    train = actions.add_parser("train", help="train (or --resume) a diffusion model, "
                                             "checkpointing every epoch",
                               formatter_class=_LibraryDefaults)
    unset = argparse.SUPPRESS  # settings absent unless given, so --resume can tell them apart
    train.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="folder for checkpoints, config.json, sample grids and progress.gif")
    train.add_argument("--epochs", type=int, metavar="N",
                       help="total epochs over the training images, counting those done before "
                            "--resume; may be left out with --time-limit")
    train.add_argument("--time-limit", type=float, metavar="SECONDS",
                       help="stop at the first step after SECONDS of training and save a "
                            "checkpoint there; --resume continues from it")
    train.add_argument("--resume", action="store_true",
                       help="continue the run saved in DIR with its saved settings")
    train.add_argument("--conditional", action="store_true", default=unset,
                       help="learn each class too (labels dropped now and then, for guidance)")
    train.add_argument("--target", choices=presets.DIFFUSION_TARGETS, default=unset,
                       help="eps: predict the noise (DDPM); flow: the velocity (flow matching)")
    train.add_argument("--schedule", choices=presets.DIFFUSION_SCHEDULES, default=unset,
                       help="noise schedule of the eps target")
    train.add_argument("--seed", type=int, default=unset, help="seed for weights, data order, noise")
    train.add_argument("--batch-size", type=int, default=unset, help="images per step")
    train.add_argument("--learning-rate", type=float, default=unset, help="Adam's step size")
    train.add_argument("--widths", type=int, nargs=3, default=unset, metavar="C",
                       help="U-Net channels at 28, 14 and 7 pixels")
    train.add_argument("--limit", type=int, default=unset, metavar="N",
                       help="train on the first N images only (quick tries)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=run_train)


def _add_sample_parser(actions) -> None:
    sample = actions.add_parser("sample", help="draw images: a grid PNG, or a .npy",
                                formatter_class=_LibraryDefaults)
    sample.add_argument("--checkpoint", type=Path, required=True, metavar="DIR",
                        help=f"a folder written by `{COMMAND}`")
    sample.add_argument("--n", type=int, default=16, help="number of images (default 16)")
    _add_sampling_options(sample, seed=0)
    sample.add_argument("--class", dest="class_name", metavar="NAME|INDEX",
                        help="a conditional run draws this class only, e.g. sneaker or 7 (any "
                             "case); without it, every class in turn")
    sample.add_argument("output", type=Path, metavar="OUT",
                        help="OUT.png (or .jpg): a grid, 28 px tiles with 2 px white gaps; "
                             "OUT.npy: uint8 (N, 28, 28) in [0, 255] like Fashion-MNIST")
    sample.set_defaults(func=run_sample)


def _add_sampling_options(parser, seed: int) -> None:
    defaults = presets.DIFFUSION_SAMPLE["samplers"]
    parser.add_argument("--sampler", choices=presets.DIFFUSION_SAMPLERS,
                        help="ddim: deterministic; ddpm: ancestral (adds noise); euler: the ODE "
                             f"of a flow model (default {defaults['eps']} for an eps run, "
                             f"{defaults['flow']} for a flow run)")
    parser.add_argument("--steps", type=int, default=presets.DIFFUSION_SAMPLE["steps"],
                        metavar="K", help="network evaluations per image")
    parser.add_argument("--guidance", type=float, metavar="W",
                        help="classifier-free guidance weight of a conditional run: cond + W "
                             "(cond - uncond); 0 is the conditional model itself (default "
                             f"{presets.DIFFUSION_SAMPLE['guidance']} for a conditional run)")
    parser.add_argument("--seed", type=int, default=seed,
                        help=f"seed of the noise (default {seed})")


def _add_evaluate_parser(actions) -> None:
    evaluate = actions.add_parser("evaluate", help="classifier FID and class histogram; for a "
                                                   "conditional run, how often each class asked "
                                                   "for is seen", formatter_class=_LibraryDefaults)
    evaluate.add_argument("--checkpoint", type=Path, required=True, metavar="DIR",
                          help=f"a folder written by `{COMMAND}`")
    evaluate.add_argument("--samples", type=int, default=10000,
                          help="generated images compared with the 10 000 test images")
    _add_sampling_options(evaluate, seed=12345)
    evaluate.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    from neuralart_helpers import data, diffusion, gan

    timer = None if args.time_limit is None else gan.TimeLimit(args.time_limit)
    _check_train_flags(args)
    config = run_settings(args, diffusion.TRAIN_DEFAULTS, {"kind": KIND}, COMMAND)
    if config["target"] == "flow" and hasattr(args, "schedule"):
        raise NeuralArtError("--schedule sets the noise of the eps target; a flow run uses the "
                             "straight path. Leave --schedule out, or add --target eps.")
    pixels, labels = data.load_fashion_mnist("train")
    train_images = data.scale_images(pixels[:config["limit"]])
    labels = labels[:config["limit"]] if config["conditional"] else None
    model = _build(config)
    manager = diffusion.checkpoint_manager(model, args.out)
    if args.resume:
        step = diffusion.restore_latest(model, args.out, COMMAND)
        print(f"resuming {args.out} at step {step} (target {config['target']}, seed "
              f"{config['seed']}, batch size {config['batch_size']}, as saved in config.json)")
    diffusion.write_config(args.out, config)
    noise = diffusion.fixed_noise(20 if model.conditional else 16, config["seed"])
    with resume_hint(args, COMMAND):
        diffusion.train_diffusion(model, train_images, args.epochs, config["batch_size"],
                                  config["seed"], manager=manager,
                                  callbacks=snapshot_callbacks(args, model, noise, timer),
                                  verbose=0 if args.quiet else 1, labels=labels)
    save_progress_gif(args.out)
    report_training(args, model, timer, manager, len(train_images) // config["batch_size"])
    return 0


def _check_train_flags(args: argparse.Namespace) -> None:
    """Refuse ``--limit`` or ``--widths`` below 1 and a ``--learning-rate`` that is not positive."""
    import math

    if getattr(args, "limit", 1) < 1:
        raise NeuralArtError(f"--limit must be at least 1 image, got {args.limit}.")
    if min(getattr(args, "widths", [1])) < 1:
        widths = " ".join(map(str, args.widths))
        raise NeuralArtError(f"--widths must all be at least 1, got {widths}.")
    rate = getattr(args, "learning_rate", 1.0)
    if not (math.isfinite(rate) and rate > 0):
        raise NeuralArtError(f"--learning-rate must be a positive number, got {rate}.")


def _build(config: dict):
    """A fresh model with the run's settings (``config.json``)."""
    from neuralart_helpers import diffusion

    return diffusion.build_diffusion(config["target"], config["conditional"], config["schedule"],
                                     config["seed"], config["widths"], config["learning_rate"],
                                     config["ema_momentum"], config["label_dropout"])


def _load_trained(folder: Path):
    """The model saved in ``folder`` and its settings.

    Raises:
        CheckpointError: ``folder`` holds another kind of run (a GAN's).
    """
    from neuralart_helpers import diffusion

    config = diffusion.read_config(folder, COMMAND)
    if config.get("kind") != KIND:
        other = f"a GAN run (model {config['model']})" if "model" in config else "another run"
        raise CheckpointError(f"{folder} holds {other}, not a diffusion model; use `neuralart "
                              f"gan sample` for it, or a folder written by `{COMMAND}`.")
    model = _build(config)
    diffusion.restore_latest(model, folder, COMMAND)
    return model, config


def _guidance(args: argparse.Namespace, model) -> float:
    """``--guidance``, or the library's default for ``model`` (none if unconditional)."""
    from neuralart_helpers import diffusion_sampling

    return diffusion_sampling.default_guidance(model) if args.guidance is None else args.guidance


def _check_sampling_flags(args: argparse.Namespace) -> None:
    """Refuse ``--steps`` below 1 and a guidance weight that is not finite, before any work."""
    import math

    if args.steps < 1:
        raise NeuralArtError(f"--steps must be at least 1, got {args.steps}.")
    if args.guidance is not None and not math.isfinite(args.guidance):
        raise NeuralArtError(f"--guidance must be a finite number, got {args.guidance}.")


def run_sample(args: argparse.Namespace) -> int:
    from neuralart_helpers import data, diffusion_sampling

    check_sample_output(args)
    _check_sampling_flags(args)
    wanted = None if args.class_name is None else data.class_index(args.class_name)
    model, _ = _load_trained(args.checkpoint)
    if wanted is not None and not model.conditional:
        raise NeuralArtError(f"--class needs a conditional run (train with --conditional); "
                             f"{args.checkpoint} holds an unconditional one.")
    labels = None if wanted is None else [wanted] * args.n
    samples = diffusion_sampling.sample(model, args.n, args.sampler, args.steps, labels,
                                        _guidance(args, model), args.seed)  # sampler None: default
    write_samples(args.output, samples, every_class=model.conditional and wanted is None)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from neuralart_helpers import diffusion, diffusion_sampling

    check_evaluation(args)
    _check_sampling_flags(args)
    model, config = _load_trained(args.checkpoint)
    guidance = _guidance(args, model)
    asked = model.check_labels(args.samples)  # every class in turn (None: not conditional)
    sampler = args.sampler or diffusion_sampling.default_sampler(model)
    fakes = diffusion_sampling.sample(model, args.samples, sampler, args.steps, asked,
                                      guidance, seed=args.seed)
    report_samples(f"{config['target']} diffusion after {diffusion.steps_done(model)} steps, "
                   f"{sampler} {args.steps} steps, guidance {guidance:g}, seed {args.seed}",
                   fakes, asked)
    return 0

