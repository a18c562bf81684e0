"""Tests for neuralart_helpers.objectives: values, composition, and that ascent raises each one."""

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import objectives, render
from neuralart_helpers.backbones import load_backbone
from neuralart_helpers.param import pixel_image
from neuralart_helpers.transforms import jitter

LAYER = "fire3_concat"


@pytest.fixture(scope="module")
def squeezenet():
    return load_backbone("squeezenet")


@pytest.fixture()
def activations():
    rng = np.random.default_rng(0)
    return {"a": tf.constant(rng.normal(size=(2, 5, 6, 4)).astype(np.float32)),
            "b": tf.constant(rng.normal(size=(2, 3, 3, 8)).astype(np.float32))}


def test_channel_is_the_mean_of_one_channel(activations):
    array = activations["a"].numpy()
    assert float(objectives.channel("a", 2)(activations)) == pytest.approx(array[..., 2].mean(),
                                                                           rel=1e-5)
    assert float(objectives.channel("a", 2, batch=1)(activations)) == pytest.approx(
        array[1, :, :, 2].mean(), rel=1e-5)


def test_neuron_reads_the_centre_unit_or_a_given_one(activations):
    array = activations["a"].numpy()
    assert float(objectives.neuron("a", 1)(activations)) == pytest.approx(array[:, 2, 3, 1].mean(),
                                                                          rel=1e-5)
    assert float(objectives.neuron("a", 1, row=0, column=4, batch=0)(activations)) == pytest.approx(
        array[0, 0, 4, 1], rel=1e-5)


def test_layer_l2_is_the_mean_square(activations):
    array = activations["b"].numpy()
    assert float(objectives.layer_l2("b")(activations)) == pytest.approx(np.mean(array ** 2), rel=1e-5)


def test_objectives_compose_as_weighted_sums(activations):
    first, second = objectives.channel("a", 0), objectives.layer_l2("b")
    combined = first + 0.5 * second - objectives.channel("a", 3) / 4
    expected = float(first(activations)) + 0.5 * float(second(activations)) \
        - float(objectives.channel("a", 3)(activations)) / 4
    assert float(combined(activations)) == pytest.approx(expected, rel=1e-5)
    assert combined.layers == ("a", "b")
    assert combined.channels == (("a", 0), ("a", 3))
    total = sum(objectives.channel("a", c, batch=c % 2) for c in range(4))
    assert float(total(activations)) == pytest.approx(
        sum(activations["a"].numpy()[c % 2, :, :, c].mean() for c in range(4)), rel=1e-5)
    assert float((-first)(activations)) == pytest.approx(-float(first(activations)))
    assert float((first + 3)(activations)) == pytest.approx(float(first(activations)) + 3, rel=1e-5)


def test_two_objectives_cannot_be_multiplied(activations):
    with pytest.raises(TypeError):
        objectives.channel("a", 0) * objectives.channel("a", 1)


def test_gram_similarity_is_one_for_identical_images_and_lower_for_different_ones():
    rng = np.random.default_rng(1)
    one = rng.uniform(size=(1, 6, 6, 5)).astype(np.float32)
    same = tf.constant(np.concatenate([one, one, 2.0 * one]))  # cosine ignores the scale
    assert float(objectives.gram_similarity(same)) == pytest.approx(1.0, abs=1e-5)
    # Three different images: the mean of the 3 pairwise cosines between flattened Grams.
    batch = rng.uniform(size=(3, 6, 6, 5)).astype(np.float32) ** np.array([1, 4, 8])[:, None, None, None]
    grams = [(image.reshape(-1, 5).T @ image.reshape(-1, 5)).ravel() for image in batch]
    cosine = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    expected = np.mean([cosine(grams[0], grams[1]), cosine(grams[0], grams[2]),
                        cosine(grams[1], grams[2])])
    assert expected < 0.99
    assert float(objectives.gram_similarity(tf.constant(batch))) == pytest.approx(expected, rel=1e-5)
    assert float(objectives.diversity("x")({"x": same})) == pytest.approx(-1.0, abs=1e-5)


def _rises(objective, squeezenet, batch=1):
    result = render.render(objective, squeezenet, pixel_image(64, 64, batch, seed=3),
                           transforms=[jitter(2)], num_steps=6, step_size=2.0, verbose=False)
    assert result.values[-1] > result.values[0] + 1e-3 * abs(result.values[0]), result.values
    return result


@pytest.mark.parametrize("make_objective", [
    lambda: objectives.channel(LAYER, 5),
    lambda: objectives.neuron("fire3_expand3x3", 5),  # pre-ReLU: never dead
    lambda: objectives.layer_l2(LAYER),
    lambda: objectives.channel("fire5_concat", 3) + 0.5 * objectives.layer_l2(LAYER),
], ids=["channel", "neuron", "layer_l2", "weighted_sum"])
def test_each_objective_rises_under_gradient_ascent(make_objective, squeezenet):
    _rises(make_objective(), squeezenet)


def test_diversity_rises_when_maximised(squeezenet):
    _rises(objectives.diversity(LAYER), squeezenet, batch=3)
