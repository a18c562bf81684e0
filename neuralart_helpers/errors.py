"""The course's errors and warnings: one base class, a few kinds.

Every mistake a user can make (a bad setting, an image that is too small, a missing
file or asset, a damaged checkpoint) raises a :class:`NeuralArtError` whose message
says what was wrong and how to fix it. ``neuralart`` prints those as one line and
exits with status 2; any other exception is a bug and keeps its traceback.
``NeuralArtError`` is a ``ValueError``, so ``except ValueError`` still catches it.
"""

from __future__ import annotations


class NeuralArtError(ValueError):
    """A setting or input that cannot work; the message says what to use instead."""


class ImageTooSmallError(NeuralArtError):
    """An image (or an octave, or a tile) smaller than the backbone's minimum input."""


class LayerNameError(NeuralArtError):
    """A layer the backbone does not have; the message lists the valid names."""


class ImageError(NeuralArtError):
    """A file that could not be read or written as an image."""


class AssetError(NeuralArtError):
    """A downloadable file (weights, painting, data set) that is missing, corrupt or unreachable."""


class CheckpointError(NeuralArtError):
    """A checkpoint or saved run that is damaged, of another model, or contradicts the flags."""


class NonFiniteLossWarning(UserWarning):
    """The loss became NaN or infinite; the run stopped and kept the last good image."""


class DeadChannelWarning(UserWarning):
    """The objective's gradient was zero at every step: the picture is only the starting image."""
