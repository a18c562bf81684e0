"""The asset registry: hashes, the cache, corrupt files, offline errors, seeding."""

import gzip
import hashlib
from pathlib import Path

import pytest

from neuralart_helpers import assets
from neuralart_helpers import errors

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MANIFEST = SHARED_DATA / "MANIFEST.md"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Keras cache for one test."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def served_file(tmp_path, monkeypatch):
    """A registry entry whose URL is a local file:// URL, so the real download path runs offline."""
    payload = b"neural art " * 1000
    source = tmp_path / "server" / "payload.bin"
    source.parent.mkdir()
    source.write_bytes(payload)
    asset = assets.Asset("test_payload", "payload.bin", source.as_uri(),
                         hashlib.sha256(payload).hexdigest(), "models", "a test file")
    monkeypatch.setitem(assets.REGISTRY, asset.name, asset)
    return asset, source


def test_registry_hashes_match_the_offline_copies():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    manifest = MANIFEST.read_text()
    checked = 0
    for asset in assets.REGISTRY.values():
        copies = list(SHARED_DATA.rglob(asset.filename))
        if not copies:
            continue
        assert asset.sha256 in manifest, f"{asset.name}: hash not in MANIFEST.md"
        assert assets.file_sha256(copies[0]) == asset.sha256
        checked += 1
    assert checked == 5  # SqueezeNet weights and the four paintings


def test_every_asset_has_https_url_and_hex_hash():
    for asset in assets.REGISTRY.values():
        assert asset.url.startswith("https://") and asset.url.endswith(asset.filename)
        assert len(asset.sha256) == 64 and int(asset.sha256, 16) >= 0


def test_cache_path_follows_keras_home(cache):
    asset = assets.get_asset("squeezenet_weights")
    assert assets.cache_path(asset) == cache / "models" / asset.filename


def test_download_verifies_and_caches(cache, served_file):
    asset, source = served_file
    path = assets.fetch(asset.name)
    assert path == cache / "models" / "payload.bin"
    assert path.read_bytes() == source.read_bytes()
    source.unlink()  # a second fetch must come from the cache, not the "network"
    assert assets.fetch(asset.name) == path


def test_corrupt_cached_file_is_reported_and_not_used(cache, served_file):
    asset, source = served_file
    target = assets.cache_path(asset)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    assert assets.status(asset) == ("corrupt", target)
    with pytest.warns(UserWarning, match="wrong SHA-256"):
        path = assets.fetch(asset.name)  # re-downloaded from the file:// URL
    assert hashlib.sha256(path.read_bytes()).hexdigest() == asset.sha256


def test_corrupt_and_offline_names_the_problem(cache, served_file):
    asset, source = served_file
    source.unlink()
    target = assets.cache_path(asset)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(errors.AssetError, match="corrupt in the cache"):
        assets.fetch(asset.name)


def test_download_with_wrong_hash_is_rejected(cache, served_file, monkeypatch):
    asset, _ = served_file
    bad = assets.Asset(asset.name, asset.filename, asset.url, "0" * 64, "models", "a test file")
    monkeypatch.setitem(assets.REGISTRY, asset.name, bad)
    with pytest.raises(errors.AssetError):
        assets.fetch(asset.name)
    assert not assets.cache_path(bad).exists()


def test_offline_error_names_file_url_and_exact_cache_path(cache):
    asset = assets.get_asset("starry_night")
    with pytest.raises(errors.AssetError) as error:
        assets.fetch("starry_night")
    message = str(error.value)
    assert asset.filename in message
    assert asset.url in message
    assert str(cache / "datasets" / "neuralart-paintings" / "starry_night.jpg") in message
    assert "\n" not in message


def test_unknown_asset_lists_known_ones():
    with pytest.raises(errors.AssetError, match="starry_night"):
        assets.get_asset("mona_lisa")


def test_seed_from_folder_copies_only_good_files(cache, tmp_path, served_file):
    asset, source = served_file
    folder = tmp_path / "usb_stick" / "nested"
    folder.mkdir(parents=True)
    (folder / asset.filename).write_bytes(b"not the right bytes")
    assert assets.seed_from_folder(asset.name, tmp_path / "usb_stick") is None
    (folder / asset.filename).write_bytes(source.read_bytes())
    copied = assets.seed_from_folder(asset.name, tmp_path / "usb_stick")
    assert copied == assets.cache_path(asset) and assets.status(asset)[0] == "present"
    assert not [p for p in copied.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_gunzipped_hash_accepts_any_compression(cache, tmp_path, monkeypatch):
    raw = bytes(range(256)) * 50
    system_dir = tmp_path / "debian"
    system_dir.mkdir()
    with gzip.open(system_dir / "data.gz", "wb", compresslevel=1) as stream:
        stream.write(raw)
    asset = assets.Asset("gz", "data.gz", "https://example.invalid/data.gz",
                         hashlib.sha256(raw).hexdigest(), "datasets/x", "gz test",
                         hash_of_gunzipped=True, system_dirs=(str(system_dir),))
    monkeypatch.setitem(assets.REGISTRY, "gz", asset)
    assert assets.fetch("gz") == system_dir / "data.gz"
    with gzip.open(system_dir / "data.gz", "wb", compresslevel=9) as stream:  # recompressed
        stream.write(raw)
    assert assets.status(asset) == ("present", system_dir / "data.gz")
