"""Show results as pictures: image grids and loss curves (Matplotlib).

Range convention: images are shown as RGB in ``[0, 255]`` (float or uint8);
signed arrays (gradients, bands) go through :func:`signed_to_image` first.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from neuralart_helpers.errors import NeuralArtError


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                ncols: int | None = None, size: float = 3.0, suptitle: str | None = None):
    """Draw images side by side (or in a grid) and return the Matplotlib figure.

    Args:
        images: each ``(H, W, 3)`` in ``[0, 255]`` or ``(H, W)`` grayscale in ``[0, 255]``.
        titles: one caption per image.
        ncols: images per row (default: all in one row, at most 5).
        size: inches per panel (its width; pictures wider than tall get lower panels).
    """
    import matplotlib.pyplot as plt

    count = len(images)
    if count == 0:
        raise NeuralArtError("show_images needs at least one image.")
    if titles is not None and len(titles) != count:
        raise NeuralArtError(f"Got {count} images but {len(titles)} titles.")
    ncols = ncols or min(count, 5)
    nrows = math.ceil(count / ncols)
    aspect = max(np.shape(image)[0] / np.shape(image)[1] for image in images)  # height / width
    panel_height = size * min(aspect, 1.0) + (0.3 if titles is not None else 0.0)  # wide: lower
    figure, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, panel_height * nrows),
                                squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        picture = np.clip(np.asarray(images[index], dtype=np.float32), 0, 255) / 255.0
        if picture.ndim == 3 and picture.shape[2] == 1:
            picture = picture[:, :, 0]
        axis.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
        if titles is not None:
            axis.set_title(titles[index], fontsize=10)
    if suptitle:
        figure.suptitle(suptitle)
    figure.tight_layout()
    return figure


def signed_to_image(values, spread: float = 3.0) -> np.ndarray:
    """Show a signed array (a gradient, a Laplacian band) as a picture in ``[0, 255]``.

    Zero becomes mid-grey (127.5); ``spread`` standard deviations (of the values
    around zero) saturate to black or white. Shape is kept, e.g. ``(H, W, 3)``.
    """
    values = np.asarray(values, dtype=np.float32)
    scale = spread * np.sqrt(np.mean(np.square(values))) + 1e-12
    return np.clip(127.5 + 127.5 * values / scale, 0.0, 255.0)


def plot_losses(curves: Mapping[str, Sequence[float]], title: str = "Loss",
                xlabel: str = "step", log_scale: bool = False):
    """Plot one line per named loss curve and return the figure."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    for label, values in curves.items():
        axis.plot(np.arange(len(values)), np.asarray(values, dtype=np.float64), label=label)
    axis.set_xlabel(xlabel)
    axis.set_title(title)
    if log_scale:
        axis.set_yscale("log")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def glue_value(key: str, value):
    """Offer a number (or short text) a cell computed to the chapter's prose; return ``value``.

    With myst-nb installed (it comes with jupyter-book), ``glue`` stores ``value`` under
    ``key`` as a hidden output, and the prose quotes it with ``{glue:text}`key:.1f` ``, so a
    sentence says what this build printed, on any machine. Without myst-nb (Colab, say) it
    only returns ``value``.
    """
    if isinstance(value, np.generic):  # a NumPy scalar: glue formats Python numbers only
        value = value.item()
    try:
        from myst_nb import glue
    except ImportError:
        return value
    glue(key, value, display=False)
    return value


def glue_cover(key: str, image: np.ndarray, max_dim: int = 360) -> None:
    """Offer ``image`` to the book's front page, which shows each chapter's best picture.

    With myst-nb installed (it comes with jupyter-book), ``glue`` stores the picture (a PNG,
    longer side at most ``max_dim`` pixels) as a hidden output of the running cell under
    ``key``; the book build's ``book/intro.md`` pastes it from the executed chapter. Without
    myst-nb (Colab, say) this does nothing. Clear the outputs before committing a notebook.

    Args:
        key: the name the front page asks for, e.g. ``"cover_04"``.
        image: ``(H, W, 3)`` or ``(H, W)`` in ``[0, 255]``.
    """
    try:
        from myst_nb import glue
    except ImportError:
        return
    from PIL import Image

    picture = Image.fromarray(np.round(np.clip(np.asarray(image), 0, 255)).astype(np.uint8))
    picture.thumbnail((max_dim, max_dim))
    glue(key, picture, display=False)
