"""Chapter 06's diffusion model on 2 CPU cores: step time, quality after a time budget, sampling;
and, with ``--against-gan``, a race against chapter 05's conditional GAN at equal training time.

    python benchmarks/bench_diffusion.py                          # the defaults, 120 s of training
    python benchmarks/bench_diffusion.py --seconds 60 --widths 16 32 32 --batch-size 64
    python benchmarks/bench_diffusion.py --target flow --sampler euler --guidance 0 2 4
    python benchmarks/bench_diffusion.py --against-gan --checkpoints 60 120 240 --guidance 0 2

Trains a fresh conditional model on the 60 000 training images for ``--seconds`` (a
``gan.TimeLimit``), then draws ``--samples`` images (the classes in turn) with each guidance
weight and reports what the course's classifier (``metrics.train_classifier``, one epoch, as
``bench_gan.py``) makes of them: the share classified with confidence >= 0.9, the rarest
class, the classifier FID against the 10 000 test images, and the share of each class drawn
as asked. Not part of the test suite.

``--against-gan``: chapter 05's conditional GAN (``gan.build_gan("cgan")``, batch
``gan.TRAIN_DEFAULTS["batch_size"]``, as the chapter trains it) and the diffusion model above
(this bench's options, conditional) train in turns, each continuing the same model, until
each one's training wall time reaches every number of ``--checkpoints`` seconds (cumulative;
the first segment includes tracing, and XLA compiling for the GAN). At each checkpoint both
draw ``--samples`` images of the classes asked in the same order (the GAN from fixed noise,
the diffusion model with each ``--guidance`` weight), judged by the one classifier against the
same test images; then the ratio of the FIDs, and at the end when, if ever, the diffusion
model's FID fell to the GAN's (goal: diffusion FID <= GAN FID at equal time).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from neuralart_helpers import data, diffusion, diffusion_sampling, gan, metrics  # noqa: E402
from neuralart_helpers import images as image_io  # noqa: E402

CONFIDENCE = 0.9     # a sample counts as recognised when the classifier is this sure
NOISE_SEED = 12345   # the starting noise of every drawing, for both models
GAN_NAME = f"GAN {gan.TRAIN_DEFAULTS['model']}"  # chapter 05's conditional recipe, in the race


def step_time(model, images, labels, batch_size: int, steps: int = 10) -> float:
    """Milliseconds per training step (after a warm-up step that traces the function)."""
    batch = (tf.constant(images[:batch_size]), tf.constant(labels[:batch_size], tf.int32))
    step = tf.function(model.train_step)
    step(batch)
    start = time.perf_counter()
    for _ in range(steps):
        float(step(batch)["loss"])
    return (time.perf_counter() - start) / steps * 1000


def quality(samples, asked, classifier, extractor, test_images) -> dict:
    """Confident share, rarest class share, classifier FID, and per-class agreement."""
    return {"confident": metrics.confident_share(classifier, samples, CONFIDENCE),
            "min_class": float(metrics.class_histogram(classifier, samples).min()),
            "fid": metrics.classifier_fid(extractor, test_images, samples),
            "agreement": metrics.class_agreement(classifier, samples, asked)}


def parse_args() -> argparse.Namespace:
    """The command line (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="training time")
    parser.add_argument("--widths", type=int, nargs=3, default=diffusion.TRAIN_DEFAULTS["widths"])
    parser.add_argument("--batch-size", type=int, default=diffusion.TRAIN_DEFAULTS["batch_size"])
    parser.add_argument("--learning-rate", type=float,
                        default=diffusion.TRAIN_DEFAULTS["learning_rate"])
    parser.add_argument("--ema-momentum", type=float,
                        default=diffusion.TRAIN_DEFAULTS["ema_momentum"])
    parser.add_argument("--target", choices=diffusion.TARGETS,
                        default=diffusion.TRAIN_DEFAULTS["target"])
    parser.add_argument("--schedule", choices=diffusion.SCHEDULES,
                        default=diffusion.TRAIN_DEFAULTS["schedule"])
    parser.add_argument("--sampler", choices=diffusion_sampling.SAMPLERS,
                        help="default: the target's (diffusion_sampling.default_sampler)")
    parser.add_argument("--steps", type=int, default=diffusion_sampling.SAMPLE_DEFAULTS["steps"])
    parser.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0, 3.0])
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--against-gan", action="store_true",
                        help="race chapter 05's conditional GAN at equal training wall time")
    parser.add_argument("--checkpoints", type=float, nargs="+", default=[60.0, 120.0, 240.0],
                        help="with --against-gan: cumulative training seconds to judge at")
    return parser.parse_args()


def build_model(args) -> diffusion.DiffusionModel:
    """A fresh conditional diffusion model with the command line's settings."""
    return diffusion.build_diffusion(args.target, True, args.schedule, args.seed, args.widths,
                                     args.learning_rate, args.ema_momentum)


def judge_setup(images, labels, test_images, test_labels) -> tuple:
    """``(classifier, extractor, real, test_images)``: the one classifier (one epoch, seed 0, as
    ``bench_gan.py``), its feature extractor, the real test images' numbers (their agreement
    is the classifier's accuracy per class) and the test images every FID is taken against."""
    classifier = metrics.train_classifier(images, labels, epochs=1, seed=0)
    extractor = metrics.feature_extractor(classifier)
    real = quality(test_images, test_labels, classifier, extractor, test_images)
    return classifier, extractor, real, test_images


def train_alone(args, images, labels) -> diffusion.DiffusionModel:
    """Sections 1 and 2 of the plain run: the step time, then ``--seconds`` of training."""
    model = build_model(args)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"{vars(args)}; {model.network.count_params()} weights")
    print(f"1. training step, batch {args.batch_size}: "
          f"{step_time(model, images, labels, args.batch_size):.0f} ms")
    model = build_model(args)
    timer = gan.TimeLimit(args.seconds)
    losses = diffusion.train_diffusion(model, images, None, args.batch_size, args.seed,
                                       callbacks=[timer], verbose=0, labels=labels)["loss"]
    print(f"2. trained {timer.steps} steps ({timer.steps * args.batch_size / len(images):.2f} "
          f"epochs) in {timer.elapsed:.0f} s; loss {np.mean(losses[:20]):.3f} -> "
          f"{np.mean(losses[-50:]):.3f} (load {os.getloadavg()[0]:.1f})", flush=True)
    return model


def draw_alone(args, model, judge) -> None:
    """Section 3 of the plain run: ``--samples`` images with each guidance weight, judged."""
    classifier, extractor, real, test_images = judge
    print(f"   real test images: confident {real['confident']:.3f}, per-class accuracy "
          f"{np.round(real['agreement'], 2).tolist()}")
    asked = model.check_labels(args.samples)
    args.sampler = args.sampler or diffusion_sampling.default_sampler(model)
    for weight in args.guidance:
        start = time.perf_counter()
        samples = diffusion_sampling.sample(model, args.samples, args.sampler, args.steps, asked,
                                            weight, seed=NOISE_SEED)
        seconds = time.perf_counter() - start
        numbers = quality(samples, asked, classifier, extractor, test_images)
        print(f"3. guidance {weight:g}: {args.samples} samples ({args.sampler}, {args.steps} "
              f"steps) in {seconds:.1f} s; confident {numbers['confident']:.3f}, rarest class "
              f"{numbers['min_class']:.3f}, classifier FID {numbers['fid']:.2f}, drawn as asked "
              f"{np.round(numbers['agreement'], 2).tolist()} (worst "
              f"{np.min(numbers['agreement']):.2f})", flush=True)
        image_io.save_image(f"outputs/bench_diffusion_w{weight:g}.png",
                            gan.image_grid(samples[:100], ncols=10))


# --- --against-gan: the two chapters' conditional models at equal training wall time ---------


class Contender:
    """One model of the race: trained in segments that continue it, with its running totals.

    ``train(model, callbacks)`` runs ``train_gan`` or ``train_diffusion`` with ``epochs=None``:
    each call resumes from ``steps_done(model)`` (the data order goes on mid-epoch, the
    optimizer keeps its moments and weight average, the noise its seed state), so segments
    of 7 + 6 steps end with the weights of one run of 13. ``draw(asked)`` returns
    ``[(name, function)]``, one per way of drawing (the diffusion model: per guidance weight);
    ``function()`` draws one image per class in ``asked``.
    """

    def __init__(self, name: str, model, train, draw, batch_size: int, num_images: int):
        self.name, self.model, self.train, self.draw = name, model, train, draw
        self.batch_size, self.num_images = batch_size, num_images
        self.wall = self.cpu = 0.0          # training seconds so far, wall clock and process CPU
        self.segment = (0.0, 0.0)           # the last segment's (wall, cpu)

    def train_until(self, seconds: float) -> None:
        """Continue training until the training wall time so far reaches ``seconds``."""
        wall, cpu = time.perf_counter(), time.process_time()
        if seconds - self.wall > 0:
            self.train(self.model, [gan.TimeLimit(seconds - self.wall)])
        self.segment = (time.perf_counter() - wall, time.process_time() - cpu)
        self.wall, self.cpu = self.wall + self.segment[0], self.cpu + self.segment[1]

    def summary(self) -> str:
        """Training wall and CPU time (in all, and of the last segment), steps and epochs."""
        steps = gan.steps_done(self.model)
        return (f"trained {self.wall:5.1f} s wall {self.cpu:5.1f} s CPU (segment "
                f"+{self.segment[0]:.1f} / +{self.segment[1]:.1f}), {steps:5d} steps of "
                f"{self.batch_size} ({steps * self.batch_size / self.num_images:.2f} epochs)")


def gan_contender(args, images, labels) -> Contender:
    """Chapter 05's conditional recipe, as the chapter trains it (``gan.TRAIN_DEFAULTS``)."""
    model = gan.build_gan(gan.TRAIN_DEFAULTS["model"], seed=args.seed)
    batch_size = gan.TRAIN_DEFAULTS["batch_size"]

    def train(model, callbacks):
        gan.train_gan(model, images, None, batch_size, args.seed, callbacks=callbacks, verbose=0,
                      labels=labels)

    def draw(asked):
        noise = gan.fixed_noise(len(asked), model.latent_dim, NOISE_SEED)
        return [(GAN_NAME, lambda: model.generate(noise, asked))]

    return Contender("GAN", model, train, draw, batch_size, len(images))


def diffusion_contender(args, images, labels) -> Contender:
    """This bench's diffusion model, drawn with ``--sampler``, ``--steps``, each ``--guidance``."""
    model = build_model(args)
    sampler = args.sampler or diffusion_sampling.default_sampler(model)

    def train(model, callbacks):
        diffusion.train_diffusion(model, images, None, args.batch_size, args.seed,
                                  callbacks=callbacks, verbose=0, labels=labels)

    def draw(asked):
        return [(f"diffusion w={weight:g}",
                 lambda weight=weight: diffusion_sampling.sample(
                     model, len(asked), sampler, args.steps, asked, weight, seed=NOISE_SEED))
                for weight in args.guidance]

    return Contender("diffusion", model, train, draw, args.batch_size, len(images))


def race_header(args, contenders, judge, images) -> None:
    """The settings, the weights of each model, and the judge's numbers on real images."""
    _, extractor, real, test_images = judge
    floor = metrics.classifier_fid(extractor, test_images, images[:args.samples])
    sampler = args.sampler or diffusion_sampling.default_sampler(contenders[1].model)
    networks = (contenders[0].model.generator, contenders[0].model.discriminator)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"GAN {gan.TRAIN_DEFAULTS['model']!r} ({sum(n.count_params() for n in networks)} "
          f"weights, batch {contenders[0].batch_size}) against diffusion {args.target!r} "
          f"({contenders[1].model.network.count_params()} weights, batch {args.batch_size}, "
          f"{sampler} {args.steps} steps, guidance {args.guidance}); checkpoints "
          f"{args.checkpoints} s; {args.samples} samples, classes in turn")
    print(f"judge: one-epoch classifier; real test images confident {real['confident']:.3f}, "
          f"worst class accuracy {np.min(real['agreement']):.2f}; {args.samples} training "
          f"images' FID against the test images {floor:.2f} (the floor at this sample count)",
          flush=True)


def judge_draws(contender, asked, judge, seconds: float) -> dict[str, float]:
    """Draw with ``contender`` (timed), print one line per way of drawing; return the FIDs."""
    classifier, extractor, _, test_images = judge
    fids = {}
    for name, draw in contender.draw(asked):
        start = time.perf_counter()
        samples = draw()
        drawing = time.perf_counter() - start
        numbers = quality(samples, asked, classifier, extractor, test_images)
        fids[name] = numbers["fid"]
        print(f"  {seconds:5g} s  {name:16s} {contender.summary()}; {len(asked)} samples in "
              f"{drawing:6.2f} s; FID {numbers['fid']:6.2f}, confident "
              f"{numbers['confident']:.3f}, rarest class {numbers['min_class']:.3f}, worst class "
              f"as asked {np.nanmin(numbers['agreement']):.2f}", flush=True)
        slug = name.replace(" ", "_").replace("=", "")
        image_io.save_image(f"outputs/bench_diffusion_vs_gan_{slug}_{seconds:g}s.png",
                            gan.image_grid(samples[:100], ncols=10))
    return fids


def warm_up(contenders, asked) -> None:
    """Draw a few images each way, twice (10, then 11), so that the timed draws exclude tracing.

    Called once the models have trained (before that they draw with their own weights, not
    with the weight average); the second size makes the sampling loop trace for any count.
    """
    for count in (10, 11):
        for contender in contenders:
            for _, draw in contender.draw(asked[:count]):
                draw()


def overtaking(times, gan_fids, diffusion_fids) -> str:
    """When the diffusion FID first fell to the GAN's: linear between the checkpoints around it."""
    gaps = [mine - theirs for mine, theirs in zip(diffusion_fids, gan_fids, strict=True)]
    first = next((index for index, gap in enumerate(gaps) if gap <= 0), None)
    if first is None:
        return f"diffusion does not overtake the GAN within {times[-1]:g} s"
    if first == 0:
        when = f"at or before ~{times[0]:g} s (already ahead at the first checkpoint)"
    else:
        before, after = gaps[first - 1], gaps[first]
        crossing = times[first - 1] + (times[first] - times[first - 1]) * before / (before - after)
        when = (f"at ~{crossing:.0f} s (between the checkpoints at {times[first - 1]:g} and "
                f"{times[first]:g} s, FID gap interpolated linearly)")
    return ("diffusion overtakes the GAN " + when
            + (f", but is behind again at {times[-1]:g} s" if gaps[-1] > 0 else ""))


def race(args, images, labels, judge) -> None:
    """``--against-gan``: train both models in turns to each checkpoint, judge, and conclude."""
    contenders = [gan_contender(args, images, labels), diffusion_contender(args, images, labels)]
    race_header(args, contenders, judge, images)
    asked = contenders[1].model.check_labels(args.samples)  # 0, 1, ..., 9, 0, ... for both
    fids: dict[str, list[float]] = {}
    times = sorted(args.checkpoints)
    for seconds in times:
        for contender in contenders:
            contender.train_until(seconds)
        if seconds == times[0]:
            warm_up(contenders, asked)
        for contender in contenders:
            for name, fid in judge_draws(contender, asked, judge, seconds).items():
                fids.setdefault(name, []).append(fid)
        gan_fid = fids[GAN_NAME][-1]
        for name in (name for name in fids if name.startswith("diffusion")):
            print(f"  {seconds:5g} s  FID ratio diffusion/GAN {fids[name][-1] / gan_fid:.2f} "
                  f"({name}; load {os.getloadavg()[0]:.1f})", flush=True)
    gan_fids = fids.pop(GAN_NAME)
    for name, diffusion_fids in fids.items():
        print(f"{name.removeprefix('diffusion ')}: {overtaking(times, gan_fids, diffusion_fids)}")
    print("(goal: diffusion FID <= GAN FID at equal time)")


def main() -> None:
    """The plain run (sections 1-3), or the race against the GAN with ``--against-gan``."""
    args = parse_args()
    pixels, labels = data.load_fashion_mnist("train")
    images = data.scale_images(pixels)
    test_pixels, test_labels = data.load_fashion_mnist("test")
    test_images = data.scale_images(test_pixels)
    if args.against_gan:
        race(args, images, labels, judge_setup(images, labels, test_images, test_labels))
        return
    model = train_alone(args, images, labels)
    draw_alone(args, model, judge_setup(images, labels, test_images, test_labels))


if __name__ == "__main__":
    main()
