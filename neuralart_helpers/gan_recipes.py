"""What makes a small GAN draw well in a minute on a CPU (chapter 05_fashion_mnist_gan).

The recipes (``presets.GAN_RECIPES``) train the seed's dense networks on all 60 000
images at batch size 64 (more steps per CPU second: quality followed the number of
steps, not of images), compile the step with XLA (2x the steps per second), and draw
with an **exponential moving average (EMA) of the generator's weights**. The
generator's weights keep circling while the two networks chase each other; their
average over the last hundred or so steps draws cleaner images than any single
step's weights (Yazici et al. 2019, "The unusual effectiveness of averaging in GAN
training"). Keras's optimizers keep such an average (``use_ema=True``): after each
step, ``average = m * average + (1 - m) * weight`` with momentum ``m = 0.99`` (on the
first step the average is the weight itself). It lives in the optimizer's variables,
so checkpoints hold it and a resumed run continues it exactly. ``sampling_generator``
draws with it; training never does.

``"cgan"``, the default, is also conditional: the label enters both networks
(``gan.conditional_mlp_generator``, ``gan.conditional_mlp_discriminator``).
``benchmarks/bench_gan.py`` (4 epochs as in the chapter, its one-epoch classifier,
10 000 samples, seeds 0 and 1) against the seed's 5-epoch MLP, both compiled with XLA:
classifier FID 1.25 and 1.64 against 5.92 and 6.02 (ratios 0.21 and 0.27), 61% and
60% of samples called with confidence >= 0.9 against 30% and 34% (real test images:
60%), rarest class 7.3% and 8.0%, and the worst class drawn as asked 62% and 61% of
the time (the classifier's worst accuracy on real images, shirts: 56%), in 58 and 60 s of
training on 2 cores (5 epochs: FID 1.16 and 1.00).
The unconditional ``"mlp-ema"`` measured earlier, 6 epochs, seed 0: FID 2.02, 44%
confident; the EMA alone took the seed MLP's FID from 6.2 to 4.8 at the same 2340
steps. One-sided label smoothing (``GAN(real_label=0.9)``, Salimans et al. 2016) did
not help here, a hinge loss did worse, and the two time-scale update rule (generator
1e-4, discriminator 4e-4) with smoothing did much worse; small DCGANs learnt too
slowly per CPU second for this budget.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np

_SAMPLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # gan -> its sampler


def averaged_weights(optimizer) -> list | None:
    """The moving averages of an optimizer made with ``use_ema=True``, or ``None`` without.

    One variable per trainable variable the optimizer was built for, in the same order.
    """
    if not getattr(optimizer, "use_ema", False):
        return None
    return list(optimizer._model_variables_moving_average)  # Keras keeps them here


def sampling_generator(gan) -> keras.Model:
    """The network that draws ``gan``'s samples: its generator, with averaged weights if any.

    With an EMA (``averaged_weights``), a copy of the generator (made once per GAN,
    kept outside its tracked layers) receives the averaged trainable weights and the
    generator's own BatchNorm statistics; the generator itself is left untouched, so
    drawing never changes training. Before the first step it is the generator itself.
    """
    return averaged_network(gan, gan.generator, gan.generator_optimizer)


def averaged_network(owner, network: keras.Model, optimizer) -> keras.Model:
    """``network`` with the moving averages ``optimizer`` keeps of its trainable weights.

    A copy made once per ``owner`` (the model that holds both) receives the averages and
    the network's other weights (BatchNorm statistics); ``network`` itself is untouched.
    Without an EMA, or before the first step, it is ``network`` itself.
    """
    averages = averaged_weights(optimizer)
    if averages is None or int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0:
        return network  # no average, or none yet: Keras fills it on the first step
    if owner not in _SAMPLERS:
        _SAMPLERS[owner] = keras.models.clone_model(network)
    trainable = {id(variable): average for variable, average in
                 zip(network.trainable_variables, averages)}
    values = [keras.ops.convert_to_numpy(trainable.get(id(variable), variable))
              for variable in network.weights]
    _SAMPLERS[owner].set_weights([np.asarray(value) for value in values])
    return _SAMPLERS[owner]
