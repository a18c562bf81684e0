"""Does this Python fit the course? The versions found, against the ranges the helpers declare.

Every chapter's first cell installs the helpers where they are missing (as on Colab) and then
calls :func:`report`. pip keeps a TensorFlow, Keras or NumPy that already fits the ranges in
``pyproject.toml``; ``check`` reads those ranges from the installed package's metadata, so
they are written in one place only.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys

from packaging.requirements import Requirement
from packaging.version import Version

DISTRIBUTION = "neuralart-helpers"
CHECKED = ("tensorflow", "keras", "numpy")   # what Colab and labs install themselves


def ranges(distribution: str = DISTRIBUTION) -> dict[str, Requirement]:
    """``{name: requirement}`` of the helpers' dependencies, plus ``"python"`` (no extras)."""
    required = {"python": Requirement(
        f"python{importlib.metadata.metadata(distribution)['Requires-Python']}")}
    for line in importlib.metadata.requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            required[requirement.name.lower()] = requirement
    return required


def found_versions(names=CHECKED) -> dict[str, str | None]:
    """``{name: version}`` of the installed distributions (``None``: not installed), and Python's."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def problems(versions: dict[str, str | None], required: dict[str, Requirement],
             loaded_tensorflow: str | None = None) -> list[str]:
    """One sentence per version that does not fit its range, saying what to run instead.

    ``loaded_tensorflow``: the version this Python has already imported, if any; when it
    differs from the installed one (pip replaced it), the runtime must be restarted.
    """
    found = []
    for name, version in versions.items():
        specifier = required[name].specifier if name in required else None
        if specifier is None or (version is not None and
                                 specifier.contains(Version(version), prereleases=True)):
            continue
        if name == "python":
            found.append(f"Python {version} does not fit the course (needs {specifier}): "
                         f"use one of those Pythons (on Colab: Runtime > Change runtime type).")
        else:
            what = "is not installed" if version is None else f"{version} does not fit"
            found.append(f"{name} {what} (the course needs {specifier}): run "
                         f"`pip install '{name}{specifier}'`, then restart the runtime.")
    installed = versions.get("tensorflow")
    if loaded_tensorflow and installed and Version(loaded_tensorflow) != Version(installed):
        found.append(f"TensorFlow {loaded_tensorflow} is loaded but {installed} is "
                     f"installed: restart the runtime and run this cell again.")
    return found


def report(stream=None) -> bool:
    """Print the versions found and, for each one out of range, what to do; True when all fit."""
    stream = stream or sys.stdout
    versions = found_versions()
    loaded = getattr(sys.modules.get("tensorflow"), "__version__", None)
    trouble = problems(versions, ranges(), loaded)
    listed = ", ".join(f"{name} {version}" for name, version in versions.items())
    print(f"{listed}: {'these do not fit the course' if trouble else 'all fit the course'}.",
          file=stream)
    for sentence in trouble:
        print(sentence, file=stream)
    return not trouble
