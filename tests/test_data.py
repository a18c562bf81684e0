"""Fashion-MNIST loading (offline first) and the GAN's tf.data pipeline."""

import dataclasses

import keras
import numpy as np
import pytest

from neuralart_helpers import assets, data
from neuralart_helpers import errors


@pytest.fixture(scope="module")
def test_split():
    return data.load_fashion_mnist("test")


def test_load_shapes_dtypes_and_balanced_labels(test_split):
    images, labels = test_split
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 1000))
    assert len(data.CLASS_NAMES) == 10 and data.CLASS_NAMES[9] == "Ankle boot"
    # Class 1 (trousers) is tall and narrow: its middle column is brighter than its edges.
    trousers = images[labels == 1].mean(axis=0)
    assert trousers[:, 12:16].mean() > 2 * trousers[:, :4].mean()


def test_bad_split_is_a_clear_error():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_fashion_mnist("validation")


def test_missing_data_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_cache"))
    for name in ("fashion_test_images", "fashion_test_labels"):
        monkeypatch.setitem(assets.REGISTRY, name, dataclasses.replace(
            assets.REGISTRY[name], system_dirs=(str(tmp_path / "no_debian_package"),)))

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no internet")  # what get_file raises offline

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(errors.AssetError) as error:
        data.load_fashion_mnist("test")
    message = str(error.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "no internet" in message
    assert str(tmp_path / "empty_cache") in message and "dataset-fashion-mnist" in message


def test_scale_and_unscale_are_inverse():
    pixels = np.array([[[0, 127.5], [255, 51]]], dtype=np.float32)
    scaled = data.scale_images(pixels)
    assert scaled.shape == (1, 2, 2, 1) and scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[0, :, :, 0], [[-1.0, 0.0], [1.0, -0.6]], atol=1e-6)
    np.testing.assert_allclose(data.unscale_images(scaled)[..., 0], pixels, atol=1e-4)
    with pytest.raises(ValueError, match="grayscale"):
        data.scale_images(np.zeros((2, 28, 28, 3)))


def test_epoch_order_is_a_permutation_that_depends_on_seed_and_epoch():
    order = data.epoch_order(1000, seed=0, epoch=0).numpy()
    np.testing.assert_array_equal(np.sort(order), np.arange(1000))
    np.testing.assert_array_equal(order, data.epoch_order(1000, seed=0, epoch=0).numpy())
    assert not np.array_equal(order, data.epoch_order(1000, seed=0, epoch=1).numpy())
    assert not np.array_equal(order, data.epoch_order(1000, seed=1, epoch=0).numpy())


def test_gan_dataset_batches_are_reproducible(test_split):
    images = data.scale_images(test_split[0][:300])
    dataset = data.gan_dataset(images, batch_size=64, seed=3, first_epoch=2)
    batches = [batch.numpy() for batch in dataset]
    assert len(batches) == 4 == int(dataset.cardinality())
    assert all(batch.shape == (64, 28, 28, 1) for batch in batches)
    assert all(batch.min() >= -1 and batch.max() <= 1 for batch in batches)
    order = data.epoch_order(300, seed=3, epoch=2).numpy()
    np.testing.assert_array_equal(batches[1], images[order[64:128]])

    again = [batch.numpy() for batch in data.gan_dataset(images, 64, seed=3, first_epoch=2)]
    np.testing.assert_array_equal(np.stack(batches), np.stack(again))
    with pytest.raises(ValueError, match="batch_size"):
        data.gan_dataset(images[:10], batch_size=64)


def test_gan_dataset_chains_epochs_and_skips_into_the_first(test_split):
    images = data.scale_images(test_split[0][:300])
    one_epoch = {epoch: [b.numpy() for b in data.gan_dataset(images, 64, seed=3, first_epoch=epoch)]
                 for epoch in (1, 2)}
    chained = data.gan_dataset(images, 64, seed=3, first_epoch=1, num_epochs=2, skip_batches=3)
    assert int(chained.cardinality()) == 5
    np.testing.assert_array_equal(np.stack([b.numpy() for b in chained]),
                                  np.stack(one_epoch[1][3:] + one_epoch[2]))


def test_training_datasets_run_without_the_autotuner():
    """With tf.data's autotuner on, deleting an iterator waited up to 40 s after fit's last step."""
    from neuralart_helpers import fast_style

    images = np.zeros((8, 28, 28, 1), np.float32)
    assert data.gan_dataset(images, 4).options().autotune.enabled is False
    photo = np.zeros((40, 40, 3), np.float32)
    assert fast_style.photo_crops([photo], 32, 2).options().autotune.enabled is False
