"""Colour in style transfer (chapter 04): keep the photo's colours, or recolour the painting.

Gatys et al. 2016 ("Preserving color in neural artistic style transfer") give two
recipes: transfer on luminance only and put the photo's chroma back
(:func:`luminance_only_inputs`, :func:`combine_luminance_chroma`, in YIQ), or
recolour the painting to the photo's palette first. Their recolouring is *linear*
(:func:`linear_color_transfer`: match the mean and the covariance of the RGB
values); per-channel histogram matching (:func:`match_histograms`) is a variant
that also matches each channel's shape but ignores how channels vary together.

Images are ``(H, W, 3)`` float32 RGB in ``[0, 255]``; results are clipped to it.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB in [0, 255] -> YIQ (Y in [0, 255], I and Q signed); ``tf.image.rgb_to_yiq``."""
    return tf.image.rgb_to_yiq(np.asarray(image, np.float32)).numpy()


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_yiq` (no clipping); ``tf.image.yiq_to_rgb``."""
    return tf.image.yiq_to_rgb(np.asarray(image, np.float32)).numpy()


def luminance_only_inputs(content_image: np.ndarray, style_image: np.ndarray):
    """Grey versions of both images for luminance-only transfer (Gatys et al. 2016).

    The style's luminance is shifted and scaled to the content's mean and standard
    deviation, so the result keeps the photo's brightness. Returns two ``(H, W, 3)``
    images whose three channels are equal.
    """
    content_luma = rgb_to_yiq(content_image)[..., 0]
    style_luma = rgb_to_yiq(style_image)[..., 0]
    style_luma = (style_luma - style_luma.mean()) / (style_luma.std() + 1e-6)
    style_luma = style_luma * content_luma.std() + content_luma.mean()
    grey = lambda luma: np.repeat(np.clip(luma, 0, 255)[..., None], 3, axis=2).astype(np.float32)
    return grey(content_luma), grey(style_luma)


def combine_luminance_chroma(luminance_image: np.ndarray, chroma_image: np.ndarray) -> np.ndarray:
    """Y of ``luminance_image`` with I and Q of ``chroma_image`` (same shape), as RGB [0, 255]."""
    yiq = rgb_to_yiq(chroma_image)
    yiq[..., 0] = rgb_to_yiq(luminance_image)[..., 0]
    return np.clip(yiq_to_rgb(yiq), 0, 255).astype(np.float32)


def linear_color_transfer(style_image: np.ndarray, content_image: np.ndarray) -> np.ndarray:
    """Recolour ``style_image`` by ``x -> A x + b`` so its RGB mean and covariance are the content's.

    Gatys et al. 2016, section 2.1: with means ``mu`` and covariances ``Sigma`` of the
    pixels' RGB vectors, ``A = Sigma_c^(1/2) Sigma_s^(-1/2)`` (symmetric square roots)
    and ``b = mu_c - A mu_s``. Returns an ``(H, W, 3)`` image of the style's size, clipped
    to ``[0, 255]`` (clipping moves the statistics a little when the photo is extreme).
    """
    from scipy.linalg import sqrtm

    style_pixels = np.asarray(style_image, np.float64).reshape(-1, 3)
    content_pixels = np.asarray(content_image, np.float64).reshape(-1, 3)
    regulariser = 1e-3 * np.eye(3)  # a flat (one-colour) image has a singular covariance
    style_cov = np.cov(style_pixels, rowvar=False) + regulariser
    content_cov = np.cov(content_pixels, rowvar=False) + regulariser
    transform = np.real(sqrtm(content_cov) @ np.linalg.inv(np.real(sqrtm(style_cov))))
    recoloured = (style_pixels - style_pixels.mean(axis=0)) @ transform.T + content_pixels.mean(axis=0)
    return np.clip(recoloured.reshape(np.shape(style_image)), 0, 255).astype(np.float32)


def match_histograms(style_image: np.ndarray, content_image: np.ndarray) -> np.ndarray:
    """Recolour ``style_image`` so each RGB channel has the content's histogram (skimage).

    Transfer with this recoloured style and the palette of the result is the photo's.
    """
    from skimage.exposure import match_histograms as skimage_match

    matched = skimage_match(style_image, content_image, channel_axis=-1)
    return np.clip(matched, 0, 255).astype(np.float32)
