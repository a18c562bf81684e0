"""Helpers shared by the benchmarks: `from timing import best_time, network_pass`."""

import time

import tensorflow as tf


def best_time(function, repeats: int = 3) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call): other processes only add time."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def network_pass(layers, backbone, input_signature=None):
    """A compiled forward+backward pass of the network alone: the gradient of the sum of the
    activations of ``layers`` (layer names) with respect to a ``(H, W, 3)`` pixel image.

    The activations come from ``backbone.features``, preprocessing included, as in the
    helpers' own losses.
    """
    layers = list(layers)

    @tf.function(input_signature=input_signature)
    def network_only(pixels):
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            features = backbone.features(pixels, layers)
            total = tf.add_n([tf.reduce_sum(value) for value in features.values()])
        return tape.gradient(total, pixels)

    return network_only
