"""The record of one style-transfer run (chapter 04): what :meth:`style.StyleTransfer.run` keeps.

:class:`StyleResult` is what a run returns; ``_Recorder`` fills it as the optimiser goes:
the loss curves, the time of every evaluation, GIF frames, the best image so far, the
snapshots a long run saves, and a progress bar.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import tensorflow as tf

from neuralart_helpers import ascent
from neuralart_helpers.errors import NonFiniteLossWarning


@dataclass
class StyleResult:
    """What :meth:`StyleTransfer.run` returns.

    Attributes:
        image: ``(H, W, 3)`` float32 in ``[0, 255]``, the content image's shape.
        losses: ``{"total" | "content" | "style" | "tv": [one value per loss evaluation]}``.
        times: seconds from the start of the run to each loss evaluation.
        frames: snapshots of the image (every ``frame_every`` evaluations) for a GIF.
        seconds: wall time of the optimisation.
        stopped: ``None``, or the message saying why the run stopped early.
    """

    image: np.ndarray
    losses: dict[str, list[float]]
    times: list[float] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str | None = None

    def evaluations_to(self, target: float) -> int | None:
        """How many evaluations the run took until its total loss first reached ``target``
        (``None`` if it never did); ``times[n - 1]`` is when."""
        reached = np.flatnonzero(np.asarray(self.losses["total"]) <= target)
        return int(reached[0]) + 1 if reached.size else None


class _StopOptimization(Exception):
    """Raised inside the L-BFGS objective to end the run (a bad loss)."""


class _Recorder:
    """Keeps the loss curves, times, GIF frames, the best image and a progress bar of a run."""

    def __init__(self, num_steps: int, frame_every: int, verbose: bool,
                 on_snapshot: Callable[[np.ndarray, int], None] | None = None,
                 snapshot_every: int = 0):
        self.losses: dict[str, list[float]] = {"total": [], "content": [], "style": [], "tv": []}
        self.times: list[float] = []
        self.frames: list[np.ndarray] = []
        self.start, self.count, self.num_steps = time.perf_counter(), 0, num_steps
        self.frame_every, self.on_snapshot, self.snapshot_every = frame_every, on_snapshot, snapshot_every
        self.best_image, self.best_loss, self.start_image, self.stopped = None, math.inf, None, None
        self.progress = ascent.progress_bar(num_steps, verbose)

    def _progress(self, loss: float) -> None:
        if self.progress is not None:
            self.progress.update(self.count, [("loss", loss)])

    def _keep(self, image, best, frame: bool) -> None:
        """Times, a GIF frame (if ``frame``) and snapshots after evaluation ``count``."""
        self.times.append(time.perf_counter() - self.start)
        if frame:
            self.frames.append(np.clip(np.asarray(image, np.float32), 0, 255))
        if self.on_snapshot is not None and self.count % self.snapshot_every == 0:
            self.on_snapshot(np.clip(np.asarray(best, np.float32), 0, 255), self.count)

    def record(self, parts: Mapping[str, tf.Tensor], image) -> None:
        """One L-BFGS evaluation: log the losses of ``image``; stop the run if they are not finite."""
        values = {name: float(value) for name, value in parts.items()}
        self.count += 1
        if not math.isfinite(values["total"]):
            kept = "the best image whose loss was finite"
            if self.best_image is None:
                kept, self.best_image = "the starting image", image
            self.stopped = (f"The loss became {values['total']} at evaluation {self.count}; "
                            f"stopped and kept {kept}. Lower the weights (or the learning rate).")
            raise _StopOptimization
        for name in self.losses:
            self.losses[name].append(values[name])
        if values["total"] < self.best_loss:
            self.best_loss, self.best_image = values["total"], image
        self._keep(image, self.best_image,
                   self.frame_every and (self.count - 1) % self.frame_every == 0)
        self._progress(values["total"])

    def after_step(self, index: int, value: float, image) -> None:
        """One Adam or GD step; ``image`` is the one the next evaluation sees (the shared
        loop keeps the losses and the progress bar). Frames: the start, then every
        ``frame_every`` steps, and the final image."""
        if self.frame_every and index == 0:
            self.frames.append(np.clip(np.asarray(self.start_image, np.float32), 0, 255))
        self.count = index + 1
        self._keep(image, image, self.frame_every and (
            self.count % self.frame_every == 0 or self.count == self.num_steps))
        self._progress(value)

    def stop(self, message: str | None) -> None:
        """Say once why the run stopped early, if it did."""
        self.stopped = message
        if message:
            warnings.warn(message, NonFiniteLossWarning, stacklevel=4)

    def close(self) -> None:
        if self.progress is not None and self.count < self.progress.target:
            self.progress.target = self.count
            self.progress.update(self.count, finalize=True)
