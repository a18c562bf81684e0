"""The TensorFlow tutorial's loss, written as StyleTransfer settings, against NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import backbones, errors, images, presets, style, style_recipes


def numpy_grams(features: dict) -> dict:
    """``F^T F / M`` of each layer's activations ``(1, h, w, C)``, in float64."""
    grams = {}
    for layer, value in features.items():
        flat = np.asarray(value, np.float64).reshape(-1, value.shape[-1])
        grams[layer] = flat.T @ flat / len(flat)
    return grams


def test_the_tutorial_formulation_is_the_tutorials_loss_recomputed_in_numpy():
    squeezenet = backbones.load_backbone("squeezenet")
    photo = images.content_photo("chelsea", max_dim=64)
    settings = style_recipes.tutorial_formulation(squeezenet)
    problem = style.StyleTransfer(squeezenet, photo, images.painting("starry_night", max_dim=64),
                                  **settings)
    image = np.random.default_rng(0).uniform(0, 255, photo.shape).astype(np.float32)
    parts = {name: float(value) for name, value in problem.losses(tf.constant(image)).items()}

    layers = list(squeezenet.style_layers)
    mine = numpy_grams(squeezenet.features(image, layers))
    painting = numpy_grams(squeezenet.features(problem.style_images[0], layers))
    style_term = 1e-2 * np.mean([np.mean((mine[layer] - painting[layer]) ** 2) for layer in layers])
    content = squeezenet.content_layer
    content_term = 1e4 * np.mean((np.asarray(squeezenet.features(image, [content])[content], np.float64)
                                  - np.asarray(squeezenet.features(photo, [content])[content],
                                               np.float64)) ** 2)
    unit = image.astype(np.float64) / 255.0  # the tutorial's [0, 1] image
    tv_term = 30 * (np.abs(np.diff(unit, axis=0)).sum() + np.abs(np.diff(unit, axis=1)).sum())
    np.testing.assert_allclose(30 * float(tf.image.total_variation(tf.constant(unit))), tv_term,
                               rtol=1e-6)
    np.testing.assert_allclose(settings["tv_weight"] * parts["tv"], tv_term, rtol=1e-5)
    np.testing.assert_allclose(parts["style"], style_term, rtol=1e-4)
    np.testing.assert_allclose(settings["content_weight"] * parts["content"], content_term,
                               rtol=1e-4)
    np.testing.assert_allclose(parts["total"], style_term + content_term + tv_term, rtol=1e-4)


def test_on_the_tutorials_loss_lbfgs_moves_pyramid_bands_and_gets_lower():
    squeezenet = backbones.load_backbone("squeezenet")
    photo = images.content_photo("astronaut", max_dim=64)
    painting = images.painting("the_scream", max_dim=64)
    tutorial = style.StyleTransfer(squeezenet, photo, painting,
                                   **style_recipes.tutorial_formulation(squeezenet))
    assert tutorial.lbfgs_options == presets.L1_TV_LBFGS
    assert style.StyleTransfer(squeezenet, photo, painting).lbfgs_options == {}  # the course's L2 TV
    budget = 60
    bands = tutorial.run("content", "lbfgs", budget, verbose=False)
    pixels = tutorial.run("content", "lbfgs", budget, verbose=False, pyramid_levels=0,
                          preconditioner=None, history=10)
    assert len(bands.losses["total"]) == budget == len(pixels.losses["total"])
    final = lambda run: float(tutorial.losses(tf.constant(run.image))["total"])
    assert bands.image.shape == photo.shape and 0 <= bands.image.min() <= bands.image.max() <= 255
    np.testing.assert_allclose(final(bands), min(bands.losses["total"]), rtol=1e-4)  # the best image
    assert final(bands) < 0.97 * final(pixels)
    with pytest.raises(errors.NeuralArtError, match="pyramid_levels"):
        tutorial.run("content", "lbfgs", 2, verbose=False, pyramid_levels=-1)
    with pytest.raises(errors.NeuralArtError, match="keeps no box"):
        tutorial.run("content", "lbfgs", 2, verbose=False, bounded=True)
