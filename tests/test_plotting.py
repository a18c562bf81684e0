"""plotting.show_images: panels sized to the pictures, titles checked."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neuralart_helpers.errors import NeuralArtError  # noqa: E402
from neuralart_helpers import plotting  # noqa: E402
from neuralart_helpers.plotting import show_images  # noqa: E402


def test_square_pictures_get_square_panels_and_wide_ones_lower_panels():
    square = show_images([np.zeros((10, 10))] * 3, size=2.0)
    np.testing.assert_allclose(square.get_size_inches(), (6.0, 2.0))
    wide = show_images([np.zeros((10, 40)), np.zeros((20, 40, 3))], ["a", "b"], ncols=1, size=4.0)
    np.testing.assert_allclose(wide.get_size_inches(), (4.0, 2 * (4.0 * 0.5 + 0.3)))  # tallest
    tall = show_images([np.zeros((40, 10))], size=3.0)
    np.testing.assert_allclose(tall.get_size_inches(), (3.0, 3.0))  # never taller than wide
    plt.close("all")


def test_titles_must_match_the_pictures():
    with pytest.raises(NeuralArtError, match="Got 2 images but 1 titles"):
        show_images([np.zeros((4, 4))] * 2, ["only one"])
    with pytest.raises(NeuralArtError, match="at least one image"):
        show_images([])


def test_glue_cover_offers_a_small_png_to_the_front_page(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")  # comes with jupyter-book, not on Colab
    from IPython.core.formatters import format_display_data

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display: glued.update({key: (value, display)}))
    image = np.zeros((500, 250, 3))
    image[:, :125] = [255, 128, 0]  # left half orange, right half black
    plotting.glue_cover("cover_99", image, max_dim=200)
    picture, display = glued["cover_99"]
    assert display is False and picture.size == (100, 200)  # (width, height), aspect kept
    pixels = np.asarray(picture)
    assert tuple(pixels[100, 10]) == (255, 128, 0) and tuple(pixels[100, 90]) == (0, 0, 0)
    assert "image/png" in format_display_data(picture)[0]  # what the book stores and pastes


def test_glue_value_offers_the_number_to_the_prose_and_returns_it(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")
    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display: glued.update({key: (value, display)}))
    assert plotting.glue_value("speedup_04", 3.25) == 3.25
    assert glued == {"speedup_04": (3.25, False)}
    share = plotting.glue_value("share_05", np.float32(0.5))
    assert type(share) is float and type(glued["share_05"][0]) is float  # formats like a number
