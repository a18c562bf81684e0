"""DeepDream benchmarks (chapters 02 and 03). Run: python benchmarks/bench_dream.py

Prints ratios against reference runs made in the same process (or, for memory,
in sibling processes started the same way), with the goal beside each:

(a) one ascent step of our dream loop / one bare forward+backward pass of the
    same dream loss at the same size                    (goal <= 1.1); the
    ratio to the network alone (no loss) is printed for information
(b) a full 3-octave dream of a 512 px photo / a plain reference loop that
    re-traces its step at every octave, same steps     (goal <= 0.8)
(c) peak memory of a tiled 2048 px dream / a tiled 512 px dream (goal <= 1.5)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from neuralart_helpers import backbones, dream, images, octaves  # noqa: E402
from timing import best_time, network_pass  # noqa: E402

STEPS = 10


def step_ratios(model: dream.DreamModel, photo: np.ndarray) -> tuple[float, float]:
    """Our whole ascent step (loss, gradient, normalisation, update, clip, Python loop) divided by
    (1) one compiled forward+backward pass of the same dream loss, written plainly, and
    (2) one forward+backward pass of the network alone (the sum of the activations)."""
    image = tf.constant(photo)
    backbone, weights = model.backbone, model.layer_weights
    layers = list(weights)

    @tf.function
    def same_loss(pixels):
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            loss = dream.dream_loss(backbone.features(pixels, layers), weights)
        return tape.gradient(loss, pixels)

    network_only = network_pass(layers, backbone)

    ours = best_time(lambda: dream.gradient_ascent(model, image, STEPS), 5) / STEPS
    loss_pass = best_time(lambda: [same_loss(image) for _ in range(STEPS)], 5) / STEPS
    network_seconds = best_time(lambda: [network_only(image) for _ in range(STEPS)], 5) / STEPS
    return ours / loss_pass, ours / network_seconds


def reference_dream(backbone, layer_weights, photo, num_octaves=3, scale=1.4):
    """The plain loop: a fresh tf.function (so a fresh trace) at every octave."""
    layers = list(layer_weights)
    image = photo
    for shape in octaves.octave_shapes(*photo.shape[:2], num_octaves, scale):
        image = tf.constant(images.resize(image, *shape))  # the resize dream.dream uses

        @tf.function
        def step(img):
            with tf.GradientTape() as tape:
                tape.watch(img)
                loss = dream.dream_loss(backbone.features(img, layers), layer_weights)
            gradient = tape.gradient(loss, img)
            return tf.clip_by_value(img + 1.5 * gradient / tf.reduce_mean(tf.abs(gradient)), 0, 255)

        for _ in range(STEPS):
            image = step(image)
    return image


def octave_ratio(model: dream.DreamModel, photo: np.ndarray) -> float:
    ours = best_time(lambda: dream.dream(model, photo, num_octaves=3, num_steps=STEPS,
                                         verbose=False), 2)
    reference = best_time(lambda: reference_dream(model.backbone, model.layer_weights, photo), 2)
    return ours / reference


def peak_memory_mb(size: int) -> float:
    """Peak resident memory (MB) of a fresh process running one tiled dream at ``size`` px."""
    code = (f"import bench_dream as b; b.tiled_run({size})")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(__file__))
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def tiled_run(size: int) -> None:
    backbone = backbones.load_backbone("squeezenet")
    photo = images.resize(images.content_photo("astronaut"), size, size)
    dream.dream(dream.DreamModel(backbone), photo, num_octaves=1, num_steps=2, tile_size=256,
                verbose=False)


def main() -> None:
    backbone = backbones.load_backbone("squeezenet")
    model = dream.DreamModel(backbone)
    photo = images.content_photo("astronaut", max_dim=512)
    same_loss, network = step_ratios(model, photo)
    print(f"(a) step / bare forward+backward of the dream loss at 512 px: {same_loss:.2f}  (goal <= 1.1)")
    print(f"    (for information: step / forward+backward of the network alone: {network:.2f}; the "
          f"difference is the loss itself, mean squares and border crops of three layers)")
    print(f"(b) 3-octave dream / re-tracing reference:   {octave_ratio(model, photo):.2f}  (goal <= 0.8)")
    small = peak_memory_mb(512)   # RUSAGE_CHILDREN keeps the maximum over children,
    large = peak_memory_mb(2048)  # so measure the small one first
    print(f"(c) peak memory, tiled 2048 px / 512 px:      {large / small:.2f}  (goal <= 1.5; "
          f"{large:.0f} MB / {small:.0f} MB)")


if __name__ == "__main__":
    main()
