"""Every tunable number of the course in one table: backbones, layers, weights, recipes.

The library reads its defaults from here and so does the ``neuralart`` command,
which therefore never re-types a default. Nothing here imports TensorFlow, so
``neuralart --help`` stays instant. Pixel units throughout (images in ``[0, 255]``).
"""

from __future__ import annotations

# ---------------------------------------------------------------- backbones
# min_size: the smallest height/width the network accepts. The layer presets say which
# layers each technique reads; the chapters explain each choice.
BACKBONES = {
    "squeezenet": {
        "min_size": 31,
        "dream_layers": {"fire5_concat": 1.0, "fire6_concat": 1.5, "fire7_concat": 2.0},
        "style_layers": ("relu_conv1", "fire2_concat", "fire3_concat", "fire5_concat",
                         "fire7_concat"),
        "content_layer": "fire5_concat",
        "visualize_layers": ("fire3_concat", "fire5_concat", "fire8_concat"),
    },
    "inception_v3": {
        "min_size": 75,
        # the layers of the keras.io DeepDream example (the original used GoogLeNet)
        "dream_layers": {"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5},
        "style_layers": ("conv2d", "mixed0", "mixed2", "mixed5", "mixed7"),
        "content_layer": "mixed5",
        "visualize_layers": ("mixed2", "mixed5", "mixed8"),
    },
    "vgg19": {
        "min_size": 32,
        "dream_layers": {"block4_conv3": 1.0, "block5_conv2": 1.5},
        "style_layers": ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                         "block5_conv1"),
        "content_layer": "block5_conv2",
        "visualize_layers": ("block2_conv2", "block4_conv1", "block5_conv3"),
    },
}
DEFAULT_BACKBONE = "squeezenet"

# ---------------------------------------------------------------- chapter 01: visualisation
VISUALIZE = {
    "size": 224,                # image side in pixels
    "num_steps": 96,            # ascent steps in all
    "pixel_step_size": 1.5,     # pixels per normalised step
    "fourier_step_size": 0.01,  # spectrum units per normalised step
    "num_octaves": 3,           # pixel images are rendered multiscale ...
    "octave_scale": 1.4,        # ... each octave 1.4 times the previous
    "channel": 0,
    "seed": 0,
}

# ---------------------------------------------------------------- chapters 02-03: DeepDream
DREAM = {
    "num_octaves": 3,
    "octave_scale": 1.4,
    "num_steps": 20,            # per octave
    "step_size": 1.5,           # pixels per step
    "laplacian_levels": 4,      # bands when Laplacian normalisation is asked for
    "border": 2,                # activations this close to the edge are left out
    "seed": 0,
}

# ---------------------------------------------------------------- chapter 04: style transfer
# Per-layer style weights tuned by eye on the four paintings at 192-256 px: the first
# ReLU carries colour and brush texture, deeper layers add strokes and swirls.
# Backbones not listed get equal weights over their style_layers preset.
STYLE_LAYER_WEIGHTS = {
    "squeezenet": {"relu_conv1": 1.0, "fire2_concat": 0.2, "fire3_concat": 0.2,
                   "fire5_concat": 0.05, "fire7_concat": 0.05},
}
STYLE = {
    "content_weight": 10.0,     # these three go with STYLE_LAYER_WEIGHTS (SqueezeNet)
    "style_weight": 1.0,
    "tv_weight": 5.0,
    "tv_form": "l2",
    "optimizer": "lbfgs",
    "num_steps": 150,           # loss-and-gradient evaluations
    "max_dim": 256,
    "init": "content",
    "save_every": 50,
    "seed": 0,
}
# The course's L-BFGS on a loss with an L1 total variation ("l1", "l1-sum": the TensorFlow
# tutorial's loss, style_recipes.tutorial_formulation): it moves the image's Laplacian-pyramid
# bands (2 levels) instead of its pixels, with 7 curvature pairs and Adam's per-coordinate H0
# (lbfgs.minimize's preconditioner). History 7 against 5 (evaluations to the tutorial Adam's
# 1000-step loss): astronaut/the_scream 270 vs 306 at 320 px, 249 vs 247 at 192 px;
# chelsea/starry_night 211 vs 218 and 167 vs 165; coffee/woman_with_hat 256 px 172 vs 168.
# On the course's L2 total variation the plain method on the pixels (lbfgs.minimize's defaults)
# stays: at 256 px, after 150 and 300 evaluations, H0 with history 5 changed the loss by -2.1%
# to +0.2%, the bands by -2.1% to +3.8% (four pairs).
# StyleTransfer.lbfgs_options; measured in benchmarks/bench_style.py, chapter 04.
L1_TV_LBFGS = {"history": 7, "preconditioner": "adam", "pyramid_levels": 2}
OPTIMIZERS = ("adam", "gd", "lbfgs", "scipy-lbfgs")
INITIALIZATIONS = ("content", "noise", "style")
TV_FORMS = ("l1", "l2", "power", "l1-sum")
# Learning rates in pixel units (the image is in [0, 255]); L-BFGS needs none.
LEARNING_RATES = {"adam": 8.0, "gd": 4.0, "lbfgs": None, "scipy-lbfgs": None}
# The TensorFlow tutorial's Adam (lr 0.02, epsilon 0.1 on [0, 1] images), in pixel units.
TUTORIAL_ADAM = {"learning_rate": 0.02 * 255.0, "beta_1": 0.99, "epsilon": 0.1 / 255.0}
# The tutorial's loss, in pixel units: Gram / positions, style = 1e-2 * the mean over the style
# layers of mean((G - A)^2), content = 1e4 * mean((F - P)^2), and 30 * tf.image.total_variation
# of the [0, 1] image, i.e. (30 / 255) * (sum |dy| + sum |dx|) in pixels. The style layers'
# weights are 1e-2 / (number of style layers) each (style.tutorial_formulation).
TUTORIAL_FORMULATION = {"content_weight": 1e4, "style_weight": 1.0, "tv_weight": 30.0 / 255.0,
                        "tv_form": "l1-sum", "style_scale": 1e-2}

# Fast style transfer (fast_style, section 12 of chapter 04, `neuralart style-train`): a small
# image transformation network (Johnson et al. 2016 use 32 filters and 5 residual blocks),
# trained on random crops of the bundled photos; chelsea is held out to show it a new photo.
FAST_STYLE = {"filters": 16, "residual_blocks": 3, "crop_size": 128, "batch_size": 4,
              "photo_size": 256, "style_size": 256, "learning_rate": 2e-3, "steps": 300,
              "save_every": 50, "seed": 0,
              "jitter": 4,  # px: the loss sees the painted crop at a new offset every step
              # the network starts as the identity (fast_style.ChangeInLogits), as the optimiser
              # starts from the photo, so the optimiser's weights serve
              "content_weight": 10.0, "style_weight": 1.0, "tv_weight": 5.0,
              "photos": ("astronaut", "coffee", "rocket", "brick", "grass", "gravel", "camera",
                         "coins", "clock", "immunohistochemistry", "hubble_deep_field",
                         "grace_hopper")}

# ---------------------------------------------------------------- chapter 05: the GAN
GAN_MODELS = ("mlp", "dcgan", "mlp-ema", "cgan")
GAN_UPSAMPLING = ("transpose", "resize")
# Models that are networks plus a training recipe (gan.build_gan): the generator's weights
# averaged (training.WeightAverage) for drawing, the discriminator's target for real images,
# the learning rates (generator, discriminator). Chosen by measurement: benchmarks/bench_gan.py.
GAN_RECIPES = {"mlp-ema": {"networks": "mlp", "ema_momentum": 0.99, "real_label": 1.0,
                           "learning_rates": (2e-4, 2e-4)},
               # the same, conditional: the label enters both networks (gan.conditional_mlp_*)
               "cgan": {"networks": "mlp-conditional", "ema_momentum": 0.99, "real_label": 1.0,
                        "learning_rates": (2e-4, 2e-4)}}
# Compile the training step with XLA (jit_compile) for these networks: it fuses the dense
# layers' many small operations, 2.0x the steps per second of the MLPs on 2 cores. The DCGANs
# gained nothing in the chapter's runs (transposed convolutions: 0.67x), so it stays off there.
GAN_JIT_COMPILE = {"mlp": True, "mlp-conditional": True, "dcgan": False}
GAN_CHAPTER_EPOCHS = 4  # the default recipe's epochs in the chapter (<= 90 s on 2 cores)
# A training run's settings (its config.json) when not given; `neuralart gan train` shows them.
GAN_TRAIN = {"model": "cgan", "seed": 0, "batch_size": 64, "upsampling": "transpose",
             "limit": None}

# ---------------------------------------------------------------- chapter 06: diffusion
# The denoising U-Net (diffusion_unet): channels at 28, 14 and 7 pixels, GroupNorm groups.
# (16, 32, 32): 134k weights, 247 ms a step at batch 64 on 2 shared cores; (32, 64, 64), 532k
# weights, took 1.1 s a step at batch 128 (benchmarks/bench_diffusion.py).
DIFFUSION_NETWORK = {"widths": (16, 32, 32), "groups": 8}
DIFFUSION_SCHEDULES = ("cosine", "linear")
DIFFUSION_TARGETS = ("eps", "flow")     # predict the noise (Ho et al.) or the velocity (flow matching)
DIFFUSION_SAMPLERS = ("ddim", "ddpm", "euler")
# A training run's settings (its config.json) when not given; `neuralart diffusion train` shows them.
# Flow matching drew better images than the eps target after the same 120 s of training, with
# the same U-Net (compare: benchmarks/bench_diffusion.py --target flow, then --target eps). The
# FIDs once quoted here were removed: the sampler they were drawn with was not recorded.
DIFFUSION_TRAIN = {"target": "flow", "schedule": "cosine", "conditional": False, "seed": 0,
                   "batch_size": 64, "learning_rate": 2e-3, "ema_momentum": 0.99,
                   "label_dropout": 0.15, "widths": list(DIFFUSION_NETWORK["widths"]),
                   "limit": None}
# Drawing: the sampler for each target (deterministic both: DDIM for eps, Euler's method on the
# ODE for flow), the number of network evaluations, the guidance weight w of a conditional model
# (w = 2 rather than 0: more samples recognised by the classifier; measure with
# benchmarks/bench_diffusion.py --guidance 0 2, whose output names the sampler).
DIFFUSION_SAMPLE = {"samplers": {"eps": "ddim", "flow": "euler"}, "steps": 25, "guidance": 2.0}
