"""Checkpoints of a GAN run (chapter 05_fashion_mnist_gan, section 7): save, restore, resume.

A checkpoint holds everything training changes (both networks, both optimizers,
the noise generator's state), so a run restored from one continues exactly
(``gan.train_gan``). A model of another kind (``diffusion.DiffusionModel``) names what
training changes in its ``training_state()``, whose ``"optimizer"`` counts the steps. A damaged checkpoint is a ``CheckpointError`` that names its
file and the one to fall back to; a Ctrl-C during a save waits until it is written;
``config.json`` keeps the run's settings for ``neuralart gan train --resume``.
``neuralart_helpers.gan`` re-exports these functions (``gan.restore_latest``, ...).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import tensorflow as tf

from neuralart_helpers.errors import CheckpointError, NeuralArtError
from neuralart_helpers.files import atomic_write_text

if TYPE_CHECKING:
    from neuralart_helpers.gan import GAN


def make_checkpoint(gan: GAN) -> tf.train.Checkpoint:
    """Everything training changes: both networks, both optimizers, the noise generator's state
    and, if the GAN keeps one, the average of the generator's weights.

    The discriminator optimizer's ``iterations`` counts the finished steps, which
    is where a resumed run continues. A model with a ``training_state()`` method (a
    dict of trackables) is checkpointed as that instead.
    """
    if hasattr(gan, "training_state"):
        return tf.train.Checkpoint(**gan.training_state())
    state = dict(generator=gan.generator, discriminator=gan.discriminator,
                 generator_optimizer=gan.generator_optimizer,
                 discriminator_optimizer=gan.discriminator_optimizer,
                 seed_state=gan.seed_generator.state)
    if gan.generator_average is not None:
        state["generator_average"] = gan.generator_average
    return tf.train.Checkpoint(**state)


def checkpoint_manager(gan: GAN, directory: str | Path, max_to_keep: int = 3):
    """A ``tf.train.CheckpointManager`` keeping the last ``max_to_keep`` checkpoints of ``gan``."""
    return tf.train.CheckpointManager(make_checkpoint(gan), str(directory), max_to_keep=max_to_keep)


def steps_done(gan: GAN) -> int:
    """How many training steps ``gan`` has taken (restored from a checkpoint, or 0).

    A model with ``training_state()``: the ``iterations`` of its ``"optimizer"`` there.
    """
    optimizer = (gan.training_state()["optimizer"] if hasattr(gan, "training_state")
                 else gan.discriminator_optimizer)
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def restore_latest(gan: GAN, directory: str | Path, command: str = "neuralart gan train") -> int:
    """Load the newest checkpoint in ``directory`` into ``gan``; return its step count.

    A checkpoint whose files were deleted is skipped, so deleting a damaged newest
    checkpoint falls back to the previous one (the manager keeps three).

    Raises:
        NeuralArtError: ``directory`` holds no checkpoint (the message says to train
            with ``command``).
        CheckpointError: the newest checkpoint is damaged (a file cut short or
            overwritten); the message names it and the checkpoint to fall back to.
    """
    manager = checkpoint_manager(gan, directory)
    saved = [path for path in manager.checkpoints if tf.io.gfile.exists(path + ".index")]
    if not saved:
        raise NeuralArtError(f"No checkpoint in {directory}; train first with "
                             f"`{command} --out {directory}`.")
    try:
        manager.checkpoint.restore(saved[-1]).assert_consumed()
    except (tf.errors.OpError, IndexError) as error:  # IndexError: a .data file cut short
        raise _damaged_checkpoint(saved, error) from error
    return steps_done(gan)


def _damaged_checkpoint(saved: list[str], error: Exception) -> CheckpointError:
    """The error for the unreadable ``saved[-1]``: its bad file, what to delete, the fallback."""
    prefix = Path(saved[-1])
    files = sorted(Path(name).name for name in tf.io.gfile.glob(f"{prefix}.*"))
    damaged = [f"{prefix.name}.index"]
    with contextlib.suppress(tf.errors.OpError):  # the .index reads, so a .data file is damaged
        tf.train.load_checkpoint(str(prefix))
        damaged = [name for name in files if ".data-" in name] or [f"{prefix.name}.data-*"]
    advice = (f"delete {' and '.join(files)} in {prefix.parent} to fall back to the previous "
              f"checkpoint, {Path(saved[-2]).name}" if saved[1:] else
              f"no earlier checkpoint is left: delete {prefix.parent} and train again")
    return CheckpointError(f"Checkpoint {prefix} is damaged ({' '.join(damaged)}: "
                           f"{' '.join(str(error).split())}); {advice}.")


def save_checkpoint(manager: tf.train.CheckpointManager, step: int) -> str:
    """Save a checkpoint numbered ``step``; a Ctrl-C during the save waits until it is done.

    TensorFlow writes the files first and then, atomically, the small ``checkpoint``
    index that names the newest one, so a crash never leaves a half-written
    checkpoint that ``restore_latest`` would read.
    """
    with _keyboard_interrupt_deferred():
        return manager.save(checkpoint_number=step)


@contextlib.contextmanager
def _keyboard_interrupt_deferred():
    """Hold back SIGINT (Ctrl-C) inside the block and raise it at the end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def write_config(directory: str | Path, config: dict) -> Path:
    """Save the run's settings (model, seed, ...) as ``directory/config.json``, atomically."""
    path = Path(directory) / "config.json"
    text = json.dumps(config, indent=2, sort_keys=True)
    return atomic_write_text(path, text)


def read_config(directory: str | Path, command: str = "neuralart gan train") -> dict:
    """The settings ``write_config`` saved; ``NeuralArtError`` (naming ``command``) when none."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise NeuralArtError(f"{path} not found: {directory} is not a folder made by "
                             f"`{command}`.")
    return json.loads(path.read_text())
