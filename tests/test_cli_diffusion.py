"""`neuralart diffusion` on the command line: train, resume, sample, evaluate; bad inputs are
one-line errors with exit status 2."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import data, diffusion, diffusion_sampling, images
from neuralart_helpers.cli import main
from test_cli_gan import one_line_errors, quick_classifier  # noqa: F401 - fixtures, as for the GAN
from test_diffusion import all_values

pytestmark = pytest.mark.slow  # every test here trains or restores a run through the CLI

# The saved run: a tiny conditional U-Net, 128 images in batches of 64 = 2 steps an epoch.
TRAIN = ["diffusion", "train", "--conditional", "--target", "flow", "--widths", "8", "16", "16", "--limit", "128",
         "--batch-size", "64", "--seed", "3", "--quiet"]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A 2-epoch run of TRAIN: checkpoints ckpt-2 and ckpt-4, config.json, samples/."""
    out = tmp_path_factory.mktemp("diffusion") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEURALART_DEBUG", "1")
        assert main([*TRAIN, "--epochs", "2", "--out", str(out)]) == 0
    return out


def error_line(capsys, command: str = "diffusion") -> str:
    """The single line ``main`` wrote on stderr (asserting there was exactly one)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"neuralart {command}: error: ") and "Traceback" not in err
    return err


def restored(folder) -> diffusion.DiffusionModel:
    model = diffusion.build_diffusion("flow", conditional=True, widths=(8, 16, 16), seed=0)
    diffusion.restore_latest(model, folder)
    return model


def test_train_saves_checkpoints_settings_and_grids(saved_run):
    assert tf.train.latest_checkpoint(str(saved_run)).endswith("ckpt-4")
    config = diffusion.read_config(saved_run)
    assert config == {**diffusion.TRAIN_DEFAULTS, "kind": "diffusion", "conditional": True,
                      "target": "flow",
                      "widths": [8, 16, 16], "limit": 128, "batch_size": 64, "seed": 3}
    assert (saved_run / "progress.gif").is_file()
    grid = images.load_image(saved_run / "samples" / "epoch_002.png")
    assert grid.shape == (2 * 30 + 2, 10 * 30 + 2, 3)  # 20 images, a class a column


def test_time_limit_then_resume_equals_the_uninterrupted_run(saved_run, tmp_path, capsys,
                                                             one_line_errors):
    out = tmp_path / "limited"
    assert main([*TRAIN, "--time-limit", "1e-9", "--out", str(out)]) == 0  # --epochs left out
    assert "time limit: stopped after 1 steps (0.50 epochs)" in capsys.readouterr().out
    assert main(["diffusion", "train", "--out", str(out), "--resume", "--epochs", "2",
                 "--quiet"]) == 0
    assert f"resuming {out} at step 1 " in capsys.readouterr().out
    assert tf.train.latest_checkpoint(str(out)).endswith("ckpt-4")
    for expected, value in zip(all_values(restored(saved_run)), all_values(restored(out)),
                               strict=True):
        np.testing.assert_array_equal(expected, value)


def test_sample_draws_the_class_asked_for_and_writes_grid_and_npy(saved_run, tmp_path):
    model = restored(saved_run)
    guided = diffusion_sampling.sample(model, 3, "euler", 2, [7, 7, 7], 1.5, seed=2)  # flow's
    for name in ("sneaker", "SNEAKER", "7"):
        path = tmp_path / f"{name}.npy"
        assert main(["diffusion", "sample", "--checkpoint", str(saved_run), "--n", "3", "--steps",
                     "2", "--class", name, "--guidance", "1.5", "--seed", "2", str(path)]) == 0
        pixels = np.load(path)
        assert pixels.dtype == np.uint8 and pixels.shape == (3, 28, 28)
        np.testing.assert_allclose(pixels, data.unscale_images(guided)[..., 0], atol=0.5 + 1e-3)
    assert main(["diffusion", "sample", "--checkpoint", str(saved_run), "--n", "4", "--steps",
                 "2", "--sampler", "ddpm", "--class", "bag", str(tmp_path / "s.npy")]) == 0
    assert main(["diffusion", "sample", "--checkpoint", str(saved_run), "--n", "4", "--steps",
                 "2", "--sampler", "ddpm", "--class", "bag", str(tmp_path / "s.png")]) == 0
    grid, samples = images.load_image(tmp_path / "s.png"), np.load(tmp_path / "s.npy")
    assert grid.shape == (2 * 30 + 2, 2 * 30 + 2, 3)  # 2x2 tiles of 28 px, 2 px white gaps
    for index, sample in enumerate(samples):
        top, left = 2 + 30 * (index // 2), 2 + 30 * (index % 2)
        np.testing.assert_array_equal(grid[top:top + 28, left:left + 28, 0], sample)
    assert np.all(grid[:2] == 255) and np.all(grid[:, 30:32] == 255)
    # No --class: every class in turn, a column each.
    assert main(["diffusion", "sample", "--checkpoint", str(saved_run), "--n", "20", "--steps",
                 "1", str(tmp_path / "even.png")]) == 0
    assert images.load_image(tmp_path / "even.png").shape == (2 * 30 + 2, 10 * 30 + 2, 3)


def test_evaluate_prints_fid_histogram_and_classes_asked_for(saved_run, capsys, quick_classifier):
    assert main(["diffusion", "evaluate", "--checkpoint", str(saved_run), "--samples", "100",
                 "--steps", "2"]) == 0
    report = capsys.readouterr().out
    assert "flow diffusion after 4 steps, euler 2 steps, guidance 2, seed 12345" in report
    assert "classified as the class asked for: T-shirt/top " in report
    assert "classifier FID:" in report and "Ankle boot" in report


@pytest.fixture(scope="module")
def unconditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusion") / "plain"
    assert main(["diffusion", "train", "--widths", "8", "16", "16", "--limit", "64",
                 "--batch-size", "64", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan") / "run"
    assert main(["gan", "train", "--model", "mlp", "--limit", "64", "--batch-size", "64",
                 "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("flags, expected", [
    (["--class", "sneakers"], "Unknown class 'sneakers': use a number from 0 to 9 or one of "
                              "T-shirt/top, Trouser,"),
    (["--steps", "0"], "--steps must be at least 1, got 0."),
    (["--guidance", "nan"], "--guidance must be a finite number, got nan."),
    (["--guidance", "inf"], "--guidance must be a finite number, got inf."),
    (["--n", "0"], "--n must be at least 1."),
])
def test_bad_sampling_flags_are_one_line(flags, expected, saved_run, tmp_path, capsys,
                                         one_line_errors):
    assert main(["diffusion", "sample", "--checkpoint", str(saved_run), *flags,
                 str(tmp_path / "x.png")]) == 2
    assert expected in error_line(capsys)
    assert not (tmp_path / "x.png").exists()


def test_class_or_guidance_on_an_unconditional_run_is_one_line(unconditional_run, tmp_path,
                                                               capsys, one_line_errors):
    for flags, expected in ((["--class", "bag"], "--class needs a conditional run (train with "
                                                 "--conditional)"),
                            (["--guidance", "2"], "Guidance needs a conditional model")):
        assert main(["diffusion", "sample", "--checkpoint", str(unconditional_run), *flags,
                     str(tmp_path / "x.png")]) == 2
        assert expected in error_line(capsys)
    assert main(["diffusion", "sample", "--checkpoint", str(unconditional_run), "--n", "2",
                 "--steps", "1", str(tmp_path / "x.png")]) == 0  # no guidance by default


def test_a_checkpoint_of_another_model_is_one_line(saved_run, gan_run, tmp_path, capsys,
                                                   one_line_errors):
    for action in (["sample", str(tmp_path / "x.png")], ["evaluate"]):
        assert main(["diffusion", action[0], "--checkpoint", str(gan_run), *action[1:]]) == 2
        assert (f"{gan_run} holds a GAN run (model mlp), not a diffusion model;"
                in error_line(capsys))
    assert main(["gan", "sample", "--checkpoint", str(saved_run), str(tmp_path / "x.png")]) == 2
    assert "holds a diffusion run, not a GAN" in error_line(capsys, "gan")
    assert main(["diffusion", "sample", "--checkpoint", str(tmp_path / "empty"),
                 str(tmp_path / "y.png")]) == 2
    assert "config.json not found" in error_line(capsys)
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def test_resuming_a_run_of_the_other_kind_is_one_line(saved_run, gan_run, tmp_path, capsys,
                                                      one_line_errors):
    gan_copy = shutil.copytree(gan_run, tmp_path / "gan")
    diffusion_copy = shutil.copytree(saved_run, tmp_path / "diffusion")
    assert main(["diffusion", "train", "--resume", "--epochs", "3", "--quiet",
                 "--out", str(gan_copy)]) == 2
    assert (f"--resume: {gan_copy} holds a gan run, not a diffusion run; continue it with "
            f"`neuralart gan train --resume`" in error_line(capsys))
    assert main(["gan", "train", "--resume", "--epochs", "3", "--quiet",
                 "--out", str(diffusion_copy)]) == 2
    assert (f"--resume: {diffusion_copy} holds a diffusion run, not a gan run; continue it with "
            f"`neuralart diffusion train --resume`" in error_line(capsys, "gan"))
    assert tf.train.latest_checkpoint(str(diffusion_copy)).endswith("ckpt-4")


def test_train_refuses_bad_settings_in_one_line(saved_run, tmp_path, capsys, one_line_errors):
    copy = shutil.copytree(saved_run, tmp_path / "run")
    for argv, expected in (
            ([*TRAIN, "--out", str(tmp_path / "new")], "--epochs N, --time-limit SECONDS, or both"),
            ([*TRAIN, "--epochs", "1", "--out", str(copy)], "already holds a training run"),
            (["diffusion", "train", "--out", str(copy), "--resume", "--epochs", "3",
              "--target", "eps"], f"{copy} was trained with --target flow, not --target eps"),
            (["diffusion", "train", "--out", str(copy), "--resume", "--epochs", "3",
              "--widths", "8", "8", "8"], "was trained with --widths 8 16 16, not --widths 8 8 8"),
            (["diffusion", "train", "--out", str(tmp_path / "new"), "--time-limit", "0"],
             "positive, finite number of seconds"),
            ([*TRAIN, "--epochs", "1", "--schedule", "linear", "--out", str(tmp_path / "new")],
             "--schedule sets the noise of the eps target; a flow run uses the straight path."),
            ([*TRAIN, "--epochs", "1", "--limit", "0", "--out", str(tmp_path / "new")],
             "--limit must be at least 1 image, got 0."),
            ([*TRAIN, "--epochs", "1", "--widths", "8", "0", "8", "--out", str(tmp_path / "new")],
             "--widths must all be at least 1, got 8 0 8."),
            ([*TRAIN, "--epochs", "1", "--learning-rate", "0", "--out", str(tmp_path / "new")],
             "--learning-rate must be a positive number, got 0.0."),
            ([*TRAIN, "--epochs", "1", "--learning-rate", "nan", "--out", str(tmp_path / "new")],
             "--learning-rate must be a positive number, got nan.")):
        assert main(argv) == 2
        assert expected in error_line(capsys)
    assert tf.train.latest_checkpoint(str(copy)).endswith("ckpt-4")
    assert not (tmp_path / "new").exists()


def test_help_lists_the_library_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["diffusion", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default {diffusion.TRAIN_DEFAULTS['batch_size']})" in text
    widths = " ".join(map(str, diffusion.TRAIN_DEFAULTS["widths"]))
    assert "--target {eps,flow}" in text and f"(default {widths})" in text
    with pytest.raises(SystemExit):
        main(["diffusion", "sample", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--sampler {ddim,ddpm,euler}" in text and "0 is the conditional model itself" in text
    assert "(default ddim for an eps run, euler for a flow run)" in text
    assert "seed of the noise (default 0)" in text and text.count("(default 0)") == 1
    with pytest.raises(SystemExit):
        main(["diffusion", "evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "seed of the noise (default 12345)" in text and "(default 0)" not in text


def test_evaluate_draws_with_the_seed_given(saved_run, capsys, quick_classifier, monkeypatch):
    seeds = []
    real_sample = diffusion_sampling.sample

    def recording_sample(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(diffusion_sampling, "sample", recording_sample)
    fids = []
    for seed in ("7", "8"):
        assert main(["diffusion", "evaluate", "--checkpoint", str(saved_run), "--samples", "100",
                     "--steps", "1", "--seed", seed]) == 0
        report = capsys.readouterr().out
        assert f", seed {seed}" in report
        fids.append(report.split("classifier FID:")[1].split()[0])
    assert seeds == [7, 8] and fids[0] != fids[1]


def test_the_default_sampler_is_ddim_for_eps_and_euler_for_flow(saved_run, tmp_path,
                                                                monkeypatch):
    eps_run = tmp_path / "eps"
    assert main(["diffusion", "train", "--target", "eps", "--widths", "8", "16", "16",
                 "--limit", "64", "--batch-size", "64", "--epochs", "1", "--quiet",
                 "--out", str(eps_run)]) == 0
    samplers = []  # the sampler sample() settles on, as it checks its settings
    real_check = diffusion_sampling._check_sampling
    monkeypatch.setattr(diffusion_sampling, "_check_sampling",
                        lambda model, count, sampler, *rest: samplers.append(sampler)
                        or real_check(model, count, sampler, *rest))
    for run in (eps_run, saved_run):
        assert main(["diffusion", "sample", "--checkpoint", str(run), "--n", "2", "--steps", "1",
                     str(tmp_path / "x.npy")]) == 0
    assert samplers == ["ddim", "euler"]
