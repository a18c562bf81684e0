"""Chapter 06's diffusion model on 2 CPU cores: step time, quality after a time budget, sampling.

    python benchmarks/bench_diffusion.py                          # the defaults, 120 s of training
    python benchmarks/bench_diffusion.py --seconds 60 --widths 16 32 32 --batch-size 64
    python benchmarks/bench_diffusion.py --target flow --sampler euler --guidance 0 2 4

Trains a fresh conditional model on the 60 000 training images for ``--seconds`` (a
``gan.TimeLimit``), then draws ``--samples`` images (the classes in turn) with each guidance
weight and reports what the course's classifier (``metrics.train_classifier``, one epoch, as
``bench_gan.py``) makes of them: the share classified with confidence >= 0.9, the rarest
class, the classifier FID against the 10 000 test images, and the share of each class drawn
as asked. Not part of the test suite.
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

CONFIDENCE = 0.9  # a sample counts as recognised when the classifier is this sure


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
    logits = classifier.predict(samples, batch_size=500, verbose=0)
    confidence = np.max(tf.nn.softmax(logits).numpy(), axis=1)
    return {"confident": float(np.mean(confidence >= CONFIDENCE)),
            "min_class": float(metrics.class_histogram(classifier, samples).min()),
            "fid": metrics.classifier_fid(extractor, test_images, samples),
            "agreement": metrics.class_agreement(classifier, samples, asked)}


def main() -> None:
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
    args = parser.parse_args()

    pixels, labels = data.load_fashion_mnist("train")
    images = data.scale_images(pixels)
    test_pixels, test_labels = data.load_fashion_mnist("test")
    test_images = data.scale_images(test_pixels)
    model = diffusion.build_diffusion(args.target, True, args.schedule, args.seed, args.widths,
                                      args.learning_rate, args.ema_momentum)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"{vars(args)}; {model.network.count_params()} weights")
    print(f"1. training step, batch {args.batch_size}: "
          f"{step_time(model, images, labels, args.batch_size):.0f} ms")
    model = diffusion.build_diffusion(args.target, True, args.schedule, args.seed, args.widths,
                                      args.learning_rate, args.ema_momentum)
    timer = gan.TimeLimit(args.seconds)
    losses = diffusion.train_diffusion(model, images, None, args.batch_size, args.seed,
                                       callbacks=[timer], verbose=0, labels=labels)["loss"]
    print(f"2. trained {timer.steps} steps ({timer.steps * args.batch_size / len(images):.2f} "
          f"epochs) in {timer.elapsed:.0f} s; loss {np.mean(losses[:20]):.3f} -> "
          f"{np.mean(losses[-50:]):.3f} (load {os.getloadavg()[0]:.1f})", flush=True)

    classifier = metrics.train_classifier(images, labels, epochs=1, seed=0)
    extractor = metrics.feature_extractor(classifier)
    real = quality(test_images, test_labels, classifier, extractor, test_images)
    print(f"   real test images: confident {real['confident']:.3f}, per-class accuracy "
          f"{np.round(real['agreement'], 2).tolist()}")
    asked = model.check_labels(args.samples)
    args.sampler = args.sampler or diffusion_sampling.default_sampler(model)
    for weight in args.guidance:
        start = time.perf_counter()
        samples = diffusion_sampling.sample(model, args.samples, args.sampler, args.steps, asked,
                                            weight, seed=12345)
        seconds = time.perf_counter() - start
        numbers = quality(samples, asked, classifier, extractor, test_images)
        print(f"3. guidance {weight:g}: {args.samples} samples ({args.sampler}, {args.steps} "
              f"steps) in {seconds:.1f} s; confident {numbers['confident']:.3f}, rarest class "
              f"{numbers['min_class']:.3f}, classifier FID {numbers['fid']:.2f}, drawn as asked "
              f"{np.round(numbers['agreement'], 2).tolist()} (worst "
              f"{np.min(numbers['agreement']):.2f})", flush=True)
        image_io.save_image(f"outputs/bench_diffusion_w{weight:g}.png",
                            gan.image_grid(samples[:100], ncols=10))


if __name__ == "__main__":
    main()
