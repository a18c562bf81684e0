"""Benchmark of the chapter 01 render loop (not a test; run ``python benchmarks/bench_render.py``).

Prints, each next to its goal:

(a) seconds per step of ``render.render`` divided by the seconds of one bare,
    compiled forward + backward pass of the same feature extractor on the same
    input (goal <= 1.1): the loop, the gradient normalisation and the variable
    update cost next to nothing. Step times are taken inside the real loop (by
    its callback), interleaved with the bare passes, and compared by their 10th
    percentile, since on a shared machine other processes only ever add time.
(b) peak memory (the process's peak resident set, ``VmHWM``) of a tiled
    2048x2048 render divided by that of a 512x512 render, both with 512-pixel
    tiles (goal <= 1.5): memory stays flat as the image grows 16 times. Each
    size runs in its own process so the peaks do not mix. For contrast it also
    prints the same ratio for *untiled* renders, and how much each render added
    on top of the loaded model.

Options: ``--size`` (render size for (a), default 224), ``--steps`` (default 40),
``--quick`` (fewer repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LAYER, CHANNEL = "fire5_concat", 48
TILE_SIZE = 512


def step_time_ratio(size: int, steps: int, repeats: int) -> None:
    import numpy as np
    import tensorflow as tf

    from neuralart_helpers import objectives, param, render, transforms
    from neuralart_helpers.backbones import load_backbone

    backbone = load_backbone("squeezenet")
    objective = objectives.channel(LAYER, CHANNEL)
    value_fn = render.value_function(objective, backbone)
    images = tf.constant(param.grey_noise(size, size, seed=0))

    @tf.function
    def forward_backward(pixels):
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            value = value_fn(pixels)
        return value, tape.gradient(value, pixels)

    def bare_step_times() -> list[float]:
        times = [time.perf_counter()]
        for _ in range(steps):
            value, gradient = forward_backward(images)
            float(value)  # wait for the result, as the render loop does
            times.append(time.perf_counter())
        return list(np.diff(times))

    def render_step_times(make_param, transform_list=()) -> list[float]:
        """Time between two steps of the real loop, timed by its callback."""
        times = []
        render.render(objective, backbone, make_param(), transform_list, steps + 1, verbose=False,
                      callbacks=[lambda step, value, param_now: times.append(time.perf_counter())])
        return list(np.diff(times))  # the first step (tracing) is left out

    def fast(times: list[float]) -> float:
        """10th percentile: on a shared machine other processes only ever add time."""
        return float(np.percentile(times, 10))

    forward_backward(images)  # trace
    bare, pixel = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        bare += bare_step_times()
        pixel += render_step_times(lambda: param.pixel_image(size, size))
    print(f"(a) render step / bare forward+backward, {size}x{size} pixel image, {LAYER}:{CHANNEL}")
    print(f"    10th percentile of {len(bare)} steps: bare pass {1000 * fast(bare):.1f} ms, "
          f"render step {1000 * fast(pixel):.1f} ms (medians {1000 * np.median(bare):.1f} and "
          f"{1000 * np.median(pixel):.1f} ms)")
    print(f"    ratio {fast(pixel) / fast(bare):.3f}   (goal <= 1.1)")
    fourier = fast(render_step_times(lambda: param.fourier_image(size, size),
                                     transforms.standard_transforms()))
    print(f"    for information: Fourier image + standard transforms {1000 * fourier:.1f} ms, "
          f"ratio {fourier / fast(bare):.3f} (no goal: the FFT and transforms are extra work)")


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status (this benchmark needs Linux)")


def memory_child(size: int, tiled: bool) -> None:
    """Run in a fresh process: render once and print the peak resident memory as JSON."""
    from neuralart_helpers import objectives, param, render
    from neuralart_helpers.backbones import load_backbone

    backbone = load_backbone("squeezenet")
    objective = objectives.channel(LAYER, CHANNEL)
    start = param.grey_noise(size, size, seed=0)[0]
    loaded = _status_mib("VmRSS")
    if tiled:
        value_fn = render.value_function(objective, backbone)
        render.tiled_ascent(value_fn, backbone, start, 2, 1.5, TILE_SIZE, verbose=False)
    else:
        render.render(objective, backbone, param.pixel_image(size, size, init=start), (), 2,
                      verbose=False)
    print(json.dumps({"peak": _status_mib("VmHWM"), "loaded": loaded}))


def peak_memory(size: int, tiled: bool) -> dict:
    output = subprocess.run([sys.executable, __file__, "--memory-child", str(size)]
                            + (["--tiled"] if tiled else []),
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def memory_ratio() -> None:
    print(f"(b) peak memory, 2048x2048 / 512x512 render, {TILE_SIZE}-pixel tiles, 2 steps")
    for tiled in (True, False):
        small, large = peak_memory(512, tiled), peak_memory(2048, tiled)
        label = "tiled  " if tiled else "untiled"
        goal = "   (goal <= 1.5)" if tiled else "   (for contrast, no goal)"
        print(f"    {label} peak {small['peak']:.0f} MiB -> {large['peak']:.0f} MiB, "
              f"ratio {large['peak'] / small['peak']:.2f}{goal}")
        print(f"            added by the render on top of the loaded model: "
              f"{small['peak'] - small['loaded']:.0f} MiB -> {large['peak'] - large['loaded']:.0f} MiB")
    print(f"    (a 2048x2048 float32 image and its gradient alone take "
          f"{2 * 2048 * 2048 * 3 * 4 / 2 ** 20:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="one repeat instead of five")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tiled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.tiled)
        return
    step_time_ratio(args.size, args.steps, 1 if args.quick else 5)
    memory_ratio()


if __name__ == "__main__":
    main()
