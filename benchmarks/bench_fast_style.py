"""Fast style transfer benchmark (chapter 04, issue 14 part 3). Run: python benchmarks/bench_fast_style.py

Trains the image transformation network (``fast_style``) on the bundled photos for one
painting (chapter 04's, The Scream), printing after each of ``--steps`` (e.g. ``--steps 250
1000``) the optimiser's loss of its painting of a photo it never saw (chelsea) and of one it
trained on (astronaut), both at ``--size`` px (information: does longer training paint new
photos better, or only the training photos?). Then, on chelsea:

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
    parser.add_argument("--steps", type=int, nargs="+", default=[presets.FAST_STYLE["steps"]],
                        help="report after each of these step counts (increasing)")
    parser.add_argument("--painting", default="the_scream")
    parser.add_argument("--save", help="folder for the painted photos after each step count (PNG)")
    parser.add_argument("--size", type=int, default=256, help="longer side of the test photo")
    args = parser.parse_args()
    if args.steps != sorted(set(args.steps)):
        parser.error("--steps must be increasing (each count continues the same training)")

    backbone = backbones.load_backbone("squeezenet")
    painting = images.painting(args.painting, max_dim=256)
    trainer = fast_style.make_trainer(backbone, painting)
    photos = {name: images.content_photo(name, max_dim=args.size) for name in ("chelsea", "astronaut")}
    problems = {name: style.StyleTransfer(backbone, photo, painting) for name, photo in photos.items()}
    seconds = 0.0
    for steps in args.steps:
        start = time.perf_counter()
        fast_style.train_fast_style(trainer, fast_style.training_photos(), steps, verbose=0)
        seconds += time.perf_counter() - start
        losses = {}
        for name, photo in photos.items():
            painted = fast_style.stylize(trainer.network, photo)
            losses[name] = float(problems[name].losses(painted)["total"])
            if args.save:
                images.save_image(f"{args.save}/{name}_{args.painting}_{steps}.png", painted)
        print(f"after {steps} steps ({seconds:.0f} s of training): total loss of the painted "
              f"chelsea (never seen) {losses['chelsea']:.4g}, astronaut (a training photo) "
              f"{losses['astronaut']:.4g}", flush=True)

    photo = photos["chelsea"]
    fast_style.stylize(trainer.network, photo)  # warm-up: the first call traces
    network_seconds = best_time(lambda: fast_style.stylize(trainer.network, photo))
    problem = problems["chelsea"]
    painted = fast_style.stylize(trainer.network, photo).astype(np.float32)
    network_loss = float(problem.losses(painted)["total"])
    problem.run("content", "lbfgs", 2, verbose=False)  # trace first: neither timing includes it
    result = problem.run("content", "lbfgs", presets.STYLE["num_steps"], verbose=False)
    if args.save:
        images.save_image(f"{args.save}/chelsea_{args.painting}_optimiser.png", result.image)
    done_in_time = int(np.searchsorted(result.times, network_seconds, side="right"))
    at_equal_time = min(result.losses["total"][:max(done_in_time, 1)])  # its best so far
    print(f"(a) stylise a {photo.shape[1]}x{photo.shape[0]} photo: optimisation {result.seconds:.2f} s "
          f"/ network {network_seconds:.3f} s = {result.seconds / network_seconds:.0f}x "
          f"(goal >= 100x)")
    print(f"(b) total loss: network {network_loss:.4g}; optimiser after the same "
          f"{network_seconds:.3f} s {at_equal_time:.4g}, after its {len(result.losses['total'])} "
          f"evaluations {result.losses['total'][-1]:.4g}; photo itself "
          f"{float(problem.losses(photo.astype(np.float32))['total']):.4g}")


if __name__ == "__main__":
    main()
