"""Fashion-MNIST (Xiao et al. 2017), offline first.

The four IDX files are looked up in the Keras cache, then in Debian's
``dataset-fashion-mnist`` package, then downloaded (see ``assets``).
"""

from __future__ import annotations

import gzip

import numpy as np

from neuralart_helpers import assets

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def read_idx(path) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST format) into a uint8 array.

    Images come out as ``(N, 28, 28)``, labels as ``(N,)``.
    """
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images and labels.

    Args:
        split: ``"train"`` (60 000 images) or ``"test"`` (10 000).

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28)`` in ``[0, 255]`` and uint8 ``(N,)`` in ``[0, 9]``
        (see ``CLASS_NAMES``).

    Raises:
        assets.AssetError: the files are nowhere to be found and cannot be downloaded;
            the message says where to put them (or to install ``dataset-fashion-mnist``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    try:
        images = read_idx(assets.fetch(f"fashion_{split}_images"))
        labels = read_idx(assets.fetch(f"fashion_{split}_labels"))
    except assets.AssetError as error:
        raise assets.AssetError(f"{error} On Debian/Ubuntu, `sudo apt-get install "
                                f"dataset-fashion-mnist` also provides these files.") from None
    return images, labels
