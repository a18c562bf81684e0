"""Loading every kind of picture as RGB float32 [0, 255], atomic saving, GIFs."""

import numpy as np
import pytest
from PIL import Image

from neuralart_helpers import images
from neuralart_helpers import errors


def _save(tmp_path, picture: Image.Image, name: str, **options):
    path = tmp_path / name
    picture.save(path, **options)
    return path


def test_rgb_png_loads_exactly(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    loaded = images.load_image(_save(tmp_path, Image.fromarray(array), "a.png"))
    assert loaded.dtype == np.float32 and loaded.shape == (7, 5, 3)
    np.testing.assert_array_equal(loaded, array.astype(np.float32))


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    loaded = images.load_image(_save(tmp_path, Image.fromarray(gray, "L"), "g.png"))
    assert loaded.shape == (3, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[:, :, channel], gray)


def test_palette_image_uses_its_palette(tmp_path):
    picture = Image.new("P", (2, 1))
    picture.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    picture.putpixel((0, 0), 0)
    picture.putpixel((1, 0), 1)
    loaded = images.load_image(_save(tmp_path, picture, "p.png"))
    np.testing.assert_array_equal(loaded[0], [[255, 0, 0], [0, 0, 255]])


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [200, 100, 0, 128]]], dtype=np.uint8)
    loaded = images.load_image(_save(tmp_path, Image.fromarray(rgba, "RGBA"), "t.png"))
    np.testing.assert_allclose(loaded[0, 0], [255, 255, 255])  # fully transparent -> white
    np.testing.assert_allclose(loaded[0, 1], [0, 0, 0])        # opaque black stays black
    expected = 128 / 255 * np.array([200, 100, 0]) + (1 - 128 / 255) * 255
    np.testing.assert_allclose(loaded[0, 2], expected, atol=1.01)


def test_cmyk_jpeg_is_converted(tmp_path):
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # pure red in CMYK
    loaded = images.load_image(_save(tmp_path, cmyk, "c.jpg", quality=100))
    assert loaded.shape == (4, 4, 3)
    np.testing.assert_allclose(loaded.mean(axis=(0, 1)), [255, 0, 0], atol=3)


def test_16bit_grayscale_is_rescaled(tmp_path):
    values = np.array([[0, 65535], [32896, 257 * 100]], dtype=np.uint16)
    loaded = images.load_image(_save(tmp_path, Image.fromarray(values), "d.png"))
    np.testing.assert_allclose(loaded[:, :, 0], [[0, 255], [128, 100]], atol=1e-3)


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((2, 3, 3), dtype=np.uint8)
    array[0, 0] = 255  # a white pixel in the top-left corner of a 2x3 (landscape) picture
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(tmp_path, Image.fromarray(array), "e.png", exif=exif)
    loaded = images.load_image(path)
    assert loaded.shape == (3, 2, 3)           # displayed as portrait
    assert loaded[0, 1].min() == 255           # the corner moved to the top right
    assert loaded.sum() == 255 * 3


def test_max_dim_keeps_aspect_and_never_enlarges(tmp_path):
    path = _save(tmp_path, Image.new("RGB", (400, 100), (10, 20, 30)), "w.png")
    small = images.load_image(path, max_dim=200)
    assert small.shape == (50, 200, 3)
    np.testing.assert_allclose(small.mean(axis=(0, 1)), [10, 20, 30], atol=0.5)
    assert images.load_image(path, max_dim=1000).shape == (100, 400, 3)


@pytest.mark.parametrize("content, match", [
    (None, "No such file"),
    (b"this is plain text, not a picture", "not an image"),
])
def test_bad_files_get_one_clear_sentence(tmp_path, content, match):
    path = tmp_path / "x.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(errors.ImageError, match=match) as error:
        images.load_image(path)
    assert "\n" not in str(error.value)


def test_truncated_image_is_reported(tmp_path):
    array = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = _save(tmp_path, Image.fromarray(array), "full.jpg")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(errors.ImageError, match="damaged or truncated"):
        images.load_image(truncated)


def test_png_round_trip_is_exact_and_jpeg_close(tmp_path):
    image = np.random.default_rng(2).uniform(0, 255, (16, 24, 3)).astype(np.float32)
    png = images.load_image(images.save_image(tmp_path / "r.png", image))
    np.testing.assert_array_equal(png, np.round(image))
    smooth = np.broadcast_to(np.linspace(0, 255, 24, dtype=np.float32)[None, :, None], (16, 24, 3))
    jpeg = images.load_image(images.save_image(tmp_path / "r.jpg", smooth))
    assert np.abs(jpeg - smooth).mean() < 3


def test_save_clips_out_of_range_values(tmp_path):
    image = np.array([[[-50, 300, 127.6]]], dtype=np.float32)
    np.testing.assert_array_equal(images.load_image(images.save_image(tmp_path / "c.png", image)),
                                  [[[0, 255, 128]]])


def test_failed_save_leaves_old_file_and_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    images.save_image(target, np.full((4, 4, 3), 7, np.float32))
    before = target.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as stream:
            stream.write(b"\x89PNG half written")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        images.save_image(target, np.zeros((4, 4, 3), np.float32))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(errors.ImageError, match=".png, .jpg"):
        images.save_image(tmp_path / "out.bmpx", np.zeros((2, 2, 3)))


def test_gif_has_every_frame(tmp_path):
    import imageio.v3 as iio

    frames = [np.full((8, 10, 3), value, np.float32) for value in (0, 128, 255)]
    path = images.save_gif(tmp_path / "a.gif", frames, fps=5)
    back = iio.imread(path, index=None)
    assert back.shape[:3] == (3, 8, 10)
    np.testing.assert_allclose(back[..., :3].mean(axis=(1, 2, 3)), [0, 128, 255], atol=2)
    with pytest.raises(errors.ImageError, match="same shape"):
        images.save_gif(tmp_path / "b.gif", [frames[0], np.zeros((4, 4, 3))])


def test_resize_takes_an_image_or_a_batch_and_returns_numpy():
    rng = np.random.default_rng(3)
    batch = rng.uniform(0, 255, (2, 12, 16, 3)).astype(np.float32)
    small = images.resize(batch, 6, 8)
    assert isinstance(small, np.ndarray) and small.dtype == np.float32
    assert small.shape == (2, 6, 8, 3)
    for index in range(2):  # a batch is resized image by image
        np.testing.assert_allclose(small[index], images.resize(batch[index], 6, 8), atol=1e-4)
    import tensorflow as tf

    big = images.resize(tf.constant(batch[0]), 30, 40)  # tensors in, NumPy out
    assert isinstance(big, np.ndarray) and big.shape == (30, 40, 3)


def test_resize_is_lanczos_clipped_and_keeps_a_flat_image():
    # a sharp edge: Lanczos overshoots it, and the result is clipped back into [0, 255]
    edge = np.zeros((8, 8, 3), np.float32)
    edge[:, 4:] = 255.0
    import tensorflow as tf

    raw = tf.image.resize(edge, (8, 21), method="lanczos3", antialias=True).numpy()
    assert raw.max() > 255.0 and raw.min() < 0.0
    resized = images.resize(edge, 8, 21)
    np.testing.assert_allclose(resized, np.clip(raw, 0, 255), atol=1e-4)
    flat = images.resize(np.full((9, 7, 3), 42.0, np.float32), 20, 3)
    np.testing.assert_allclose(flat, 42.0, atol=1e-3)


def test_resize_to_the_same_size_is_a_copy_and_bad_shapes_are_refused():
    image = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    same = images.resize(image, 4, 5)
    np.testing.assert_array_equal(same, image)
    same[0, 0, 0] = -1.0
    assert image[0, 0, 0] == 0.0  # a copy, not a view
    with pytest.raises(errors.ImageError, match=r"\(H, W, C\)"):
        images.resize(np.zeros((4, 5)), 2, 2)


def test_content_photo_and_painting():
    astronaut = images.content_photo("astronaut", max_dim=128)
    assert astronaut.shape == (128, 128, 3) and astronaut.dtype == np.float32
    assert 0 <= astronaut.min() and astronaut.max() <= 255 and astronaut.std() > 20
    starry = images.painting("starry_night", max_dim=256)
    assert starry.shape == (160, 256, 3)  # the original is 1024x640
    with pytest.raises(errors.ImageError, match="astronaut"):
        images.content_photo("lena")


def test_signed_to_image_centres_zero_and_saturates_at_three_rms():
    from neuralart_helpers.plotting import signed_to_image

    values = np.ones((10, 10, 3), np.float32)
    values[0, 0] = [0.0, 30.0, -30.0]       # rms is then about 2.0: 30 is beyond 3 rms
    rms = np.sqrt(np.mean(values ** 2))
    picture = signed_to_image(values)
    assert picture.shape == values.shape
    np.testing.assert_allclose(picture[0, 0], [127.5, 255.0, 0.0])
    np.testing.assert_allclose(picture[5, 5, 0], 127.5 + 127.5 / (3 * rms), rtol=1e-5)
    np.testing.assert_allclose(signed_to_image(np.zeros((2, 2, 3))), 127.5)


@pytest.mark.parametrize("name", images.MORE_PHOTOS)
def test_more_photos_load_offline_as_rgb(name):
    photo = images.content_photo(name, max_dim=128)
    assert photo.dtype == np.float32 and photo.ndim == 3 and photo.shape[2] == 3
    assert max(photo.shape[:2]) == 128 and min(photo.shape[:2]) >= 64
    assert 0 <= photo.min() and photo.max() <= 255 and photo.std() > 10  # a picture, not a blank


def test_unknown_photo_names_the_choices():
    with pytest.raises(errors.ImageError, match="grace_hopper"):
        images.content_photo("mona_lisa")
