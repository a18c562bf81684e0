"""pyramid.radial_power_spectrum: mean power per frequency ring, relative to white noise."""

import numpy as np
import pytest

from neuralart_helpers import pyramid
from neuralart_helpers.errors import NeuralArtError


def test_white_noise_is_flat_at_one_whatever_its_variance():
    noise = np.random.default_rng(0).normal(size=(128, 128, 3))
    frequency, power = pyramid.radial_power_spectrum(noise * 7.0 + 3.0)
    assert frequency[0] == pytest.approx(1 / 128) and frequency[-1] == pytest.approx(0.5)
    assert len(frequency) == len(power) == 64
    # rings past the first sixteen hold a hundred frequencies or more, so each mean is near 1
    np.testing.assert_allclose(power[16:], 1.0, atol=0.25)
    assert power.mean() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(pyramid.radial_power_spectrum(noise)[1], power, rtol=1e-9)


def test_mean_not_sum_per_ring():
    # Summed per ring, white noise would rise about linearly with frequency (ring length);
    # averaged, the outer half is no higher than the inner half.
    noise = np.random.default_rng(1).normal(size=(96, 96, 1))
    frequency, power = pyramid.radial_power_spectrum(noise)
    inner, outer = power[(frequency > 0.05) & (frequency < 0.15)], power[frequency > 0.35]
    assert outer.mean() / inner.mean() == pytest.approx(1.0, abs=0.15)


def test_a_sinusoid_peaks_at_its_frequency():
    rows = np.arange(64)[:, None, None]
    wave = np.sin(2 * np.pi * 10 * rows / 64) * np.ones((64, 64, 3))
    frequency, power = pyramid.radial_power_spectrum(wave)
    assert frequency[np.argmax(power)] == pytest.approx(10 / 64)
    assert power[np.argmax(power)] > 100 * np.delete(power, np.argmax(power)).max()


def test_blurred_noise_falls_with_frequency():
    noise = np.random.default_rng(2).normal(size=(64, 64, 3)).astype(np.float32)
    blurred = noise - np.asarray(pyramid.lap_split(noise)[1])  # upsample(low): blurred, full size
    frequency, power = pyramid.radial_power_spectrum(blurred)
    assert power[frequency >= 0.25].mean() < 0.01 * power[frequency <= 1 / 8].mean()


def test_rejects_tiny_or_misshapen_arrays():
    with pytest.raises(NeuralArtError, match="at least"):
        pyramid.radial_power_spectrum(np.zeros((2, 2, 3)))
    with pytest.raises(NeuralArtError):
        pyramid.radial_power_spectrum(np.zeros((4, 4, 3, 2)))
