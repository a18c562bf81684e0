"""The weight average (training.WeightAverage) and the training recipe of chapter 05's GAN."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import data, gan, presets, training
from neuralart_helpers.errors import NeuralArtError


@pytest.fixture(scope="module")
def real_images():
    return data.scale_images(data.load_fashion_mnist("test")[0][:256])


def values(variables) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(variable).copy() for variable in variables]


def ema_gan(momentum: float) -> gan.GAN:
    generator, discriminator = gan.build_models("mlp", seed=0)
    model = gan.GAN(generator, discriminator, seed=0, ema_momentum=momentum)
    model.compile(gan.make_optimizer(), gan.make_optimizer())
    return model


def test_the_ema_equals_the_closed_form_average_of_the_weights_after_each_step(real_images):
    model, momentum = ema_gan(0.9), 0.9
    weights = []
    for step in range(4):
        model.train_step(tf.constant(real_images[step * 32:(step + 1) * 32]))
        weights.append(values(model.generator.trainable_variables))
    # average_1 = w_1, then average_t = m average_(t-1) + (1 - m) w_t, i.e. in closed form
    # average_4 = m^3 w_1 + (1 - m) (m^2 w_2 + m w_3 + w_4).
    coefficients = [momentum ** 3, (1 - momentum) * momentum ** 2, (1 - momentum) * momentum,
                    1 - momentum]
    averages = values(model.generator_average.averages)
    assert len(averages) == len(weights[0]) and int(model.generator_average.updates) == 4
    for index, average in enumerate(averages):
        expected = sum(c * step_weights[index] for c, step_weights in zip(coefficients, weights))
        np.testing.assert_allclose(average, expected, rtol=1e-5, atol=1e-6)
        assert not np.allclose(average, weights[-1][index])  # not just the last weights


def test_generate_draws_with_the_averaged_weights_and_leaves_training_untouched(real_images):
    model = ema_gan(0.5)
    gan.train_gan(model, real_images, 1, batch_size=64, verbose=0)
    before = values(model.variables + model.generator_optimizer.variables)
    noise = gan.fixed_noise(8, seed=3)
    samples = model.generate(noise)
    for old, new in zip(before, values(model.variables + model.generator_optimizer.variables)):
        np.testing.assert_array_equal(old, new)
    averaged = keras.models.clone_model(model.generator)
    averages = iter(values(model.generator_average.averages))
    averaged.set_weights([next(averages) if variable.trainable else variable.numpy()
                          for variable in model.generator.weights])
    np.testing.assert_allclose(samples, averaged(noise, training=False).numpy(), atol=1e-6)
    assert not np.allclose(samples, model.generator(noise, training=False).numpy(), atol=1e-3)


def test_without_an_ema_generate_uses_the_generator_itself():
    model = gan.build_gan("mlp", seed=0)
    assert model.generator_average is None
    assert model.sampling_generator() is model.generator


def test_one_sided_label_smoothing_changes_the_loss_by_the_expected_amount():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(16, 1)), rng.normal(size=(16, 1))
    # Cross-entropy with target y is softplus(l) - y l: lowering y by 0.1 adds 0.1 mean(l).
    smoothed = float(gan.discriminator_loss(real, fake, real_label=0.9))
    assert math.isclose(smoothed - float(gan.discriminator_loss(real, fake)),
                        0.1 * real.mean(), rel_tol=1e-4, abs_tol=1e-6)
    # The GAN's own step uses its real_label: two identical models, targets 1 and 0.9.
    images = tf.constant(rng.uniform(-1, 1, (8, 28, 28, 1)).astype("float32"))
    plain, smoothing = ema_gan(0.9), ema_gan(0.9)
    smoothing.real_label = 0.9
    real_logits = plain.discriminator(images, training=True).numpy()
    difference = float(smoothing.discriminator_step(images)) - float(plain.discriminator_step(images))
    assert math.isclose(difference, 0.1 * real_logits.mean(), rel_tol=1e-3, abs_tol=1e-5)


def test_the_default_model_is_a_recipe_and_build_gan_applies_it():
    name = presets.GAN_TRAIN["model"]
    recipe = presets.GAN_RECIPES[name]
    model = gan.build_gan(seed=0)
    assert model.name == f"{name.replace('-', '_')}_gan" and name in presets.GAN_MODELS
    assert math.isclose(model.generator_average.momentum, recipe["ema_momentum"])
    assert model.real_label == recipe["real_label"]
    rates = (float(model.generator_optimizer.learning_rate),
             float(model.discriminator_optimizer.learning_rate))
    np.testing.assert_allclose(rates, recipe["learning_rates"])


def test_a_momentum_outside_zero_to_one_is_refused():
    generator, _ = gan.build_models("mlp", seed=0)
    for momentum in (1.0, -0.1, 1.5):
        with pytest.raises(NeuralArtError, match=r"momentum must be in \[0, 1\)"):
            training.WeightAverage(generator, momentum)


def test_before_the_first_update_the_copy_is_the_network_and_momentum_zero_copies_it():
    generator, _ = gan.build_models("mlp", seed=0)
    average = training.WeightAverage(generator, 0.0)
    assert average.network_copy() is generator
    for weight in generator.trainable_variables:
        weight.assign(weight + 1.0)
    average.update()
    for kept, weight in zip(values(average.averages), values(generator.trainable_variables)):
        np.testing.assert_array_equal(kept, weight)  # m = 0: the average is the last weights


def test_a_resumed_run_continues_the_average_exactly(tmp_path, real_images):
    """Two epochs in one go, or one epoch, a checkpoint, a fresh model and one more epoch.

    (test_gan and test_diffusion check every variable, the average included, after a resume
    in mid-epoch; this checks the average's own counter and values by name.)
    """
    whole = gan.build_gan("mlp-ema", seed=0, jit_compile=False)
    gan.train_gan(whole, real_images[:128], 2, batch_size=64, verbose=0)
    first = gan.build_gan("mlp-ema", seed=0, jit_compile=False)
    gan.train_gan(first, real_images[:128], 1, batch_size=64, verbose=0,
                  manager=gan.checkpoint_manager(first, tmp_path))
    resumed = gan.build_gan("mlp-ema", seed=0, jit_compile=False)
    assert gan.restore_latest(resumed, tmp_path) == 2
    assert int(resumed.generator_average.updates) == 2
    gan.train_gan(resumed, real_images[:128], 2, batch_size=64, verbose=0)
    assert int(resumed.generator_average.updates) == int(whole.generator_average.updates) == 4
    for expected, got in zip(values(whole.generator_average.averages),
                             values(resumed.generator_average.averages)):
        np.testing.assert_array_equal(expected, got)
