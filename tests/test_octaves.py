"""The octave schedule shared by multiscale rendering, DeepDream and the `neuralart` command."""

import pytest

from neuralart_helpers import errors, octaves


def test_octave_shapes_go_from_the_smallest_to_the_full_size():
    shapes = octaves.octave_shapes(1024, 1024, 4, 1.6)
    assert shapes == [(250, 250), (400, 400), (640, 640), (1024, 1024)]  # 1024 / 1.6**3 = 250
    assert octaves.octave_shapes(300, 200, 3, 1.5) == [(133, 89), (200, 133), (300, 200)]
    assert octaves.octave_shapes(98, 98, 3, 1.4) == [(50, 50), (70, 70), (98, 98)]
    assert octaves.octave_shapes(64, 64, 1, 2.0) == [(64, 64)]
    assert octaves.octave_shapes(64, 48, 3, 1.0) == [(64, 48)] * 3  # scale 1: one size, repeated


@pytest.mark.parametrize("num_octaves", [0, -1, 2.5])
def test_bad_numbers_of_octaves_are_refused(num_octaves):
    with pytest.raises(errors.NeuralArtError, match="at least 1"):
        octaves.octave_shapes(64, 64, num_octaves, 1.4)


@pytest.mark.parametrize("octave_scale", [0.9, 0.0, -1.4, float("nan")])
def test_an_octave_scale_below_1_is_refused(octave_scale):
    with pytest.raises(errors.NeuralArtError, match="octave_scale must be at least 1"):
        octaves.octave_shapes(64, 64, 3, octave_scale)
    with pytest.raises(ValueError):  # a NeuralArtError is a ValueError
        octaves.check_octaves(64, 64, 3, octave_scale, 31)


def test_octaves_that_fit():
    # 80 / 1.5**k = 80, 53.3, 35.6, 23.7: three sizes reach 31
    assert octaves.octaves_that_fit(80, 120, 31, 1.5, 10) == 3
    assert octaves.octaves_that_fit(80, 120, 31, 1.5, 2) == 2    # never more than asked
    assert octaves.octaves_that_fit(20, 500, 31, 1.5, 4) == 0    # even the full size is too small
    assert octaves.octaves_that_fit(62, 62, 31, 2.0, 5) == 2     # 62, 31: exactly the minimum
    # 61 / 2 = 30.5 rounds to 30 in octave_shapes, so a second octave does not fit
    assert octaves.octave_shapes(61, 61, 2, 2.0)[0] == (30, 30)
    assert octaves.octaves_that_fit(61, 61, 31, 2.0, 5) == 1


def test_octaves_that_fit_agrees_with_octave_shapes():
    for side in range(31, 200, 3):
        for scale in (1.3, 1.4, 1.5, 2.0):
            fitting = octaves.octaves_that_fit(side, side + 10, 31, scale, 6)
            if fitting:
                assert min(octaves.octave_shapes(side, side + 10, fitting, scale)[0]) >= 31
            if fitting < 6:
                assert min(octaves.octave_shapes(side, side + 10, fitting + 1, scale)[0]) < 31


def test_check_octaves_returns_the_shapes_when_they_fit():
    assert octaves.check_octaves(98, 98, 3, 1.4, 31) == [(50, 50), (70, 70), (98, 98)]


def test_check_octaves_says_how_many_fit():
    with pytest.raises(errors.ImageTooSmallError) as error:
        octaves.check_octaves(80, 120, 4, 1.5, 31, "squeezenet")
    message = str(error.value)
    assert "24x36" in message and "first octave" in message and "31 px" in message
    assert "squeezenet" in message
    assert "use at most 3 octaves" in message
    assert "at least 105 px" in message  # 31 * 1.5**3 = 104.6
    with pytest.raises(errors.ImageTooSmallError, match="use at most 1 octave") as error:
        octaves.check_octaves(61, 61, 2, 2.0, 31)  # not "at most 2": 2 octaves give 30x30
    assert "at least 62 px" in str(error.value)


def test_check_octaves_when_nothing_fits():
    with pytest.raises(errors.ImageTooSmallError, match="enlarge the image to at least 44 px"):
        octaves.check_octaves(20, 40, 2, 1.4, 31)  # 31 * 1.4 = 43.4
