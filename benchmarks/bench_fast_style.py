"""Fast style transfer benchmark (chapter 04, issue 14 part 3). Run: python benchmarks/bench_fast_style.py

Trains the image transformation network (``fast_style``) for ``--steps`` steps on the
bundled photos for one painting, then, on a photo it never saw (chelsea) at ``--size`` px:

(a) time to stylise one photo: one optimisation run of the same loss (the course's
    L-BFGS, ``presets.STYLE["num_steps"]`` evaluations, from the photo) / one forward
    pass of the network                                          (goal >= 100x);
(b) the loss each reaches under the optimiser's own problem (``style.StyleTransfer``
    for that photo and painting): the network's single pass, and the optimiser's after
    the same wall time as that pass and after its full run          (information).

Training takes about 0.23 s per step on 2 cores (batch 4 of 128 px crops). Use a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from neuralart_helpers import backbones, fast_style, images, presets, style  # noqa: E402
from timing import best_time  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=presets.FAST_STYLE["steps"])
    parser.add_argument("--painting", default="starry_night")
    parser.add_argument("--size", type=int, default=256, help="longer side of the test photo")
    args = parser.parse_args()

    backbone = backbones.load_backbone("squeezenet")
    painting = images.painting(args.painting, max_dim=256)
    start = time.perf_counter()
    trainer = fast_style.make_trainer(backbone, painting)
    fast_style.train_fast_style(trainer, fast_style.training_photos(), args.steps, verbose=0)
    print(f"trained {args.steps} steps in {time.perf_counter() - start:.0f} s")

    photo = images.content_photo("chelsea", max_dim=args.size)
    fast_style.stylize(trainer.network, photo)  # warm-up: the first call traces
    network_seconds = best_time(lambda: fast_style.stylize(trainer.network, photo))
    problem = style.StyleTransfer(backbone, photo, painting)
    painted = fast_style.stylize(trainer.network, photo).astype(np.float32)
    network_loss = float(problem.losses(painted)["total"])
    result = problem.run("content", "lbfgs", presets.STYLE["num_steps"], verbose=False)
    done_in_time = int(np.searchsorted(result.times, network_seconds, side="right"))
    at_equal_time = result.losses["total"][max(done_in_time - 1, 0)]  # the first, if none finished
    print(f"(a) stylise a {photo.shape[1]}x{photo.shape[0]} photo: optimisation {result.seconds:.2f} s "
          f"/ network {network_seconds:.3f} s = {result.seconds / network_seconds:.0f}x "
          f"(goal >= 100x)")
    print(f"(b) total loss: network {network_loss:.4g}; optimiser after the same "
          f"{network_seconds:.3f} s {at_equal_time:.4g}, after its {len(result.losses['total'])} "
          f"evaluations {result.losses['total'][-1]:.4g}; photo itself "
          f"{float(problem.losses(photo.astype(np.float32))['total']):.4g}")


if __name__ == "__main__":
    main()
