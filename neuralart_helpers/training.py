"""What every trained model of the course shares: the moving average of its weights.

A network's weights keep moving while it trains (a GAN's two players chase each
other; a denoiser's steps are noisy); the average of the recent weights draws better
than the last step's (Polyak averaging; Yazici et al. 2019 for GANs, Ho et al. 2020 for
diffusion). ``WeightAverage`` keeps it in the open, with public TensorFlow calls only:

    average = m * average + (1 - m) * weight        after every training step,

with the first update copying the weights. Its variables go into the run's checkpoint,
so a resumed run continues the average exactly.
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import tensorflow as tf

from neuralart_helpers.errors import NeuralArtError


class WeightAverage(tf.Module):
    """Exponential moving average of a network's trainable weights.

    Args:
        network: a built Keras model; the average starts as a copy of its trainable weights.
        momentum: ``m`` in ``[0, 1)``; about the last ``1 / (1 - m)`` steps count.

    ``update()`` is called by the training step after the optimizer's update;
    ``network_copy()`` gives a network that draws with the averages. The variables are
    written by the first replica only (all replicas hold the same weights), so the
    average works under a ``tf.distribute`` strategy as on one device.

    Raises:
        NeuralArtError: ``momentum`` outside ``[0, 1)``.
    """

    def __init__(self, network: keras.Model, momentum: float):
        super().__init__(name="weight_average")
        if not 0.0 <= momentum < 1.0:
            raise NeuralArtError(f"The weight average's momentum must be in [0, 1), got "
                                 f"{momentum}; 0.99 averages about the last hundred steps.")
        self.momentum = float(momentum)
        first_replica = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.averages = [tf.Variable(variable, trainable=False, aggregation=first_replica,
                                     name=f"average_{index}")
                         for index, variable in enumerate(network.trainable_variables)]
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=first_replica,
                                   name="updates")
        # Kept outside TensorFlow's tracking: a checkpoint holds the averages, not the networks.
        self._links = SimpleNamespace(network=network, copy=None)

    def update(self) -> None:
        """One step of the average: ``m * average + (1 - m) * weight`` (``m = 0`` the first time)."""
        momentum = tf.where(self.updates > 0, self.momentum, 0.0)
        for average, weight in zip(self.averages, self._links.network.trainable_variables):
            average.assign(momentum * average + (1.0 - momentum) * weight)
        self.updates.assign_add(1)

    def network_copy(self) -> keras.Model:
        """The network with the averaged trainable weights (and its own BatchNorm statistics).

        A copy made once and refreshed at each call; the training network is left
        untouched. Before the first update, the training network itself.
        """
        if int(self.updates.numpy()) == 0:
            return self._links.network
        links = self._links
        if links.copy is None:
            links.copy = keras.models.clone_model(links.network)
        averages = {id(weight): average for weight, average in
                    zip(links.network.trainable_variables, self.averages)}
        links.copy.set_weights([np.asarray(averages.get(id(weight), weight))
                                for weight in links.network.weights])
        return links.copy
