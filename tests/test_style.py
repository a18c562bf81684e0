"""Style transfer: Gram matrices, the losses, the three optimisers, colour, blends, errors, CLI."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import backbones, color, images, optimizers, presets, style
from neuralart_helpers.cli import main
from neuralart_helpers.cli import style as style_cli
from neuralart_helpers import errors


@pytest.fixture(scope="module")
def squeezenet():
    return backbones.load_backbone("squeezenet")


@pytest.fixture(scope="module")
def photo():
    return images.content_photo("chelsea", max_dim=80)  # 53x80


@pytest.fixture(scope="module")
def painting():
    return images.painting("starry_night", max_dim=120)


@pytest.fixture(scope="module")
def transfer(squeezenet, photo, painting):
    return style.StyleTransfer(squeezenet, photo, painting)


# ---------------------------------------------------------------- losses


def test_gram_matrix_matches_numpy():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 5, 7, 4)).astype(np.float32)
    flat = features.reshape(2, 35, 4).astype(np.float64)
    raw = np.einsum("bpc,bpd->bcd", flat, flat)
    np.testing.assert_allclose(style.gram_matrix(features, "none").numpy(), raw, rtol=1e-5)
    np.testing.assert_allclose(style.gram_matrix(features).numpy(), raw / 35, rtol=1e-5)
    single = style.gram_matrix(features[1]).numpy()  # (h, w, C) works too
    assert single.shape == (4, 4)
    np.testing.assert_allclose(single, flat[1].T @ flat[1] / 35, rtol=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        style.gram_matrix(features, "sum")


def test_gatys_normalisation_is_the_mean_divided_by_four():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(6, 5, 3)).astype(np.float32)
    target = rng.normal(size=(6, 5, 3)).astype(np.float32)
    mean_form = style.style_layer_loss(style.gram_matrix(features), style.gram_matrix(target))
    gatys = style.gatys_style_layer_loss(features, target)
    raw_difference = (np.einsum("ijc,ijd->cd", features, features)
                      - np.einsum("ijc,ijd->cd", target, target)).astype(np.float64)
    assert float(gatys) == pytest.approx(np.sum(raw_difference**2) / (4 * 9 * 30**2), rel=1e-5)
    assert float(gatys) == pytest.approx(float(mean_form) / 4, rel=1e-5)


def test_style_loss_zero_for_identical_and_weighted_sum_otherwise():
    rng = np.random.default_rng(2)
    features = {"a": tf.constant(rng.normal(size=(1, 4, 4, 3)), tf.float32),
                "b": tf.constant(rng.normal(size=(1, 2, 3, 5)), tf.float32)}
    grams = {name: style.gram_matrix(value)[0] for name, value in features.items()}
    weights = {"a": 2.0, "b": 0.5}
    assert float(style.style_loss(features, grams, weights)) == pytest.approx(0.0, abs=1e-10)
    shifted = {name: value + 1.0 for name, value in features.items()}
    per_layer = {name: float(style.style_layer_loss(style.gram_matrix(shifted[name])[0],
                                                    grams[name])) for name in grams}
    assert all(value > 0 for value in per_layer.values())
    assert float(style.style_loss(shifted, grams, weights)) == pytest.approx(
        2.0 * per_layer["a"] + 0.5 * per_layer["b"], rel=1e-5)
    only_b = float(style.style_loss(shifted, grams, {"b": 1.0}))
    assert only_b == pytest.approx(per_layer["b"], rel=1e-5)


def test_content_loss_exact():
    features = tf.zeros((1, 2, 2, 3))
    target = tf.reshape(tf.range(12.0), (1, 2, 2, 3))
    # mean of 0^2 + 1^2 + ... + 11^2 = 506 / 12
    assert float(style.content_loss(features, target)) == pytest.approx(506 / 12)
    assert float(style.content_loss(target, target)) == 0.0


def test_total_variation_loss_exact_on_crafted_images():
    # A horizontal ramp: every right-neighbour differs by 2, every lower neighbour by 0.
    ramp = tf.tile(tf.reshape(2.0 * tf.range(4.0), (1, 4, 1)), (3, 1, 3))  # (3, 4, 3)
    assert float(style.total_variation_loss(ramp, "l1")) == pytest.approx(2.0)
    assert float(style.total_variation_loss(ramp, "l2")) == pytest.approx(4.0)
    assert float(style.total_variation_loss(ramp, "power")) == pytest.approx(4.0**1.25)
    # A checkerboard: every neighbour differs by 10 in both directions.
    board = 10.0 * ((np.arange(4)[:, None] + np.arange(5)[None, :]) % 2)
    board = np.repeat(board[:, :, None], 3, axis=2).astype(np.float32)
    assert float(style.total_variation_loss(board, "l1")) == pytest.approx(20.0)
    assert float(style.total_variation_loss(board, "l2")) == pytest.approx(200.0)
    assert float(style.total_variation_loss(board, "power", power=1.0)) == pytest.approx(200.0)
    assert float(style.total_variation_loss(board[None], "l2")) == pytest.approx(200.0)
    flat = np.full((5, 5, 3), 7.0, np.float32)
    assert all(float(style.total_variation_loss(flat, form)) == 0.0 for form in style.TV_FORMS)
    with pytest.raises(ValueError, match="l1, l2, power"):
        style.total_variation_loss(flat, "l3")


def test_total_loss_is_the_weighted_sum():
    assert float(style.total_loss(2.0, 3.0, 5.0, 10.0, 1.0, 0.5)) == pytest.approx(25.5)


def test_adam_update_matches_keras():
    rng = np.random.default_rng(3)
    start = rng.normal(size=(4, 3)).astype(np.float32)
    gradients = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3)]
    variable = keras.Variable(start)
    optimizer = keras.optimizers.Adam(0.1, beta_1=0.8, beta_2=0.95, epsilon=1e-3)
    image, first, second = tf.constant(start), tf.zeros((4, 3)), tf.zeros((4, 3))
    for step, gradient in enumerate(gradients, start=1):
        optimizer.apply([tf.constant(gradient)], [variable])
        image, first, second = optimizers.adam_update(image, gradient, first, second, float(step),
                                                 0.1, 0.8, 0.95, 1e-3)
    np.testing.assert_allclose(image.numpy(), variable.numpy(), rtol=1e-5, atol=1e-6)


def test_normalized_gradient_and_decay():
    gradient = tf.constant([[1.0, -3.0]])  # mean |g| = 2
    updated = optimizers.normalized_gradient_update(tf.zeros((1, 2)), gradient, 4.0)
    np.testing.assert_allclose(updated.numpy(), [[-2.0, 6.0]], rtol=1e-6)
    assert optimizers.decayed_learning_rate(2.0, 0, 11) == 2.0
    assert optimizers.decayed_learning_rate(2.0, 10, 11) == pytest.approx(0.2)
    assert optimizers.decayed_learning_rate(2.0, 5, 11) == pytest.approx(2.0 * 0.1**0.5)


def test_blended_grams_give_the_same_gradient_as_blended_losses():
    rng = np.random.default_rng(4)
    grams = [{"a": tf.constant(rng.normal(size=(3, 3)), tf.float32)} for _ in range(2)]
    blended = style.blend_grams(grams, [3.0, 1.0])  # normalised to 0.75, 0.25
    np.testing.assert_allclose(blended["a"].numpy(), 0.75 * grams[0]["a"] + 0.25 * grams[1]["a"],
                               rtol=1e-6)
    gram = tf.constant(rng.normal(size=(3, 3)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(gram)
        of_blend = style.style_layer_loss(gram, blended["a"])
        blend_of = (0.75 * style.style_layer_loss(gram, grams[0]["a"])
                    + 0.25 * style.style_layer_loss(gram, grams[1]["a"]))
    np.testing.assert_allclose(tape.gradient(of_blend, gram).numpy(),
                               tape.gradient(blend_of, gram).numpy(), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- the runner


def test_losses_add_up_with_their_weights(transfer, photo, painting):
    parts = {name: float(value) for name, value in transfer.losses(tf.constant(photo)).items()}
    assert parts["content"] == 0.0  # the photo is its own content target
    assert parts["style"] > 0 and parts["tv"] > 0
    assert parts["total"] == pytest.approx(style.STYLE_WEIGHT * parts["style"]
                                           + style.TV_WEIGHT * parts["tv"], rel=1e-5)
    layer = next(iter(transfer.layer_weights))
    expected = style.gram_matrix(transfer.features(transfer.style_images[0])[layer])[0]
    np.testing.assert_allclose(transfer.style_grams[layer], expected, rtol=1e-5)


def test_two_styles_blend_their_gram_matrices(squeezenet, photo, painting):
    flipped = painting[:, ::-1] * 0.5
    transfer = style.StyleTransfer(squeezenet, photo, [painting, flipped], style_blend=[1, 2])
    for layer in transfer.layer_weights:
        grams = [style.gram_matrix(transfer.features(image)[layer])[0]
                 for image in transfer.style_images]
        np.testing.assert_allclose(transfer.style_grams[layer], grams[0] / 3 + 2 * grams[1] / 3,
                                   rtol=1e-4, atol=1e-3)


def test_targets_are_computed_once_and_the_step_compiled_once(transfer, photo):
    assert transfer.content_target.shape[0] == 1
    assert set(transfer.style_grams) == set(style.LAYER_WEIGHTS["squeezenet"])
    for learning_rate in (2.0, 3.0):  # new settings are tensors: no new trace
        transfer.run("content", "adam", 2, learning_rate, verbose=False)
        transfer.run("content", "gd", 2, learning_rate, verbose=False)
        transfer.run("content", "lbfgs", 2, verbose=False)
    assert transfer.loss_and_gradient.experimental_get_tracing_count() == 1
    for optimizer in ("adam", "gd"):
        assert transfer.compiled_steps[optimizer].experimental_get_tracing_count() == 1


@pytest.mark.parametrize("optimizer", style.OPTIMIZERS)
def test_each_optimizer_lowers_the_loss(transfer, photo, optimizer):
    result = transfer.run("content", optimizer, 12, verbose=False)
    assert result.image.shape == photo.shape
    assert result.image.dtype == np.float32
    assert 0 <= result.image.min() and result.image.max() <= 255
    final = float(transfer.losses(tf.constant(result.image))["total"])
    assert final < 0.5 * result.losses["total"][0]
    assert len(result.losses["total"]) <= 12


def test_lbfgs_beats_adam_on_the_same_budget(transfer):
    budget = 40
    lbfgs = transfer.run("content", "lbfgs", budget, verbose=False)
    adam = transfer.run("content", "adam", budget, verbose=False)
    assert len(lbfgs.losses["total"]) == budget == len(adam.losses["total"])
    lbfgs_loss = float(transfer.losses(tf.constant(lbfgs.image))["total"])
    adam_loss = float(transfer.losses(tf.constant(adam.image))["total"])
    assert lbfgs_loss < adam_loss


def test_our_lbfgs_keeps_up_with_scipys(transfer):
    # The same method: on the same budget the losses agree within a few per cent.
    ours = transfer.run("content", "lbfgs", 40, verbose=False)
    scipy = transfer.run("content", "scipy-lbfgs", 40, verbose=False)
    start = ours.losses["total"][0]
    assert min(ours.losses["total"]) < 0.5 * start
    assert min(ours.losses["total"]) == pytest.approx(min(scipy.losses["total"]), rel=0.1)


def test_style_of_any_size_and_mode_gives_the_content_shape(squeezenet, photo):
    grey_style = images.painting("the_scream", 150).mean(axis=2)  # (H, W), larger than the photo
    small = images.painting("shipwreck", 70)  # smaller than the photo
    rgba_style = np.concatenate([small, np.full(small.shape[:2] + (1,), 255.0)], axis=2)
    transfer = style.StyleTransfer(squeezenet, photo, [grey_style, rgba_style], style_blend=[1, 2])
    assert transfer.style_images[0].shape[2] == 3 and max(transfer.style_images[0].shape[:2]) == 80
    result = transfer.run("noise", "gd", 3, verbose=False)
    assert result.image.shape == photo.shape


def test_a_single_grey_style_and_free_lbfgs(squeezenet, photo):
    grey = images.painting("woman_with_hat", 90).mean(axis=2)  # one (H, W) array, not rows
    transfer = style.StyleTransfer(squeezenet, photo, grey)
    assert len(transfer.style_images) == 1 and transfer.style_images[0].shape[2] == 3
    start = float(transfer.losses(tf.constant(photo))["total"])
    for optimizer in ("lbfgs", "scipy-lbfgs"):
        result = transfer.run("content", optimizer, 8, verbose=False, bounded=False)
        assert 0 <= result.image.min() and result.image.max() <= 255
        assert float(transfer.losses(tf.constant(result.image))["total"]) < start


def test_seeded_runs_reproduce(transfer):
    first = transfer.run("noise", "adam", 4, seed=7, verbose=False)
    again = transfer.run("noise", "adam", 4, seed=7, verbose=False)
    other = transfer.run("noise", "adam", 4, seed=8, verbose=False)
    np.testing.assert_allclose(first.image, again.image, atol=1e-4)
    assert first.losses["total"] == pytest.approx(again.losses["total"], rel=1e-5)
    assert np.abs(first.image - other.image).mean() > 10


def test_frames_for_a_gif(transfer):
    result = transfer.run("content", "adam", 6, frame_every=2, verbose=False)
    assert len(result.frames) == 4  # evaluations 1, 3, 5 and the final image
    np.testing.assert_array_equal(result.frames[-1], result.image)


def test_non_finite_loss_stops_at_once_and_keeps_the_last_good_image(squeezenet, photo, painting):
    # From the photo the content loss is 0, so the first loss is finite; after one
    # step it is positive and 1e38 times it overflows to inf.
    transfer = style.StyleTransfer(squeezenet, photo, painting, content_weight=1e38)
    for optimizer in ("adam", "gd"):
        with pytest.warns(errors.NonFiniteLossWarning, match="at step 2"):
            result = transfer.run("content", optimizer, 10, verbose=False)
        assert len(result.losses["total"]) == 1
        np.testing.assert_array_equal(result.image, photo)
        assert "finite" in result.stopped
    explode = style.StyleTransfer(squeezenet, photo, painting, style_weight=1e35)
    with pytest.warns(errors.NonFiniteLossWarning, match="starting image"):
        result = explode.run("content", "lbfgs", 10, verbose=False)
    np.testing.assert_array_equal(result.image, photo)
    with pytest.warns(errors.NonFiniteLossWarning, match="starting image"):
        result = explode.run("content", "scipy-lbfgs", 10, verbose=False)
    np.testing.assert_array_equal(result.image, photo)


def test_bad_arguments_say_what_to_do(squeezenet, photo, painting, transfer):
    with pytest.raises(errors.NeuralArtError, match="style_weight must be a finite number >= 0"):
        style.StyleTransfer(squeezenet, photo, painting, style_weight=-1)
    with pytest.raises(errors.NeuralArtError, match="weight of fire2_concat"):
        style.StyleTransfer(squeezenet, photo, painting, layer_weights={"fire2_concat": -0.5})
    with pytest.raises(errors.NeuralArtError, match="one weight per style image"):
        style.StyleTransfer(squeezenet, photo, [painting, painting], style_blend=[1.0])
    with pytest.raises(errors.NeuralArtError, match="all zero"):
        style.StyleTransfer(squeezenet, photo, painting, style_blend=[0.0])
    with pytest.raises(errors.LayerNameError, match="Valid layer names"):
        style.StyleTransfer(squeezenet, photo, painting, content_layer="conv9")
    with pytest.raises(errors.ImageTooSmallError):
        style.StyleTransfer(squeezenet, photo[:20], painting)
    with pytest.raises(errors.NeuralArtError, match="RGB image"):
        style.StyleTransfer(squeezenet, photo[..., :2], painting)
    with pytest.raises(errors.NeuralArtError, match="adam, gd, lbfgs"):
        transfer.run("content", "sgd", 3)
    with pytest.raises(errors.NeuralArtError, match="resize"):
        transfer.run(np.zeros((10, 10, 3), np.float32), "adam", 3)
    with pytest.raises(errors.NeuralArtError, match="positive"):
        transfer.run("content", "adam", 3, learning_rate=-1.0)


@pytest.mark.slow
def test_vgg19_path_runs_with_random_weights(photo, painting):
    vgg = backbones.load_backbone("vgg19", weights=None)
    transfer = style.StyleTransfer(vgg, photo, painting, tv_form="power")
    assert list(transfer.layer_weights) == list(vgg.style_layers)
    assert transfer.content_layer == "block5_conv2"
    result = transfer.run("content", "adam", 3, verbose=False)
    assert result.image.shape == photo.shape
    assert all(np.isfinite(result.losses["total"]))


# ---------------------------------------------------------------- colour


def test_yiq_round_trip_and_luminance():
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 255, (4, 5, 3)).astype(np.float32)
    # tf.image's two matrices are rounded to 4-8 digits: a round trip is exact to ~0.01 of 255
    np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(image)), image, atol=0.02)
    grey = np.full((2, 2, 3), 100.0, np.float32)
    np.testing.assert_allclose(color.rgb_to_yiq(grey)[..., 0], 100.0, rtol=1e-5)
    # tf.image's Q row sums to -3.7e-5, not 0: grey 100 has |Q| < 0.004 of 255
    np.testing.assert_allclose(color.rgb_to_yiq(grey)[..., 1:], 0.0, atol=0.005)


def test_colour_preservation_keeps_the_content_chroma(photo, painting):
    stylised = images.resize(painting, *photo.shape[:2])
    kept = color.combine_luminance_chroma(stylised, photo)
    assert kept.shape == photo.shape
    chroma = lambda image: color.rgb_to_yiq(image)[..., 1:]
    chroma_error = np.abs(chroma(kept) - chroma(photo)).max(-1)
    luma_error = np.abs(color.rgb_to_yiq(kept)[..., 0] - color.rgb_to_yiq(stylised)[..., 0])
    # Exact wherever the new colour fits in [0, 255] (a dark painting pushes some below 0).
    in_gamut = ((kept > 0) & (kept < 255)).all(axis=-1)
    assert in_gamut.mean() > 0.8
    assert chroma_error[in_gamut].max() < 0.01 and luma_error[in_gamut].max() < 0.01
    assert np.median(chroma_error) < 0.01
    grey_content, grey_style = color.luminance_only_inputs(photo, painting)
    assert np.allclose(grey_content[..., 0], grey_content[..., 2])
    assert grey_style[..., 0].mean() == pytest.approx(grey_content[..., 0].mean(), abs=2.0)


def test_histogram_matching_gives_the_style_the_photo_palette(photo, painting):
    matched = color.match_histograms(painting, photo)
    assert matched.shape == painting.shape
    for channel in range(3):  # the whole distribution moves, not only the mean
        np.testing.assert_allclose(np.percentile(matched[..., channel], [10, 50, 90]),
                                   np.percentile(photo[..., channel], [10, 50, 90]), atol=3.0)


# ---------------------------------------------------------------- command line


def test_cli_defaults_are_the_librarys(tmp_path, monkeypatch, photo, painting, capsys):
    # The CLI re-types no default: change the library's and the command follows.
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    content_path = images.save_image(tmp_path / "photo.png", photo)
    style_path = images.save_image(tmp_path / "style.png", painting)
    monkeypatch.setitem(presets.STYLE, "num_steps", 3)
    monkeypatch.setitem(presets.STYLE, "max_dim", 64)
    assert main(["style", str(content_path), str(style_path), str(tmp_path / "out.png"),
                 "--quiet"]) == 0
    assert "(64x42, 3 evaluations" in capsys.readouterr().out
    monkeypatch.setitem(presets.STYLE, "optimizer", "nonsense")
    assert main(["style", str(content_path), str(style_path), str(tmp_path / "out.png"),
                 "--quiet"]) == 2
    assert "Unknown optimizer 'nonsense'" in capsys.readouterr().err
    assert style_cli.DEFAULTS is presets.STYLE


def test_cli_writes_the_styled_photo(tmp_path, monkeypatch, photo, painting, capsys):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    content_path = images.save_image(tmp_path / "photo.png", photo)
    style_path = images.save_image(tmp_path / "style.jpg", painting)
    second_path = images.save_image(tmp_path / "style2.png", painting[::-1])
    output = tmp_path / "out" / "styled.png"
    status = main(["style", str(content_path), str(style_path), str(second_path), str(output),
                   "--style-blend", "0.7,0.3", "--steps", "4", "--optimizer", "adam",
                   "--preserve-color", "--quiet", "--max-dim", "64"])
    assert status == 0
    written, content = images.load_image(output), images.load_image(content_path, max_dim=64)
    assert written.shape == content.shape == (42, 64, 3)
    assert "wrote" in capsys.readouterr().out
    # --preserve-color: the photo's chroma (I, Q) survives, up to 8-bit rounding and clipping.
    chroma_change = np.abs(color.rgb_to_yiq(written)[..., 1:] - color.rgb_to_yiq(content)[..., 1:])
    assert np.median(chroma_change) < 1.0
    assert np.abs(written - content).mean() > 1.0  # while the picture itself did change
    assert not list(output.parent.glob(".styled*"))  # no temporary file left behind


def test_cli_refuses_bad_input(tmp_path, monkeypatch, photo, painting, capsys):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    content_path = images.save_image(tmp_path / "photo.png", photo)
    style_path = images.save_image(tmp_path / "style.png", painting)
    before = content_path.read_bytes()
    assert main(["style", str(content_path), str(style_path), str(content_path), "--quiet"]) == 2
    assert "same file as the input" in capsys.readouterr().err
    assert content_path.read_bytes() == before
    assert main(["style", str(content_path), str(tmp_path / "out.png")]) == 2
    assert "at least one STYLE" in capsys.readouterr().err
    assert main(["style", str(content_path), str(style_path), str(tmp_path / "o.png"),
                 "--tv-weight", "-1"]) == 2
    assert "--tv-weight must be 0 or more" in capsys.readouterr().err
    assert main(["style", str(content_path), str(style_path), str(tmp_path / "o.png"),
                 "--style-blend", "1,2"]) == 2
    assert "one weight per style" in capsys.readouterr().err
    assert main(["style", str(content_path), str(style_path), str(tmp_path / "o.gif")]) == 2
    assert ".png, .jpg or .jpeg" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_default_optimizer_is_the_course_lbfgs(tmp_path, monkeypatch, photo, painting):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    content_path = images.save_image(tmp_path / "photo.png", photo)
    style_path = images.save_image(tmp_path / "style.png", painting)
    output = tmp_path / "styled.png"
    assert main(["style", str(content_path), str(style_path), str(output), "--steps", "6",
                 "--quiet", "--max-dim", "64"]) == 0
    written, original = images.load_image(output), images.load_image(content_path, max_dim=64)
    assert written.shape == original.shape
    assert np.abs(written - original).mean() > 1.0  # six evaluations changed the picture


def test_snapshots_hand_over_the_best_image_so_far(transfer, photo):
    seen = []
    result = transfer.run("content", "lbfgs", 7, verbose=False, snapshot_every=3,
                          on_snapshot=lambda image, count: seen.append((count, image)))
    assert [count for count, _ in seen] == [3, 6]
    for count, image in seen:
        assert image.shape == photo.shape and 0 <= image.min() and image.max() <= 255
        best = min(result.losses["total"][:count])
        assert float(transfer.losses(tf.constant(image))["total"]) == pytest.approx(best, rel=1e-4)
    with pytest.raises(errors.NeuralArtError, match="snapshot_every must be at least 1"):
        transfer.run("content", "adam", 2, verbose=False, snapshot_every=0,
                     on_snapshot=lambda image, count: None)


def _style_files(tmp_path, photo, painting):
    return (images.save_image(tmp_path / "photo.png", photo),
            images.save_image(tmp_path / "style.png", painting), tmp_path / "styled.png")


@pytest.mark.slow
def test_cli_interrupted_run_keeps_its_progress_and_resumes(tmp_path, monkeypatch, squeezenet,
                                                            photo, painting, capsys):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    content_path, style_path, output = _style_files(tmp_path, photo, painting)
    command = ["style", str(content_path), str(style_path), str(output), "--quiet",
               "--max-dim", "64", "--save-every", "2"]
    record = style._Recorder.record

    def record_then_interrupt(self, parts, image):  # Ctrl-C during the fifth evaluation
        record(self, parts, image)
        if self.count == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(style._Recorder, "record", record_then_interrupt)
    assert main(command + ["--steps", "20"]) == 130
    assert "best image after 4 evaluations; run the same command with --resume" in \
        capsys.readouterr().err
    monkeypatch.setattr(style._Recorder, "record", record)

    content = images.load_image(content_path, max_dim=64)
    problem = style.StyleTransfer(squeezenet, content,
                                  images.load_image(style_path))
    loss_of = lambda path: float(problem.losses(tf.constant(images.load_image(path)))["total"])
    start_loss, saved_loss = float(problem.losses(tf.constant(content))["total"]), loss_of(output)
    assert saved_loss < 0.8 * start_loss  # four evaluations of progress were kept
    first_losses = []

    def record_first(self, parts, image):
        if self.count == 0:
            first_losses.append(float(parts["total"]))
        record(self, parts, image)

    monkeypatch.setattr(style._Recorder, "record", record_first)
    assert main(command + ["--steps", "6", "--resume"]) == 0
    assert first_losses == [pytest.approx(saved_loss, rel=1e-5)]  # it went on from OUT
    assert loss_of(output) < saved_loss


def test_cli_resume_refuses_what_it_cannot_continue(tmp_path, monkeypatch, photo, painting,
                                                    capsys):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    content_path, style_path, output = _style_files(tmp_path, photo, painting)
    command = ["style", str(content_path), str(style_path), str(output), "--quiet", "--steps", "2"]
    assert main(command + ["--resume", "--max-dim", "64"]) == 2
    assert "does not exist yet; run once without --resume" in capsys.readouterr().err
    assert main(command + ["--max-dim", "64"]) == 0
    assert main(command + ["--resume", "--max-dim", "48"]) == 2
    assert "is 64x42 but the content at --max-dim 48 is 48x32" in capsys.readouterr().err


def test_linear_color_transfer_matches_mean_and_covariance():
    # Gatys et al. 2016: x -> A x + b with the content's RGB mean and covariance.
    rng = np.random.default_rng(11)
    mixing = np.array([[30.0, 5.0, 0.0], [10.0, 20.0, 4.0], [0.0, 8.0, 15.0]])
    style_image = (rng.normal(size=(40, 30, 3)) @ mixing.T + [120, 100, 90]).clip(0, 255)
    opposite = np.array([[15.0, -12.0, 0.0], [-12.0, 15.0, 3.0], [0.0, 3.0, 10.0]])  # R, G anti-correlated
    content = (rng.normal(size=(20, 50, 3)) @ opposite.T + [90, 140, 110]).clip(0, 255)
    recoloured = color.linear_color_transfer(style_image, content)
    assert recoloured.shape == style_image.shape
    pixels, target = recoloured.reshape(-1, 3), content.reshape(-1, 3)
    np.testing.assert_allclose(pixels.mean(axis=0), target.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(np.cov(pixels, rowvar=False), np.cov(target, rowvar=False),
                               rtol=1e-3, atol=0.05)
    # per-channel matching (the variant) leaves the channels' correlations as the style's
    matched = color.match_histograms(style_image.astype(np.float32), content.astype(np.float32))
    correlation = lambda image: np.corrcoef(image.reshape(-1, 3), rowvar=False)[0, 1]
    assert abs(correlation(recoloured) - correlation(content)) < 0.01
    assert abs(correlation(matched) - correlation(content)) > 0.1


def test_evaluations_to_counts_to_the_first_evaluation_at_or_below_the_target():
    run = style.StyleResult(np.zeros((2, 2, 3), np.float32), {"total": [5.0, 3.0, 4.0, 2.0]})
    assert run.evaluations_to(10.0) == 1  # the start already
    assert run.evaluations_to(3.0) == 2   # reached exactly, counted from 1
    assert run.evaluations_to(2.5) == 4   # the first time, not a later dip
    assert run.evaluations_to(1.0) is None
