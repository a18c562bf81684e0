"""Test-wide set-up: seed the Keras cache from the offline copies in ../shared/data.

CI machines have no internet. ``../shared/data`` (beside the clone) holds
byte-exact copies of the course's downloads; copying them into the cache is what
``neuralart fetch --from ../shared/data`` does, and what a lab does from a USB stick.
Nothing is downloaded and nothing is committed.
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


def pytest_configure(config):
    from neuralart_helpers import assets

    if not SHARED_DATA.is_dir():
        return
    for name, asset in assets.REGISTRY.items():
        if assets.status(asset)[0] != "present":
            assets.seed_from_folder(name, SHARED_DATA)
