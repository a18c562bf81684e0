"""``neuralart gan``: train a GAN on Fashion-MNIST, draw samples from it, measure it.

    neuralart gan train [--model cgan|mlp-ema|mlp|dcgan] --epochs N [--time-limit SECONDS]
                        --out DIR [--resume]
    neuralart gan sample --checkpoint DIR [--n 16] [--class NAME|INDEX] OUT.png|OUT.npy
    neuralart gan evaluate --checkpoint DIR

``train`` saves a checkpoint in DIR after every epoch, when you press Ctrl-C, and at
the step where ``--time-limit`` stops it; ``--resume`` continues from the newest one,
with the settings saved in DIR/config.json (a flag that contradicts them is refused),
and ends with the same weights as an uninterrupted run with the same seed (and the same
version of the course: XLA's arithmetic may change between versions). DIR also receives
the grid of a fixed noise batch after each epoch (4x4; a conditional run: 2 rows of the
10 classes) in ``samples/epoch_NNN.png`` (a run stopped by the time limit draws its grid
there too) and ``progress.gif``.
A conditional run (``--model cgan``) draws the classes in turn unless ``--class`` asks
for one; ``evaluate`` then also says how often the classifier sees the class asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from neuralart_helpers import presets
from neuralart_helpers.errors import CheckpointError, NeuralArtError


class _LibraryDefaults(argparse.HelpFormatter):
    """Help that shows the library's defaults, ``presets.GAN_TRAIN``."""

    def _get_help_string(self, action):
        default = presets.GAN_TRAIN.get(action.dest)
        return action.help if default is None else f"{action.help} (default {default})"


def register(subparsers) -> None:
    parser = subparsers.add_parser("gan", help="train, sample and evaluate a Fashion-MNIST GAN",
                                   description="Train a GAN on Fashion-MNIST (chapter "
                                               "05_fashion_mnist_gan), draw samples from a "
                                               "checkpoint, or measure its classifier FID.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION",
                                    parser_class=type(parser))
    actions.required = True
    _add_train_parser(actions)
    _add_sample_parser(actions)
    _add_evaluate_parser(actions)


def _add_train_parser(actions) -> None:
    train = actions.add_parser("train", help="train (or --resume) a GAN, checkpointing every epoch",
                               formatter_class=_LibraryDefaults)
    # The run's settings are left out of args unless given (the defaults, gan.TRAIN_DEFAULTS,
    # come in _train_config), so that --resume can tell a given flag from a default.
    unset = argparse.SUPPRESS
    train.add_argument("--model", choices=presets.GAN_MODELS, default=unset,
                       help="cgan: dense networks drawing with an average of the generator's "
                            "weights, asked for a class (gan sample --class); mlp-ema: the same, "
                            "unconditional; mlp: dense networks; dcgan: convolutional")
    train.add_argument("--epochs", type=int, metavar="N",
                       help="total epochs over the 60 000 training images, counting those done "
                            "before --resume; may be left out with --time-limit")
    train.add_argument("--time-limit", type=float, metavar="SECONDS",
                       help="stop at the first step after SECONDS of training, save a checkpoint "
                            "there and say how far it got; --resume continues from it")
    train.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="folder for checkpoints, config.json, sample grids and progress.gif")
    train.add_argument("--resume", action="store_true",
                       help="continue the run saved in DIR with its saved settings; a flag "
                            "that contradicts them is refused")
    train.add_argument("--seed", type=int, default=unset, help="seed for weights, data order, noise")
    train.add_argument("--batch-size", type=int, default=unset, help="images per step")
    train.add_argument("--upsampling", choices=presets.GAN_UPSAMPLING, default=unset,
                       help="DCGAN generator: transposed convolutions or upsampling + convolution")
    train.add_argument("--limit", type=int, default=unset, metavar="N",
                       help="train on the first N images only (quick tries)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=run_train)


SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")  # a grid picture, or the raw samples


def _add_sample_parser(actions) -> None:
    sample = actions.add_parser("sample", help="draw generated images: a grid PNG, or a .npy")
    sample.add_argument("--checkpoint", type=Path, required=True, metavar="DIR",
                        help="a folder written by `neuralart gan train`")
    sample.add_argument("--n", type=int, default=16, help="number of images (default 16)")
    sample.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    sample.add_argument("--class", dest="class_name", metavar="NAME|INDEX",
                        help="a conditional run (--model cgan) draws this class only, e.g. "
                             "sneaker or 7 (case does not matter); without it, every class "
                             "in turn")
    sample.add_argument("output", type=Path, metavar="OUT",
                        help="OUT.png (or .jpg): the samples as one grid picture, 28 px tiles "
                             "with 2 px white gaps; OUT.npy: the samples themselves, uint8 "
                             "(N, 28, 28) in [0, 255] like the Fashion-MNIST images")
    sample.set_defaults(func=run_sample)


def _add_evaluate_parser(actions) -> None:
    evaluate = actions.add_parser("evaluate", help="classifier FID and class histogram; for a "
                                                   "conditional run, how often each class "
                                                   "asked for is seen")
    evaluate.add_argument("--checkpoint", type=Path, required=True, metavar="DIR",
                          help="a folder written by `neuralart gan train`")
    evaluate.add_argument("--samples", type=int, default=10000,
                          help="generated images compared with the 10 000 test images")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    from neuralart_helpers import data, gan

    timer = None if args.time_limit is None else gan.TimeLimit(args.time_limit)
    config = _train_config(args)
    train_pixels, train_labels = data.load_fashion_mnist("train")
    train_images = data.scale_images(train_pixels[:config["limit"]])
    model = gan.build_gan(config["model"], config["seed"], config["upsampling"],
                          config["latent_dim"])
    labels = train_labels[:config["limit"]] if model.conditional else None
    manager = gan.checkpoint_manager(model, args.out)
    if args.resume:
        step = gan.restore_latest(model, args.out)
        print(f"resuming {args.out} at step {step} (model {config['model']}, seed "
              f"{config['seed']}, batch size {config['batch_size']}, as saved in config.json)")
    gan.write_config(args.out, config)
    _fit(args, model, (train_images, labels), config, manager, timer)
    report_training(args, model, timer, manager, len(train_images) // config["batch_size"])
    return 0


def report_training(args: argparse.Namespace, model, timer, manager, steps_per_epoch: int) -> None:
    """Print where training ended: at the time limit (steps, epochs, seconds, checkpoint) or not."""
    from neuralart_helpers.checkpoints import steps_done

    if timer is not None and timer.stopped:
        print(f"time limit: stopped after {timer.steps} steps ({timer.steps / steps_per_epoch:.2f} "
              f"epochs) in {timer.elapsed:.1f} s of training; saved {manager.latest_checkpoint} "
              f"(step {steps_done(model)}, epoch {steps_done(model) / steps_per_epoch:.2f})")
    else:
        print(f"trained {args.epochs} epochs: checkpoints, samples/ and progress.gif in {args.out}")


def _train_config(args: argparse.Namespace) -> dict:
    """The settings of the run: the flags given over ``gan.TRAIN_DEFAULTS``, or the saved ones."""
    from neuralart_helpers import gan

    return run_settings(args, gan.TRAIN_DEFAULTS, {"latent_dim": gan.LATENT_DIM})


def run_settings(args: argparse.Namespace, defaults: dict, fixed: dict,
                 command: str = "neuralart gan train") -> dict:
    """A run's settings: the flags given over ``defaults`` (plus ``fixed``), or the saved ones.

    Options default to ``argparse.SUPPRESS``, so ``args`` holds only the flags given. With
    --resume the run's config.json wins; flags that agree with it are accepted.

    Raises:
        NeuralArtError: no --epochs nor --time-limit, numbers below 1, a new run into a
            folder that holds one, or --resume where there is none.
        CheckpointError: with --resume, a run of another kind (a GAN's for the diffusion
            command, or the reverse), or a flag given that contradicts the saved run.
    """
    from neuralart_helpers.checkpoints import read_config

    given = {name: getattr(args, name) for name in defaults if hasattr(args, name)}
    if args.epochs is None and args.time_limit is None:
        raise NeuralArtError("Say how long to train: --epochs N, --time-limit SECONDS, or both.")
    if (args.epochs is not None and args.epochs < 1) or given.get("batch_size", 1) < 1:
        raise NeuralArtError("--epochs and --batch-size must be at least 1.")
    has_run = (args.out / "checkpoint").exists()
    if has_run and not args.resume:
        raise NeuralArtError(f"{args.out} already holds a training run; add --resume to continue "
                             f"it, or choose another --out folder.")
    if not args.resume:
        return {**defaults, **fixed, **given}
    if not has_run:
        raise NeuralArtError(f"--resume: {args.out} holds no checkpoint to continue from.")
    saved = read_config(args.out, command)  # the saved run's settings win
    _check_same_kind(args.out, saved, fixed)
    for name, value in given.items():
        if name in saved and saved[name] != value:
            flag = "--" + name.replace("_", "-")
            raise CheckpointError(f"--resume: {args.out} was trained with "
                                  f"{_flag_text(flag, saved[name])}, not {_flag_text(flag, value)}"
                                  f"; leave {flag} out to continue it, or train into another "
                                  f"--out folder.")
    return saved


def _check_same_kind(folder: Path, saved: dict, fixed: dict) -> None:
    """Refuse to resume a run of another kind (``config.json``'s ``"kind"``, ``"gan"`` if absent).

    Raises:
        CheckpointError: ``folder`` holds a GAN run and this is a diffusion command, or the reverse.
    """
    kind, wanted = saved.get("kind", "gan"), fixed.get("kind", "gan")
    if kind != wanted:
        raise CheckpointError(f"--resume: {folder} holds a {kind} run, not a {wanted} run; "
                              f"continue it with `neuralart {kind} train --resume`, or train into "
                              f"another --out folder.")


def _flag_text(flag: str, value) -> str:
    """How a setting reads on the command line: ``--seed 3``, ``--conditional``, ``no --limit``."""
    if value is None or value is False:
        return f"no {flag}"
    if value is True:
        return flag
    return f"{flag} {' '.join(map(str, value)) if isinstance(value, list) else value}"


def _fit(args: argparse.Namespace, model, train_data, config: dict, manager, timer) -> None:
    """Train ``model`` to ``args.epochs`` or ``timer``, drawing the fixed noise into DIR/samples.

    ``train_data`` is ``(images, labels)``; labels are ``None`` for an unconditional run.

    The grid is drawn after each epoch, and where the time limit stopped training.
    """
    from neuralart_helpers import gan

    count = 20 if model.conditional else 16
    callbacks = snapshot_callbacks(args, model, gan.fixed_noise(count, config["latent_dim"],
                                                                config["seed"]), timer)
    with resume_hint(args, "neuralart gan train"):
        gan.train_gan(model, train_data[0], args.epochs, config["batch_size"], config["seed"],
                      manager=manager, callbacks=callbacks, verbose=0 if args.quiet else 1,
                      labels=train_data[1])
    save_progress_gif(args.out)


def snapshot_callbacks(args: argparse.Namespace, model, noise, timer) -> list:
    """A ``gan.GridSnapshots`` of ``noise`` into DIR/samples (a conditional model: a class a
    column), and ``timer`` if any."""
    from neuralart_helpers import gan

    snapshots = gan.GridSnapshots(noise, folder=args.out / "samples",
                                  ncols=10 if model.conditional else 4)
    return [snapshots, timer] if timer else [snapshots]


@contextlib.contextmanager
def resume_hint(args: argparse.Namespace, command: str):
    """On Ctrl-C inside the block, say on stderr how to continue the run, then re-raise."""
    try:
        yield
    except KeyboardInterrupt:
        budget = "".join(f" --{flag} {value}" for flag, value in
                         (("epochs", args.epochs), ("time-limit", args.time_limit)) if value)
        print(f"continue with: {command} --out {args.out}{budget} --resume", file=sys.stderr)
        raise


def save_progress_gif(folder: Path) -> None:
    """Put the grids ``folder/samples/epoch_*.png`` together as ``folder/progress.gif``."""
    from neuralart_helpers import images

    frames = [images.load_image(path) for path in sorted((folder / "samples").glob("epoch_*.png"))]
    if frames:
        images.save_gif(folder / "progress.gif", frames, fps=4)


def _load_trained(folder: Path):
    from neuralart_helpers import gan

    config = gan.read_config(folder)
    if "model" not in config:  # e.g. a diffusion run
        raise CheckpointError(f"{folder} holds a {config.get('kind', 'another')} run, not a GAN; "
                              f"use a folder written by `neuralart gan train`.")
    model = gan.build_gan(config["model"], config["seed"], config["upsampling"],
                          config["latent_dim"])
    gan.restore_latest(model, folder)
    return model, config


def run_sample(args: argparse.Namespace) -> int:
    from neuralart_helpers import data, gan

    check_sample_output(args)
    wanted = None if args.class_name is None else data.class_index(args.class_name)
    model, config = _load_trained(args.checkpoint)
    if wanted is not None and not model.conditional:
        raise NeuralArtError(f"--class needs a conditional run (--model cgan); "
                             f"{args.checkpoint} holds a {config['model']} run.")
    labels = None if wanted is None else [wanted] * args.n
    samples = model.generate(gan.fixed_noise(args.n, config["latent_dim"], args.seed), labels)
    write_samples(args.output, samples, every_class=model.conditional and wanted is None)
    return 0


def check_sample_output(args: argparse.Namespace) -> None:
    """Refuse ``--n`` below 1 and an OUT that is neither a picture nor ``.npy``, before any work."""
    if args.n < 1:
        raise NeuralArtError("--n must be at least 1.")
    if args.output.suffix.lower() not in SAMPLE_SUFFIXES:
        raise NeuralArtError(f"Cannot save samples to {args.output}: use a name ending in .png, "
                             f".jpg or .jpeg (a grid picture) or .npy (the samples, uint8).")


def write_samples(output: Path, samples, every_class: bool) -> Path:
    """Save ``samples`` ``(N, 28, 28, 1)`` in ``[-1, 1]`` as uint8 ``.npy`` or as a grid picture.

    The grid has 28 px tiles with 2 px white gaps: a column per class when ``every_class``
    (the classes drawn in turn) and N >= 10, otherwise as square as N allows.
    """
    from neuralart_helpers import data, gan, images

    count = len(samples)
    if output.suffix.lower() == ".npy":
        path = data.save_samples(output, samples)
    else:
        columns = 10 if every_class and count >= 10 else max(1, round(count ** 0.5))
        path = images.save_image(output, gan.image_grid(samples, columns))
    print(f"saved {count} samples to {path}")
    return path


def run_evaluate(args: argparse.Namespace) -> int:
    from neuralart_helpers import gan

    check_evaluation(args)
    model, config = _load_trained(args.checkpoint)
    asked = model.check_labels(args.samples)  # every class in turn (None: not conditional)
    fakes = model.generate(gan.fixed_noise(args.samples, config["latent_dim"], seed=12345), asked)
    report_samples(f"{config['model']} GAN after {gan.steps_done(model)} steps", fakes, asked)
    return 0


def check_evaluation(args: argparse.Namespace) -> None:
    """Refuse fewer than 100 samples for the FID."""
    if args.samples < 100:
        raise NeuralArtError("--samples must be at least 100 (the FID fits a 64x64 covariance).")


def report_samples(title: str, fakes, asked) -> None:
    """Print the classifier FID of ``fakes`` against the test images, the class histogram and,
    with ``asked`` (the classes asked for, ``None`` if none), how often each was drawn."""
    from neuralart_helpers import data, metrics

    train_images, train_labels = data.load_fashion_mnist("train")
    classifier = metrics.train_classifier(data.scale_images(train_images), train_labels)
    test_images = data.scale_images(data.load_fashion_mnist("test")[0])
    fid = metrics.classifier_fid(metrics.feature_extractor(classifier), test_images, fakes)
    histogram = metrics.class_histogram(classifier, fakes)
    print(title)
    if asked is not None:
        agreement = metrics.class_agreement(classifier, fakes, asked)
        print("classified as the class asked for: " + ", ".join(
            f"{name} {share:.2f}" for name, share in zip(data.CLASS_NAMES, agreement)))
    print(f"classifier FID: {fid:.2f}  (lower is better; not comparable with Inception FIDs)")
    print("class histogram of the samples (real data: 0.10 each):")
    for name, fraction in zip(data.CLASS_NAMES, histogram):
        print(f"  {name:12s} {fraction:5.3f} {'#' * round(fraction * 100)}")
