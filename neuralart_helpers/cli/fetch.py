"""``neuralart fetch``: put every asset in the cache, for a lab that will be offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralart_helpers import assets
from neuralart_helpers.errors import NeuralArtError


def register(subparsers) -> None:
    parser = subparsers.add_parser("fetch", help="download (or copy) every asset into the cache",
                                   description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("--from", dest="source", metavar="DIR", type=Path,
                        help="copy the files from this folder (searched recursively, hashes "
                             "checked) instead of downloading them")
    parser.add_argument("names", nargs="*", metavar="ASSET",
                        help=f"only these assets (default: all): {', '.join(assets.REGISTRY)}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.source is not None and not args.source.is_dir():
        raise NeuralArtError(f"--from {args.source}: no such folder.")
    names = args.names or list(assets.REGISTRY)
    failures = 0
    for name in names:
        asset = assets.get_asset(name)
        state, path = assets.status(asset)
        if state == "present":
            print(f"ok      {name:22s} {path}")
            continue
        if args.source is not None:
            copied = assets.seed_from_folder(name, args.source)
            if copied is not None:
                print(f"copied  {name:22s} {copied}")
                continue
        try:
            print(f"fetched {name:22s} {assets.fetch(name)}")
        except assets.AssetError as error:
            failures += 1
            print(f"FAILED  {name:22s} {error}")
    print(f"cache: {assets.keras_home()}")
    if failures:
        raise assets.AssetError(f"{failures} of {len(names)} assets could not be fetched "
                                f"(see the FAILED lines above).")
    return 0
