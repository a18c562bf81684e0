"""Every file the course downloads, in one registry, with cached and verified fetching.

A user's machine downloads each asset once from its public URL through
``keras.utils.get_file`` into the Keras cache (``$KERAS_HOME``, default
``~/.keras``) and checks its SHA-256 hash. A lab without internet seeds that
cache from a folder (``neuralart fetch --from DIR``) and never downloads.

Fashion-MNIST is special in two ways: Debian/Ubuntu ship the same data in the
package ``dataset-fashion-mnist``, and that package recompresses the ``.gz``
files. So its hashes are taken over the *decompressed* bytes, which are the same
whichever copy you have.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from neuralart_helpers.errors import AssetError
from neuralart_helpers.files import atomic_write




@dataclass(frozen=True)
class Asset:
    """One downloadable file.

    Attributes:
        name: the key used in the course (``fetch("starry_night")``).
        filename: the file's name in the cache folder.
        url: where a machine with internet downloads it.
        sha256: hash of the file's bytes, or of its decompressed bytes when
            ``hash_of_gunzipped`` is true.
        cache_subdir: folder under the Keras cache that holds it.
        description: one line for ``neuralart doctor``.
        hash_of_gunzipped: hash the content of a ``.gz`` file, not the file.
        system_dirs: read-only folders (e.g. a Debian package) to look in
            before downloading.
    """

    name: str
    filename: str
    url: str
    sha256: str
    cache_subdir: str
    description: str
    hash_of_gunzipped: bool = False
    system_dirs: tuple[str, ...] = ()


_PAINTINGS_URL = (
    "https://raw.githubusercontent.com/jcjohnson/neural-style/"
    "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46/examples/inputs/"
)
_FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def _painting(name: str, filename: str, sha256: str, title: str) -> Asset:
    return Asset(name, filename, _PAINTINGS_URL + filename, sha256,
                 "datasets/neuralart-paintings", f"{title} (public domain)")


def _fashion(name: str, filename: str, sha256: str, what: str) -> Asset:
    return Asset(name, filename, _FASHION_URL + filename, sha256,
                 "datasets/fashion-mnist", f"Fashion-MNIST {what}",
                 hash_of_gunzipped=True, system_dirs=(_DEBIAN_FASHION_DIR,))


REGISTRY: dict[str, Asset] = {asset.name: asset for asset in (
    Asset("squeezenet_weights",
          "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
          "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da",
          "models", "SqueezeNet v1.1 ImageNet weights, no classifier (3 MB)"),
    _painting("starry_night", "starry_night.jpg",
              "0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098",
              "Van Gogh, The Starry Night, 1889"),
    _painting("the_scream", "the_scream.jpg",
              "f3075cddeb974a9ee1d6418f7f33fd05185a7ac7dcb4288bd2805d499a9dcaee",
              "Munch, The Scream, 1893"),
    _painting("shipwreck", "shipwreck.jpg",
              "4f7cf34e3cd4a5daaf3f421f059ca9a01aaa2a3afd7243d6670c9c8bc001a213",
              "Turner, The Shipwreck, 1805"),
    _painting("woman_with_hat", "woman-with-hat-matisse.jpg",
              "6a8b2383d9c110354a97a42c74bdcc5341be879cbb842ddb7ab5843dbdf56d53",
              "Matisse, Woman with a Hat, 1905"),
    _fashion("fashion_train_images", "train-images-idx3-ubyte.gz",
             "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
             "training images"),
    _fashion("fashion_train_labels", "train-labels-idx1-ubyte.gz",
             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
             "training labels"),
    _fashion("fashion_test_images", "t10k-images-idx3-ubyte.gz",
             "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
             "test images"),
    _fashion("fashion_test_labels", "t10k-labels-idx1-ubyte.gz",
             "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
             "test labels"),
)}

PAINTINGS = ("starry_night", "the_scream", "shipwreck", "woman_with_hat")


def keras_home() -> Path:
    """The Keras cache folder: ``$KERAS_HOME`` if set, else ``~/.keras``."""
    return Path(os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))))


def get_asset(name: str) -> Asset:
    """Look up a registry entry; an unknown name lists the known ones."""
    if name not in REGISTRY:
        raise AssetError(f"Unknown asset {name!r}; known assets: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def cache_path(asset: Asset) -> Path:
    """Where ``asset`` lives in the Keras cache (it may not exist yet)."""
    return keras_home() / asset.cache_subdir / asset.filename


def file_sha256(path: str | os.PathLike, gunzip: bool = False) -> str:
    """SHA-256 of a file's bytes, or of its decompressed bytes when ``gunzip``."""
    digest = hashlib.sha256()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_valid(asset: Asset, path: str | os.PathLike) -> bool:
    """True when ``path`` exists and holds exactly ``asset``'s bytes."""
    try:
        return file_sha256(path, asset.hash_of_gunzipped) == asset.sha256
    except (OSError, EOFError, gzip.BadGzipFile):
        return False


def status(asset: Asset) -> tuple[str, Path]:
    """``("present" | "missing" | "corrupt", path)`` for the best copy of ``asset``."""
    cached = cache_path(asset)
    if cached.exists():
        return ("present" if is_valid(asset, cached) else "corrupt"), cached
    for folder in asset.system_dirs:
        candidate = Path(folder) / asset.filename
        if candidate.exists() and is_valid(asset, candidate):
            return "present", candidate
    return "missing", cached


def fetch(name: str) -> Path:
    """Return a verified local path to asset ``name``, downloading it if needed.

    Order: the Keras cache, then the asset's system folders (Debian's
    Fashion-MNIST), then a download from its URL into the cache. A cached file
    with the wrong hash is reported and never used.

    Raises:
        AssetError: offline and missing, or the download did not match the hash;
            the message names the file, its URL and the exact cache path.
    """
    asset = get_asset(name)
    state, path = status(asset)
    if state == "present":
        return path
    target = cache_path(asset)
    if state == "corrupt":
        warnings.warn(f"Cached {target} has the wrong SHA-256 hash (corrupt or truncated); "
                      f"downloading it again.", stacklevel=2)
    return _download(asset, target, was_corrupt=state == "corrupt")


def _download(asset: Asset, target: Path, was_corrupt: bool) -> Path:
    import keras  # imported here so that `neuralart doctor` starts fast

    target.parent.mkdir(parents=True, exist_ok=True)
    try:  # the hash is checked below, the same way for plain and gunzipped hashes
        path = Path(keras.utils.get_file(
            asset.filename, origin=asset.url, file_hash=None,
            cache_subdir=asset.cache_subdir, cache_dir=str(keras_home()),
            force_download=was_corrupt))
    except (Exception, KeyboardInterrupt) as error:  # get_file raises bare Exception offline
        problem = "is corrupt in the cache" if was_corrupt else "is not in the cache"
        raise AssetError(
            f"{asset.filename} ({asset.description}) {problem} and could not be downloaded "
            f"from {asset.url} ({_first_line(error)}); download it on a machine with internet "
            f"and copy it to {target}, or run `neuralart fetch --from DIR` with a folder "
            f"that holds it.") from None
    if not is_valid(asset, path):
        path.unlink(missing_ok=True)
        raise AssetError(f"The download of {asset.filename} from {asset.url} does not match "
                         f"its SHA-256 hash {asset.sha256}; it was deleted. Try again, or "
                         f"copy a good file to {target}.")
    return path


def seed_from_folder(name: str, folder: str | os.PathLike) -> Path | None:
    """Copy asset ``name`` from ``folder`` (searched recursively) into the cache.

    Only a file with the right hash is copied, atomically. Returns the cache
    path, or ``None`` when ``folder`` holds no good copy.
    """
    asset = get_asset(name)
    for candidate in sorted(Path(folder).rglob(asset.filename)):
        if candidate.is_file() and is_valid(asset, candidate):
            return atomic_write(cache_path(asset), lambda tmp: shutil.copyfile(candidate, tmp))
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
