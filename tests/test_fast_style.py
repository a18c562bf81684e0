"""Fast style transfer: the network's shapes, the crops, training, resume, saving, the CLI."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import backbones, fast_style, gan, images
from neuralart_helpers.cli import main
from neuralart_helpers.errors import NeuralArtError

TINY = {"filters": 4, "residual_blocks": 1}


@pytest.fixture(scope="module")
def squeezenet():
    return backbones.load_backbone("squeezenet")


@pytest.fixture(scope="module")
def painting():
    rng = np.random.default_rng(0)  # coloured stripes: a style with strong, simple statistics
    stripes = np.zeros((64, 64, 3), np.float32)
    stripes[:, ::8] = [240, 200, 20]
    return np.clip(stripes + rng.normal(0, 5, stripes.shape), 0, 255).astype(np.float32)


@pytest.fixture(scope="module")
def photos():
    return [images.content_photo(name, max_dim=64) for name in ("astronaut", "coffee", "rocket")]


@pytest.mark.parametrize("height, width", [(32, 32), (37, 53), (65, 30)])
def test_network_keeps_the_size_and_starts_as_the_identity(height, width):
    network = fast_style.transform_network(**TINY)
    photo = np.random.default_rng(1).uniform(0, 255, (2, height, width, 3)).astype(np.float32)
    painted = keras.ops.convert_to_numpy(network(photo))
    assert painted.shape == (2, height, width, 3)
    np.testing.assert_allclose(painted, np.clip(photo, 0.255, 254.745), atol=0.01)
    rng = np.random.default_rng(2)  # give the last convolution (zeros so far) some weights
    network.layers[-3].set_weights([rng.normal(0, 0.02, w.shape) for w in network.layers[-3].get_weights()])
    changed = keras.ops.convert_to_numpy(network(photo))
    assert changed.min() >= 0.0 and changed.max() <= 255.0 and np.abs(changed - photo).mean() > 1.0


def test_crops_depend_on_the_step_only(photos):
    whole = list(fast_style.photo_crops(photos, 32, 3, seed=5).take(4))
    resumed = list(fast_style.photo_crops(photos, 32, 3, seed=5, first_step=2).take(2))
    np.testing.assert_array_equal(whole[2].numpy(), resumed[0].numpy())
    np.testing.assert_array_equal(whole[3].numpy(), resumed[1].numpy())
    assert whole[0].shape == (3, 32, 32, 3)
    assert not np.array_equal(whole[0].numpy(), whole[1].numpy())
    other_seed = next(iter(fast_style.photo_crops(photos, 32, 3, seed=6)))
    assert not np.array_equal(whole[0].numpy(), other_seed.numpy())
    with pytest.raises(NeuralArtError, match="at least 80 px"):
        fast_style.photo_crops(photos, 80, 3)


def _windows(photo, size):
    """Every ``size x size`` window of ``photo`` and its mirror image, as a set of byte strings."""
    found = set()
    for top in range(photo.shape[0] - size + 1):
        for left in range(photo.shape[1] - size + 1):
            window = photo[top:top + size, left:left + size]
            found |= {window.tobytes(), window[:, ::-1].tobytes()}
    return found


def test_crops_cover_the_whole_of_photos_of_different_sizes():
    rng = np.random.default_rng(3)  # a tall and a wide photo: neither fits in the other's frame
    photos = [rng.uniform(0, 255, shape).astype(np.float32) for shape in ((24, 12, 3), (12, 30, 3))]
    crops = np.concatenate([batch.numpy() for batch in fast_style.photo_crops(photos, 8, 50).take(4)])
    windows = [_windows(photo, 8) for photo in photos]
    which = [[crop.tobytes() in found for found in windows] for crop in crops]
    assert all(sum(hits) == 1 for hits in which)  # every crop is a (flipped) window of one photo
    tall = [crop for crop, hits in zip(crops, which) if hits[0]]
    assert 40 < len(tall) < 160  # the photos are picked evenly (200 crops)
    lower_half = _windows(photos[0][12:], 8)  # beyond the 12 px both photos share
    assert any(crop.tobytes() in lower_half for crop in tall)


def test_the_loss_sees_the_painted_crops_at_a_new_offset_each_step(squeezenet, painting):
    trainer = _trainer(squeezenet, painting)
    pixels = tf.reshape(tf.range(2 * 16 * 16 * 3, dtype=tf.float32), (2, 16, 16, 3))
    offsets = set()
    for step in range(12):
        trainer.optimizer.iterations.assign(step)
        cut = trainer.jitter(pixels).numpy()
        assert cut.shape == (2, 12, 12, 3)  # 4 px less in each direction (FAST_STYLE["jitter"])
        top, left = np.argwhere(pixels.numpy()[0, :, :, 0] == cut[0, 0, 0, 0])[0]
        np.testing.assert_array_equal(cut, pixels.numpy()[:, top:top + 12, left:left + 12])
        offsets.add((top, left))
    assert len(offsets) >= 6 and all(0 <= t < 4 and 0 <= l < 4 for t, l in offsets)
    trainer.optimizer.iterations.assign(5)
    np.testing.assert_array_equal(trainer.jitter(pixels), trainer.jitter(pixels))  # no hidden state


def test_train_step_scores_the_jittered_crops(squeezenet, painting, photos):
    trainer = _trainer(squeezenet, painting)
    crops = tf.constant(np.stack([photo[:40, :40] for photo in photos[:2]]))
    trainer.optimizer.build(trainer.network.trainable_variables)
    trainer.optimizer.iterations.assign(7)
    expected = trainer.perceptual_loss(trainer.jitter(trainer.network(crops)), trainer.jitter(crops))
    unjittered = trainer.perceptual_loss(trainer.network(crops), crops)
    logged = trainer.train_step(crops)  # the loss before this step's update
    np.testing.assert_allclose(float(logged["total"]), float(expected["total"]), rtol=1e-5)
    assert abs(float(unjittered["total"]) / float(expected["total"]) - 1) > 1e-3


@pytest.mark.slow
def test_training_compiles_with_xla(squeezenet, painting, photos):
    # On a GPU Keras compiles with XLA by default ("auto"): the jitter must keep static shapes.
    trainer = _trainer(squeezenet, painting)
    trainer.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
    history = fast_style.train_fast_style(trainer, photos, 2, crop_size=36, batch_size=2, verbose=0)
    assert len(history["total"]) == 2 and np.isfinite(history["total"]).all()


def _trainer(squeezenet, painting, seed=0):
    return fast_style.make_trainer(squeezenet, painting, seed=seed, learning_rate=1e-2, **TINY)


@pytest.mark.slow
def test_training_lowers_the_loss_on_a_held_out_crop(squeezenet, painting, photos):
    trainer = _trainer(squeezenet, painting)
    held_out = images.content_photo("chelsea", max_dim=64)[None, :32, :32]

    def loss():
        return float(trainer.perceptual_loss(trainer.network(held_out), held_out)["total"])

    before = loss()
    history = fast_style.train_fast_style(trainer, photos, 40, crop_size=36, batch_size=2, verbose=0)
    assert len(history["total"]) == 40
    assert loss() < 0.8 * before  # measured: 0.72 after 40 steps (seeds 0 and 1), 36 px crops


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run(squeezenet, painting, photos, tmp_path):
    options = {"crop_size": 36, "batch_size": 2, "verbose": 0}
    whole = _trainer(squeezenet, painting)
    fast_style.train_fast_style(whole, photos, 6, **options)
    first = _trainer(squeezenet, painting)
    fast_style.train_fast_style(first, photos, 4, fast_style.checkpoint_manager(first, tmp_path), **options)
    resumed = _trainer(squeezenet, painting, seed=9)  # other initial weights: all restored
    assert fast_style.restore_latest(resumed, tmp_path) == 4
    fast_style.train_fast_style(resumed, photos, 6, **options)
    for a, b in zip(whole.network.weights, resumed.network.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_time_limit_stops_training(squeezenet, painting, photos):
    steps = iter(range(1000))
    timer = gan.TimeLimit(3, clock=lambda: float(next(steps)))  # one "second" per step
    trainer = _trainer(squeezenet, painting)
    history = fast_style.train_fast_style(trainer, photos, None, callbacks=[timer], crop_size=36,
                                          batch_size=2, verbose=0)
    assert timer.stopped and len(history["total"]) == 3
    with pytest.raises(NeuralArtError, match="TimeLimit"):
        fast_style.train_fast_style(trainer, photos, None, crop_size=36, batch_size=2)
    with pytest.raises(NeuralArtError, match="leave 28 px after the 4 px jitter"):
        fast_style.train_fast_style(trainer, photos, 5, crop_size=32, batch_size=2)


def test_saved_network_reloads_to_identical_outputs(tmp_path):
    network = fast_style.transform_network(**TINY, seed=3)
    rng = np.random.default_rng(4)  # the last convolution starts at zero: make every layer count
    network.layers[-3].set_weights([rng.normal(0, 0.02, w.shape) for w in network.layers[-3].get_weights()])
    path = fast_style.save_network(network, tmp_path / "net.keras")
    photo = images.content_photo("chelsea", max_dim=41)
    painted = fast_style.stylize(network, photo)
    assert np.abs(painted - np.clip(photo, 0.255, 254.745)).mean() > 1.0  # not the identity
    np.testing.assert_array_equal(painted, fast_style.stylize(fast_style.load_network(path), photo))
    assert [p.name for p in tmp_path.iterdir()] == ["net.keras"]  # no temporary file left


def test_stylize_compiled_equals_the_eager_pass_at_any_size_and_sees_new_weights():
    network = fast_style.transform_network(**TINY, seed=5)
    last = network.layers[-3]
    rng = np.random.default_rng(6)
    for height, width in ((33, 47), (40, 40)):  # one compiled function for every size
        photo = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
        painted = fast_style.stylize(network, photo)
        np.testing.assert_allclose(painted, np.asarray(network(photo[None], training=False))[0],
                                   atol=1e-3)
    assert fast_style._COMPILED[network].experimental_get_tracing_count() == 1
    before = fast_style.stylize(network, photo)
    last.set_weights([rng.normal(0, 0.05, w.shape) for w in last.get_weights()])  # after tracing
    after = fast_style.stylize(network, photo)
    assert np.abs(after - before).mean() > 1.0
    np.testing.assert_allclose(after, np.asarray(network(photo[None], training=False))[0], atol=1e-3)


def test_load_network_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(NeuralArtError, match="no such model file"):
        fast_style.load_network(tmp_path / "missing.keras")
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(NeuralArtError, match="not a Keras model file"):
        fast_style.load_network(tmp_path / "junk.keras")
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="classifier")
    other.save(tmp_path / "other.keras")
    with pytest.raises(NeuralArtError, match="not a style network"):
        fast_style.load_network(tmp_path / "other.keras")


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURALART_DEBUG", "1")  # in-process: leave pytest's stderr capture alone
    photo = tmp_path / "photo.png"
    images.save_image(photo, images.content_photo("chelsea", max_dim=64))
    assert main(["style", "--model", str(tmp_path / "none.keras"), str(photo), str(tmp_path / "o.png")]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["style-train", str(photo), str(tmp_path / "net.h5")]) == 2
    assert "ending in .keras" in capsys.readouterr().err
    (tmp_path / "old.keras").write_bytes(b"someone's model")
    assert main(["style-train", str(photo), str(tmp_path / "old.keras")]) == 2
    assert "is not replaced" in capsys.readouterr().err
    assert (tmp_path / "old.keras").read_bytes() == b"someone's model"
    assert main(["style-train", str(photo), str(tmp_path / "net.keras"), "--resume"]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.slow
def test_cli_trains_resumes_and_paints(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURALART_DEBUG", "1")
    monkeypatch.setitem(fast_style.FAST_STYLE, "filters", 4)  # a tiny, fast network
    monkeypatch.setitem(fast_style.FAST_STYLE, "residual_blocks", 1)
    monkeypatch.setitem(fast_style.FAST_STYLE, "crop_size", 36)
    monkeypatch.setitem(fast_style.FAST_STYLE, "batch_size", 1)
    monkeypatch.setattr(fast_style, "training_photos", lambda: [images.content_photo("coffee", max_dim=56)])
    painting, photo, model = tmp_path / "style.png", tmp_path / "photo.png", tmp_path / "net.keras"
    images.save_image(painting, np.full((40, 40, 3), [200, 60, 30], np.uint8))
    images.save_image(photo, images.content_photo("chelsea", max_dim=45))
    assert main(["style-train", str(painting), str(model), "--steps", "2", "--quiet"]) == 0
    assert "after 2 steps" in capsys.readouterr().out
    assert main(["style-train", str(painting), str(model), "--steps", "3", "--quiet"]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert main(["style-train", str(painting), str(model), "--steps", "3", "--quiet", "--resume",
                 "--seed", "1"]) == 2
    assert "seed 0" in capsys.readouterr().err
    other = tmp_path / "other.png"
    images.save_image(other, np.full((40, 40, 3), [20, 60, 230], np.uint8))
    assert main(["style-train", str(other), str(model), "--steps", "3", "--quiet", "--resume"]) == 2
    assert "another style image" in capsys.readouterr().err
    assert main(["style-train", str(painting), str(model), "--steps", "2", "--quiet", "--resume"]) == 2
    assert "has done 2 already" in capsys.readouterr().err
    assert main(["style-train", str(painting), str(model), "--steps", "3", "--quiet", "--resume"]) == 0
    assert "at step 2" in capsys.readouterr().out
    assert main(["style-train", str(painting), str(model), "--time-limit", "0.001", "--quiet",
                 "--resume"]) == 0  # no --steps: one step, then the limit
    assert "after 4 steps (time limit)" in capsys.readouterr().out
    out = tmp_path / "painted.png"
    assert main(["style", "--model", str(model), str(photo), str(out)]) == 0
    painted = images.load_image(out)
    assert painted.shape == images.load_image(photo).shape
    expected = fast_style.stylize(fast_style.load_network(model), images.load_image(photo))
    assert np.abs(painted - np.round(expected)).max() <= 1.0
    assert main(["style", "--model", str(model), str(photo), str(painting), str(out)]) == 2
    assert "CONTENT and OUT only" in capsys.readouterr().err
    assert main(["style", "--model", str(model), "--steps", "9", str(photo), str(out)]) == 2
    assert "--steps would be ignored" in capsys.readouterr().err


@pytest.mark.slow
def test_restore_refuses_damaged_and_foreign_checkpoints(squeezenet, painting, photos, tmp_path):
    from neuralart_helpers.errors import CheckpointError

    trainer = _trainer(squeezenet, painting)
    fast_style.train_fast_style(trainer, photos, 1, fast_style.checkpoint_manager(trainer, tmp_path),
                                crop_size=36, batch_size=1, verbose=0)
    wider = fast_style.make_trainer(squeezenet, painting, filters=6, residual_blocks=1)
    with pytest.raises(CheckpointError):
        fast_style.restore_latest(wider, tmp_path)
    data_file = next(tmp_path.glob("ckpt-1.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])  # cut short
    with pytest.raises(CheckpointError):
        fast_style.restore_latest(_trainer(squeezenet, painting), tmp_path)
    assert fast_style.restore_latest(_trainer(squeezenet, painting), tmp_path / "empty") == 0
