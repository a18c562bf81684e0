"""``neuralart doctor``: is this machine ready for the course? (exit 0 yes, 1 no)."""

from __future__ import annotations

import argparse
import platform

from neuralart_helpers import assets, environment


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check the cache, the assets and TensorFlow",
                                   description="Report the asset cache, each asset (present, "
                                               "missing or corrupt), the TensorFlow and Keras "
                                               "versions and whether a GPU is visible. Exit "
                                               "status 0 when every asset is present, else 1.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"cache folder: {assets.keras_home()}  (set KERAS_HOME to move it)")
    missing = 0
    for name, asset in assets.REGISTRY.items():
        state, path = assets.status(asset)
        missing += state != "present"
        print(f"  {state:8s} {name:22s} {path}")
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    print(f"python {platform.python_version()}, tensorflow {tf.__version__}, keras {keras.__version__}")
    for sentence in environment.problems(environment.found_versions(), environment.ranges(),
                                         tf.__version__):
        print(f"version: {sentence}")
    print(f"GPU: {', '.join(gpu.name for gpu in gpus) if gpus else 'none visible (CPU is fine for this course)'}")
    if missing:
        print(f"{missing} asset(s) not ready: run `neuralart fetch` (online) or "
              f"`neuralart fetch --from DIR` (from a folder of copies).")
        return 1
    print("all assets present: ready to work offline.")
    return 0
