"""Diffusion: the forward process, the U-Net, training, samplers, guidance, exact resume."""

import gc
import math
import textwrap
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import data, diffusion, diffusion_sampling, errors
from test_gan import InterruptAt, run_on_two_cpus  # Ctrl-C after a step; a 2-CPU interpreter

TINY = (8, 16, 16)  # U-Net widths that train in milliseconds


@pytest.fixture(scope="module")
def labelled():
    images, labels = data.load_fashion_mnist("test")
    return data.scale_images(images[:320]), labels[:320]


def all_values(model: diffusion.DiffusionModel) -> list[np.ndarray]:
    """Every number training changes: the network's weights, the optimizer's, the weight average."""
    average = list(model.average.variables) if model.average is not None else []
    return [keras.ops.convert_to_numpy(variable).copy()
            for variable in model.network.variables + model.network_optimizer.variables + average]


def randomise_output_layer(network: keras.Model, seed: int = 0) -> None:
    """The last convolution starts at zero; give it random weights so the output shows things."""
    layer = network.get_layer("prediction")
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in layer.get_weights()])


# --- The forward process --------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_alpha_bar_falls_from_one_to_almost_zero(schedule):
    values = diffusion.alpha_bar(np.linspace(0, 1, 101), schedule).numpy()
    assert values[0] == pytest.approx(1.0) and values[-1] < 1e-4
    assert np.all(np.diff(values) <= 0) and values.min() >= diffusion.ALPHA_BAR_MIN
    with pytest.raises(errors.NeuralArtError, match="cosine"):
        diffusion.alpha_bar(0.5, "quadratic")


def test_alpha_bar_is_the_published_formula():
    times = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9], np.float32)
    # Nichol and Dhariwal (2021), eq. 17: f(t) / f(0), f(t) = cos^2(pi/2 (t + s) / (1 + s)),
    # s = 0.008
    f = lambda t: np.cos(np.pi / 2 * (t + 0.008) / 1.008) ** 2  # noqa: E731
    np.testing.assert_allclose(diffusion.alpha_bar(times, "cosine").numpy(), f(times) / f(0.0),
                               rtol=1e-5)
    # Ho et al. (2020): prod_{i <= n} (1 - beta_i), beta linear from 1e-4 to 0.02 over 1000 steps
    betas = np.linspace(1e-4, 0.02, 1000)
    for step in (1, 100, 250, 400, 500):  # later, the sum of beta^2 / 2 makes it 2% by 700
        discrete = np.prod(1.0 - betas[:step])
        continuous = diffusion.alpha_bar(step / 1000, "linear").numpy()
        assert continuous == pytest.approx(discrete, rel=0.01), step
    assert diffusion.alpha_bar(0.5, "linear").numpy() == pytest.approx(math.exp(-2.5375), rel=1e-5)


def test_q_step_accepts_noise_of_any_float_type():
    x = np.full((2, 28, 28, 1), 0.5, np.float32)
    result = diffusion.q_step(x, np.ones_like(x, np.float64), 0.2, 0.4)
    assert result.dtype == tf.float32


@pytest.mark.parametrize("schedule", ["cosine", "linear", "straight"])
def test_iterating_the_one_step_process_matches_the_closed_form(schedule):
    count, steps, t_end = 20000, 10, 0.35
    x0 = np.tile(np.array([-1.0, -0.3, 0.5, 1.0], np.float32).reshape(1, 2, 2, 1), (count, 1, 1, 1))
    x = tf.constant(x0)
    times = np.linspace(0.0, t_end, steps + 1)
    for index in range(steps):
        noise = tf.random.stateless_normal(x.shape, seed=[index, 7])
        x = diffusion.q_step(x, noise, times[index], times[index + 1], schedule)
    a, b = (value.numpy() for value in diffusion.noise_scales(t_end, schedule))
    closed = diffusion.add_noise(x0, tf.random.stateless_normal(x.shape, seed=[99, 7]), t_end,
                                 schedule).numpy()
    for samples in (x.numpy(), closed):  # both: mean a x0 and standard deviation b per pixel
        np.testing.assert_allclose(samples.mean(axis=0), a * x0[0], atol=4 * b / np.sqrt(count))
        np.testing.assert_allclose(samples.std(axis=0), np.full(x0[0].shape, b), rtol=0.03)
    assert 0.3 < b < 0.9  # a point where image and noise both matter


def test_add_noise_is_the_formula_per_image():
    x0, noise = np.full((2, 28, 28, 1), 0.5, np.float32), np.ones((2, 28, 28, 1), np.float32)
    result = diffusion.add_noise(x0, noise, [0.0, 1.0]).numpy()
    np.testing.assert_allclose(result[0], 0.5, atol=1e-6)  # t = 0: the image
    abar = diffusion.ALPHA_BAR_MIN
    np.testing.assert_allclose(result[1], 0.5 * np.sqrt(abar) + np.sqrt(1 - abar), rtol=1e-6)
    straight = diffusion.add_noise(x0, noise, [0.25, 0.75], "straight").numpy()
    np.testing.assert_allclose(straight[:, 0, 0, 0], [0.75 * 0.5 + 0.25, 0.25 * 0.5 + 0.75])


# --- The U-Net --------------------------------------------------------------------------------


def test_unet_keeps_the_shape_starts_at_zero_and_sees_time_and_class():
    network = diffusion.unet(TINY, conditional=True)
    x = tf.random.stateless_normal((4, 28, 28, 1), seed=[1, 2])
    labels = tf.constant([0, 3, 7, diffusion.NULL_CLASS])
    early, late = (network([x, tf.fill([4], t), labels]).numpy() for t in (0.1, 0.9))
    assert early.shape == (4, 28, 28, 1) and np.all(early == 0)  # zero-initialised output
    randomise_output_layer(network)
    early, late = (network([x, tf.fill([4], t), labels]).numpy() for t in (0.1, 0.9))
    other_class = network([x, tf.fill([4], 0.1), tf.constant([1, 1, 1, 1])]).numpy()
    assert np.abs(early - late).max(axis=(1, 2, 3)).min() > 1e-3  # depends on t
    assert np.abs(early - other_class).max() > 1e-3
    assert len(diffusion.unet(TINY).inputs) == 2
    with pytest.raises(errors.NeuralArtError, match="divide by the 8 groups"):
        diffusion.unet((12, 16, 16))


def test_time_embedding_is_sinusoidal():
    embedding = diffusion.time_embedding(tf.constant([0.0, 0.5]), 8).numpy()
    np.testing.assert_allclose(embedding[0], [0, 0, 0, 0, 1, 1, 1, 1], atol=1e-7)
    angles = 500.0 * 10000.0 ** (-np.arange(4) / 4)
    np.testing.assert_allclose(embedding[1], np.concatenate([np.sin(angles), np.cos(angles)]),
                               atol=2e-4)


# --- Training -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("target, conditional", [("eps", False), ("flow", True)])
def test_the_loss_falls_on_a_tiny_run(target, conditional, labelled):
    images, labels = labelled
    model = diffusion.build_diffusion(target, conditional, widths=TINY, seed=0)
    losses = diffusion.train_diffusion(model, images[:256], 3, batch_size=32, verbose=0,
                                       labels=labels[:256] if conditional else None)["loss"]
    assert len(losses) == 24 and np.all(np.isfinite(losses))
    # measured: eps 0.99 -> 0.55, flow 1.6 -> 0.85 over 24 steps
    assert np.mean(losses[-6:]) < 0.8 * np.mean(losses[:4]), np.round(losses, 3)


@pytest.mark.slow
def test_fit_reports_the_last_steps_loss_not_zero(labelled):
    images, _ = labelled
    model = diffusion.build_diffusion("flow", widths=TINY, seed=0)
    steps = diffusion.train_diffusion(model, images[:64], 1, batch_size=32, verbose=0)["loss"]
    epoch = model.fit(images[:32], epochs=1, batch_size=32, verbose=0).history["loss"]
    assert min(steps) > 0.1 and epoch[0] > 0.1  # Keras's own tracker would say 0.0


def test_training_checks_labels_and_an_end(labelled):
    images, labels = labelled
    with pytest.raises(errors.NeuralArtError, match="conditional model needs labels"):
        diffusion.train_diffusion(diffusion.build_diffusion(conditional=True, widths=TINY),
                                  images, 1, 64, verbose=0)
    with pytest.raises(errors.NeuralArtError, match=r"this model is not conditional; leave "
                                                     r"labels out \(or build it with "
                                                     r"conditional=True\)\.$"):
        diffusion.train_diffusion(diffusion.build_diffusion(widths=TINY), images, 1, 64,
                                  verbose=0, labels=labels)
    with pytest.raises(errors.NeuralArtError, match=r"gan.TimeLimit\(seconds\)"):
        diffusion.train_diffusion(diffusion.build_diffusion(widths=TINY), images, None, 64,
                                  verbose=0)
    with pytest.raises(errors.NeuralArtError, match="target must be one of"):
        diffusion.build_diffusion("score", widths=TINY)


def test_label_dropout_replaces_about_the_share_asked_for():
    model = diffusion.build_diffusion(conditional=True, widths=TINY, label_dropout=0.2)
    dropped = model.drop_labels(tf.fill([10000], 3), tf.constant([4, 5], tf.int64)).numpy()
    assert set(np.unique(dropped)) == {3, diffusion.NULL_CLASS}
    assert abs(np.mean(dropped == diffusion.NULL_CLASS) - 0.2) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("conditional", [False, True])
def test_resume_after_interruption_equals_an_uninterrupted_run(conditional, labelled, tmp_path):
    images, labels = labelled  # 320 images: 5 steps per epoch at batch 64
    labels = labels if conditional else None
    uninterrupted = diffusion.build_diffusion(conditional=conditional, widths=TINY, seed=1)
    diffusion.train_diffusion(uninterrupted, images, 2, 64, seed=1, verbose=0, labels=labels)

    interrupted = diffusion.build_diffusion(conditional=conditional, widths=TINY, seed=1)
    with pytest.raises(KeyboardInterrupt):
        diffusion.train_diffusion(interrupted, images, 2, 64, seed=1, verbose=0, labels=labels,
                                  manager=diffusion.checkpoint_manager(interrupted, tmp_path),
                                  callbacks=[InterruptAt(7)])  # mid-way through epoch 2
    resumed = diffusion.build_diffusion(conditional=conditional, widths=TINY, seed=99)
    assert diffusion.restore_latest(resumed, tmp_path) == 7
    losses = diffusion.train_diffusion(resumed, images, 2, 64, seed=1, verbose=0, labels=labels)
    assert len(losses["loss"]) == 3
    for expected, value in zip(all_values(uninterrupted), all_values(resumed), strict=True):
        np.testing.assert_array_equal(expected, value)


# --- Sampling -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(labelled):
    """A conditional eps model after 10 steps (drawing with its moving average of the weights)."""
    images, labels = labelled
    model = diffusion.build_diffusion("eps", conditional=True, widths=TINY, seed=0)
    diffusion.train_diffusion(model, images, 2, 64, verbose=0, labels=labels)
    return model


@pytest.mark.slow
def test_ddim_without_noise_is_deterministic_for_a_seed(trained):
    first = diffusion_sampling.sample_ddim(trained, 6, steps=4, seed=3)
    again = diffusion_sampling.sample_ddim(trained, 6, steps=4, seed=3)
    other = diffusion_sampling.sample_ddim(trained, 6, steps=4, seed=4)
    assert first.shape == (6, 28, 28, 1) and first.min() >= -1 and first.max() <= 1
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0.1
    # eta = 0 maps the starting noise to an image: the seed of the (unused) step noise is moot
    noise = diffusion.fixed_noise(6, seed=5)
    np.testing.assert_array_equal(diffusion_sampling.sample_ddim(trained, 6, 4, seed=1, noise=noise),
                                  diffusion_sampling.sample_ddim(trained, 6, 4, seed=2, noise=noise))
    ddpm = [diffusion_sampling.sample_ddpm(trained, 6, 4, seed=seed, noise=noise) for seed in (1, 2)]
    assert np.abs(ddpm[0] - ddpm[1]).max() > 0.1  # DDPM adds noise at every step
    np.testing.assert_array_equal(trained.generate(noise), diffusion_sampling.sample(
        trained, 6, labels=np.arange(6), noise=noise))


def test_guidance_weight_zero_is_the_conditional_model(trained):
    network = trained.sampling_network()
    randomise_output_layer(network, seed=1)  # a network whose classes differ markedly
    x = tf.random.stateless_normal((5, 28, 28, 1), seed=[3, 4])
    times, labels = tf.fill([5], 0.5), tf.constant([0, 2, 4, 6, 8])
    conditional = network([x, times, labels]).numpy()
    unconditional = network([x, times, tf.fill([5], diffusion.NULL_CLASS)]).numpy()
    for weight, expected in ((0.0, conditional), (1.0, 2 * conditional - unconditional),
                             (3.0, 4 * conditional - 3 * unconditional)):
        guided = diffusion_sampling.guided_prediction(network, x, times, labels,
                                                      tf.constant(weight)).numpy()
        np.testing.assert_allclose(guided, expected, atol=1e-5)
    assert np.abs(conditional - unconditional).max() > 1e-3


def test_one_step_of_ddpm_is_the_posterior_and_ddim_on_a_flow_is_euler():
    x_t, x0, eps = (tf.random.stateless_normal((2, 28, 28, 1), seed=[k, 0]) for k in range(3))
    t, s = tf.constant(0.7), tf.constant(0.4)
    abar_t, abar_s = diffusion.alpha_bar(t).numpy(), diffusion.alpha_bar(s).numpy()
    beta = 1 - abar_t / abar_s
    x0 = x0.numpy()
    eps_hat = (x_t.numpy() - np.sqrt(abar_t) * x0) / np.sqrt(1 - abar_t)  # consistent with x_t
    mean = (np.sqrt(abar_s) * beta / (1 - abar_t) * x0
            + np.sqrt(1 - beta) * (1 - abar_s) / (1 - abar_t) * x_t.numpy())  # Ho et al. eq. 7
    sigma = np.sqrt((1 - abar_s) / (1 - abar_t) * beta)
    step = lambda z: diffusion_sampling._step(x_t, x0, eps_hat, t, s, 1.0, z, "cosine").numpy()  # noqa: E731
    np.testing.assert_allclose(step(tf.zeros_like(x_t)), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(step(tf.ones_like(x_t)) - step(tf.zeros_like(x_t)), sigma, rtol=1e-4)
    # The straight path, eta = 0: x_s = x_t + (s - t) v with v = eps_hat - x0_hat.
    velocity = eps.numpy() - x0
    flow_x0, flow_eps = diffusion.predicted_clean_and_noise(x_t, velocity, tf.fill([2], 0.7),
                                                            "flow", "straight")
    euler = diffusion_sampling._step(x_t, flow_x0, flow_eps, t, s, 0.0, tf.zeros_like(x_t),
                                     "straight").numpy()
    np.testing.assert_allclose(euler, x_t.numpy() + (0.4 - 0.7) * velocity, atol=1e-5)


def point_mass_oracle(center: np.ndarray, target: str, velocity_sign: float = 1.0) -> keras.Model:
    """The exact denoiser of a data set that is one image ``center`` ``(28, 28, 1)``.

    ``flow``: ``v = (x_t - c) / t`` (``x_t = (1 - t) c + t eps``, ``v = eps - c``); ``eps``:
    ``(x_t - a(t) c) / b(t)`` on the cosine schedule. ``velocity_sign=-1``: a wrong oracle.
    """
    images, times = keras.Input((28, 28, 1)), keras.Input(())
    c = tf.constant(center[None], tf.float32)

    def predict(inputs):
        x_t, t = inputs
        if target == "flow":
            return velocity_sign * (x_t - c) / tf.reshape(t, [-1, 1, 1, 1])
        a, b = diffusion.noise_scales(t, "cosine")
        a, b = tf.reshape(a, [-1, 1, 1, 1]), tf.reshape(b, [-1, 1, 1, 1])
        return velocity_sign * (x_t - a * c) / b

    return keras.Model([images, times], keras.layers.Lambda(predict)([images, times]))


def oracle_model(center, target: str, velocity_sign: float = 1.0) -> diffusion.DiffusionModel:
    model = diffusion.DiffusionModel(point_mass_oracle(center, target, velocity_sign), target)
    model.compile(keras.optimizers.Adam())  # no weights to average: samples with the oracle
    return model


@pytest.mark.parametrize("target", ["flow", "eps"])
@pytest.mark.parametrize("sampler", ["euler", "ddim", "ddpm"])
def test_every_sampler_returns_the_point_mass_an_exact_network_knows(target, sampler):
    center = np.random.default_rng(0).uniform(-0.9, 0.9, (28, 28, 1)).astype(np.float32)
    model = oracle_model(center, target)
    for steps in (1, 2, 10):  # Euler on the flow is exact even in one step
        drawn = diffusion_sampling.sample(model, 3, sampler, steps, seed=steps)
        np.testing.assert_allclose(drawn, np.broadcast_to(center, drawn.shape), atol=1e-4)
    # The test can fail: a network whose velocity points the wrong way draws something else.
    wrong = diffusion_sampling.sample(oracle_model(center, target, -1.0), 3, sampler, 10)
    assert np.abs(wrong - center).max() > 0.1


def test_sample_draws_through_the_network_it_is_given():
    rng = np.random.default_rng(2)
    center, other = (rng.uniform(-0.9, 0.9, (28, 28, 1)).astype(np.float32) for _ in range(2))
    model = oracle_model(center, "flow")
    by_default = diffusion_sampling.sample(model, 2, "euler", 3, seed=1)
    through_other = diffusion_sampling.sample(model, 2, "euler", 3, seed=1,
                                              network=point_mass_oracle(other, "flow"))
    np.testing.assert_allclose(by_default, np.broadcast_to(center, by_default.shape), atol=1e-4)
    np.testing.assert_allclose(through_other, np.broadcast_to(other, through_other.shape), atol=1e-4)
    # and the model's own sampling network again afterwards: each network keeps its own loop
    np.testing.assert_array_equal(diffusion_sampling.sample(model, 2, "euler", 3, seed=1), by_default)


def test_the_oracle_is_the_flow_velocity_and_the_grid_runs_from_noise_to_image():
    center = np.full((28, 28, 1), 0.5, np.float32)
    noise = np.random.default_rng(1).normal(size=(2, 28, 28, 1)).astype(np.float32)
    times = np.array([0.3, 0.8], np.float32)
    x_t = diffusion.add_noise(np.broadcast_to(center, noise.shape), noise, times, "straight")
    velocity = point_mass_oracle(center, "flow")([x_t, tf.constant(times)]).numpy()
    np.testing.assert_allclose(velocity, noise - center, atol=1e-5)  # v = eps - x0
    # Sampling from noise 0 (t = 1) towards the image (t = 0): the one-step Euler image is c.
    model = oracle_model(center, "flow")
    drawn = diffusion_sampling.sample(model, 2, "euler", 1, noise=np.zeros_like(noise))
    np.testing.assert_allclose(drawn, 0.5, atol=1e-6)


def test_the_compiled_loop_lives_on_the_model_and_goes_with_it():
    model = oracle_model(np.zeros((28, 28, 1), np.float32), "flow")
    diffusion_sampling.sample(model, 1, steps=1)
    loops = vars(model)[diffusion_sampling.LOOPS_ATTRIBUTE]
    assert list(loops) == [id(model.network)]
    network = weakref.ref(model.network)
    del model, loops
    gc.collect()
    assert network() is None  # no module-level cache keeps the network alive


def test_the_default_sampler_follows_the_target():
    for target, expected in (("eps", "ddim"), ("flow", "euler")):
        model = diffusion.build_diffusion(target, widths=TINY)
        assert diffusion_sampling.default_sampler(model) == expected


def test_sampling_checks_its_settings(trained):
    unconditional = diffusion.build_diffusion(widths=TINY)
    for call, expected in (
            (lambda: diffusion_sampling.sample(trained, 2, steps=0), "whole number >= 1"),
            (lambda: diffusion_sampling.sample(trained, 2, guidance=float("nan")), "finite"),
            (lambda: diffusion_sampling.sample(trained, 2, sampler="heun"), "sampler must be"),
            (lambda: diffusion_sampling.sample(trained, 2, labels=[10, 1]), "from 0 to 9"),
            (lambda: diffusion_sampling.sample(unconditional, 2, labels=[1, 1]), "not conditional"),
            (lambda: diffusion_sampling.sample(unconditional, 2, guidance=1.0), "conditional"),
            (lambda: diffusion_sampling.sample(trained, 2, eta=1.5), "between 0 .DDIM. and 1"),
            (lambda: diffusion_sampling.sample(trained, 2, eta=-0.1), "between 0 .DDIM. and 1"),
            (lambda: diffusion_sampling.sample(trained, 2, eta=float("nan")), "between 0")):
        with pytest.raises(errors.NeuralArtError, match=expected):
            call()


@pytest.mark.slow
def test_euler_on_a_flow_model_draws_images(labelled):
    images, _ = labelled
    model = diffusion.build_diffusion("flow", widths=TINY)
    diffusion.train_diffusion(model, images, 1, 64, verbose=0)
    drawn = diffusion_sampling.sample_euler(model, 4, steps=3)
    assert drawn.shape == (4, 28, 28, 1) and np.all(np.isfinite(drawn)) and drawn.std() > 0.05


MIRRORED_SCRIPT = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from neuralart_helpers import data, diffusion, diffusion_sampling

    pixels, labels = data.load_fashion_mnist("test")
    images = data.scale_images(pixels[:256])
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = diffusion.build_diffusion(conditional=True, widths=(8, 16, 16), seed=0)
    def keys():  # each replica's stateless seeds (count, 2) for the coming step
        return [key.numpy() for key in strategy.experimental_local_results(
            strategy.run(lambda: model.step_keys(4)))]

    before = keys()
    assert len(before) == 2 and not np.array_equal(before[0], before[1])  # replicas differ
    losses = diffusion.train_diffusion(model, images, 2, 64, verbose=0, labels=labels[:256],
                                       manager=diffusion.checkpoint_manager(model, CHECKPOINT_DIR))
    assert strategy.num_replicas_in_sync == 2 and len(losses["loss"]) == 8
    assert np.all(np.isfinite(losses["loss"]))
    after = keys()
    assert not np.array_equal(before[0], after[0]) and not np.array_equal(before[1], after[1])
    plain = diffusion.build_diffusion(conditional=True, widths=(8, 16, 16), seed=1)
    assert diffusion.restore_latest(plain, CHECKPOINT_DIR) == 8
    for trained, restored in zip(model.network.variables + model.network_optimizer.variables,
                                 plain.network.variables + plain.network_optimizer.variables):
        np.testing.assert_array_equal(trained.numpy(), restored.numpy())
    assert diffusion_sampling.sample(plain, 4, steps=2, guidance=1.0).shape == (4, 28, 28, 1)
    print("OK")
""")


@pytest.mark.slow
def test_training_under_mirrored_strategy_on_two_cpus(tmp_path):
    run_on_two_cpus(MIRRORED_SCRIPT, tmp_path)
