"""`neuralart gan` on the command line: train, resume, sample, evaluate; damaged checkpoints
and --resume with flags that contradict the saved run are one-line errors, exit status 2."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from neuralart_helpers import cli, data, gan, images, metrics
from neuralart_helpers.cli import main
from test_gan import all_values, damage_checkpoint  # as in the library tests

pytestmark = pytest.mark.slow  # every test here trains or restores a run through the CLI

# The saved run: an MLP, 128 images in batches of 64 = 2 steps per epoch, seed 3.
TRAIN = ["gan", "train", "--model", "mlp", "--limit", "128", "--batch-size", "64", "--seed", "3",
         "--quiet"]


@pytest.fixture
def one_line_errors(monkeypatch):
    """``main`` as the console script runs it (errors are one line, exit 2), capsys kept."""
    monkeypatch.delenv("NEURALART_DEBUG", raising=False)
    monkeypatch.setattr(cli, "_silence_native_stderr", lambda: None)  # would swap sys.stderr


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A 2-epoch run of TRAIN: checkpoints ckpt-2 and ckpt-4, config.json, samples/."""
    out = tmp_path_factory.mktemp("gan") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEURALART_DEBUG", "1")
        assert main([*TRAIN, "--epochs", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(saved_run, tmp_path):
    """A fresh copy of ``saved_run`` for one test to damage or resume."""
    return shutil.copytree(saved_run, tmp_path / "run")


@pytest.fixture
def train_calls(monkeypatch):
    """Record ``(model, images, epochs, batch size, seed)`` of every ``gan.train_gan`` call."""
    calls, train_gan = [], gan.train_gan

    def recording(model, train_images, epochs, batch_size, seed, **kwargs):
        calls.append((model.name, len(train_images), epochs, batch_size, seed))
        return train_gan(model, train_images, epochs, batch_size, seed, **kwargs)

    monkeypatch.setattr(gan, "train_gan", recording)
    return calls


@pytest.fixture
def quick_classifier(monkeypatch):
    """``gan evaluate``'s classifier trained on 2000 images for one epoch, to keep tests short."""
    train_classifier = metrics.train_classifier
    monkeypatch.setattr(metrics, "train_classifier", lambda images, labels: train_classifier(
        images[:2000], labels[:2000], epochs=1))


def error_line(capsys) -> str:
    """The single line ``main`` wrote on stderr (asserting there was exactly one)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("neuralart gan: error: ") and "Traceback" not in err
    return err


def resume(run, *flags) -> list[str]:
    return ["gan", "train", "--out", str(run), "--epochs", "3", "--resume", "--quiet", *flags]


@pytest.mark.parametrize("command", ["sample", "evaluate", "train --resume"])
@pytest.mark.parametrize("how", ["truncated data", "garbage index"])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(how, command, run, tmp_path, capsys,
                                                          one_line_errors):
    data_file = next(run.glob("ckpt-4.data-*")).name
    damaged = damage_checkpoint(run / "ckpt-4", how)
    argv = {"sample": ["gan", "sample", "--checkpoint", str(run), str(tmp_path / "s.png")],
            "evaluate": ["gan", "evaluate", "--checkpoint", str(run)],
            "train --resume": resume(run)}[command]
    assert main(argv) == 2
    err = error_line(capsys)
    assert f"error: Checkpoint {run / 'ckpt-4'} is damaged ({damaged}: " in err
    assert err.endswith(f"; delete {data_file} and ckpt-4.index in {run} to fall back to the "
                        f"previous checkpoint, ckpt-2.\n")
    assert not (tmp_path / "s.png").exists()
    assert tf.train.latest_checkpoint(str(run)).endswith("ckpt-4")  # nothing was saved


def test_deleting_the_damaged_checkpoint_resumes_from_the_previous_one(run, capsys,
                                                                       one_line_errors):
    damage_checkpoint(run / "ckpt-4", "truncated data")
    assert main(resume(run)) == 2
    for path in run.glob("ckpt-4.*"):  # what the error said to do
        path.unlink()
    capsys.readouterr()
    assert main(resume(run)) == 0
    assert f"resuming {run} at step 2 " in capsys.readouterr().out
    assert tf.train.latest_checkpoint(str(run)).endswith("ckpt-6")


@pytest.mark.parametrize("flag, value, saved", [
    ("--model", "dcgan", "--model mlp"), ("--seed", "4", "--seed 3"),
    ("--batch-size", "32", "--batch-size 64"), ("--upsampling", "resize", "--upsampling transpose"),
    ("--limit", "256", "--limit 128")])
def test_resume_refuses_a_flag_that_contradicts_the_saved_run(flag, value, saved, run, capsys,
                                                              one_line_errors, train_calls):
    config = (run / "config.json").read_text()
    assert main(resume(run, flag, value)) == 2
    err = error_line(capsys)
    assert f"error: --resume: {run} was trained with {saved}, not {flag} {value}; leave {flag} " \
           f"out to continue it" in err
    assert train_calls == [] and (run / "config.json").read_text() == config


def test_resume_refuses_a_limit_when_the_run_had_none(run, capsys, one_line_errors):
    gan.write_config(run, {**gan.read_config(run), "limit": None})
    assert main(resume(run, "--limit", "128")) == 2
    assert f"{run} was trained with no --limit, not --limit 128;" in error_line(capsys)


@pytest.mark.parametrize("flags", [[], ["--model", "mlp", "--seed", "3", "--batch-size", "64",
                                        "--upsampling", "transpose", "--limit", "128"]])
def test_resume_accepts_agreeing_flags_and_takes_the_saved_settings(flags, run, capsys,
                                                                    one_line_errors, train_calls):
    config = gan.read_config(run)
    assert main(resume(run, *flags)) == 0
    assert f"resuming {run} at step 4 (model mlp, seed 3, batch size 64," in capsys.readouterr().out
    assert train_calls == [("mlp_gan", 128, 3, 64, 3)]  # the saved model, limit, batch size, seed
    assert gan.read_config(run) == config
    assert tf.train.latest_checkpoint(str(run)).endswith("ckpt-6")


def test_a_new_run_takes_its_defaults_from_the_library(tmp_path, monkeypatch, one_line_errors,
                                                       train_calls):
    for name, value in {"seed": 5, "batch_size": 32, "limit": 64}.items():
        monkeypatch.setitem(gan.TRAIN_DEFAULTS, name, value)
    assert main(["gan", "train", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    model = gan.TRAIN_DEFAULTS["model"]
    assert train_calls == [(f"{model.replace('-', '_')}_gan", 64, 1, 32, 5)]
    assert gan.read_config(tmp_path) == {"model": model, "seed": 5, "batch_size": 32,
                                         "upsampling": "transpose", "limit": 64,
                                         "latent_dim": gan.LATENT_DIM}


def test_train_help_shows_the_library_defaults_and_choices(monkeypatch, capsys, one_line_errors):
    monkeypatch.setitem(gan.TRAIN_DEFAULTS, "batch_size", 96)
    with pytest.raises(SystemExit) as exited:
        main(["gan", "train", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for expected in (f"--model {{{','.join(gan.MODELS)}}}",
                     f"dcgan: convolutional (default {gan.TRAIN_DEFAULTS['model']})", "images per step (default 96)",
                     "noise (default 0)", "convolution (default transpose)"):
        assert expected in text
    assert "(default None)" not in text
    assert f"{{{','.join(gan.MODELS)}}}" in text and f"{{{','.join(gan.UPSAMPLING)}}}" in text


def test_cli_train_resume_sample_evaluate(tmp_path, capsys, quick_classifier, one_line_errors):
    out = tmp_path / "run"
    arguments = ["gan", "train", "--model", "mlp", "--limit", "256", "--batch-size", "64",
                 "--out", str(out), "--seed", "3", "--quiet"]
    assert main(arguments + ["--epochs", "1"]) == 0
    assert main(arguments + ["--epochs", "1"]) == 2  # refuses to overwrite a run
    assert "--resume" in error_line(capsys)
    assert main(arguments + ["--epochs", "2", "--resume"]) == 0
    assert (out / "progress.gif").is_file() and (out / "samples" / "epoch_002.png").is_file()
    assert gan.read_config(out)["seed"] == 3

    assert main(["gan", "sample", "--checkpoint", str(out), "--n", "9", str(tmp_path / "s.png")]) == 0
    assert images.load_image(tmp_path / "s.png").shape == (3 * 30 + 2, 3 * 30 + 2, 3)

    capsys.readouterr()
    assert main(["gan", "evaluate", "--checkpoint", str(out), "--samples", "500"]) == 0
    report = capsys.readouterr().out
    assert "after 8 steps" in report and "classifier FID:" in report and "Ankle boot" in report

    assert main(["gan", "sample", "--checkpoint", str(tmp_path), "x.png"]) == 2
    assert "config.json not found" in error_line(capsys)


def restored(folder):
    model = gan.build_gan("mlp", seed=0)
    gan.restore_latest(model, folder)
    return model


def test_time_limit_stops_at_a_step_saves_it_and_resumes_exactly(saved_run, tmp_path, capsys,
                                                                  one_line_errors):
    out = tmp_path / "limited"
    # Any step takes more than a nanosecond: the limit stops training after the first step,
    # half-way through the first epoch (2 steps per epoch), whatever the machine's speed.
    assert main([*TRAIN, "--time-limit", "1e-9", "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert report.startswith("time limit: stopped after 1 steps (0.50 epochs) in ")
    assert report.endswith(f" s of training; saved {out / 'ckpt-1'} (step 1, epoch 0.50)\n")
    assert tf.train.latest_checkpoint(str(out)).endswith("ckpt-1")
    assert (out / "samples" / "epoch_001.png").is_file()  # the grid where it stopped
    # --resume with a time limit and no --epochs: one more step, the end of the first epoch.
    assert main(["gan", "train", "--out", str(out), "--resume", "--time-limit", "1e-9",
                 "--quiet"]) == 0
    assert "stopped after 1 steps (0.50 epochs)" in capsys.readouterr().out
    assert [path.name for path in sorted(out.glob("ckpt-*.index"))] == ["ckpt-1.index",
                                                                         "ckpt-2.index"]
    assert main(["gan", "train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 0
    assert "trained 2 epochs" in capsys.readouterr().out
    assert tf.train.latest_checkpoint(str(out)).endswith("ckpt-4")
    for expected, value in zip(all_values(restored(saved_run)), all_values(restored(out))):
        np.testing.assert_array_equal(expected, value)  # the uninterrupted 2-epoch run


@pytest.mark.parametrize("value", ["0", "-5", "inf", "nan"])
def test_a_time_limit_that_is_not_positive_and_finite_is_one_line(value, tmp_path, capsys,
                                                                  one_line_errors, train_calls):
    assert main([*TRAIN, f"--time-limit={value}", "--out", str(tmp_path / "run")]) == 2
    assert "positive, finite number of seconds, got " in error_line(capsys)
    assert train_calls == [] and not (tmp_path / "run").exists()


def test_train_needs_epochs_or_a_time_limit(tmp_path, capsys, one_line_errors, train_calls):
    assert main([*TRAIN, "--out", str(tmp_path / "run")]) == 2
    assert "--epochs N, --time-limit SECONDS, or both" in error_line(capsys)
    assert train_calls == []


def test_sample_writes_the_raw_samples_to_npy_and_the_same_pixels_to_the_grid(saved_run, tmp_path,
                                                                              capsys):
    assert main(["gan", "sample", "--checkpoint", str(saved_run), "--n", "4", "--seed", "2",
                 str(tmp_path / "s.npy")]) == 0
    assert main(["gan", "sample", "--checkpoint", str(saved_run), "--n", "4", "--seed", "2",
                 str(tmp_path / "s.png")]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["s.npy", "s.png"]
    samples = np.load(tmp_path / "s.npy")
    assert samples.dtype == np.uint8 and samples.shape == (4, 28, 28)
    model = restored(saved_run)
    expected = data.unscale_images(model.generate(gan.fixed_noise(4, gan.LATENT_DIM, 2)))[..., 0]
    np.testing.assert_allclose(samples, expected, atol=0.5 + 1e-3)  # rounded to grey levels
    grid = images.load_image(tmp_path / "s.png")  # 2x2 tiles of 28 px, 2 px white gaps
    assert grid.shape == (2 * 30 + 2, 2 * 30 + 2, 3)
    for index, sample in enumerate(samples):
        top, left = 2 + 30 * (index // 2), 2 + 30 * (index % 2)
        np.testing.assert_array_equal(grid[top:top + 28, left:left + 28, 0], sample)
    assert np.all(grid[:2] == 255) and np.all(grid[:, 30:32] == 255)


def test_sample_refuses_other_extensions_naming_the_accepted_ones(saved_run, tmp_path, capsys,
                                                                  one_line_errors):
    assert main(["gan", "sample", "--checkpoint", str(saved_run), str(tmp_path / "s.gif")]) == 2
    err = error_line(capsys)
    assert f"Cannot save samples to {tmp_path / 's.gif'}: use a name ending in .png, .jpg or " \
           f".jpeg (a grid picture) or .npy" in err
    assert list(tmp_path.iterdir()) == []


def test_help_describes_the_time_limit_and_the_npy_output(capsys):
    for action, expected in (("train", "--time-limit SECONDS"), ("sample", "OUT.npy: the samples "
                                                                           "themselves, uint8")):
        with pytest.raises(SystemExit):
            main(["gan", action, "--help"])
        assert expected in " ".join(capsys.readouterr().out.split())


def test_the_default_recipe_resumes_exactly_and_samples_with_its_average(tmp_path, capsys,
                                                                          one_line_errors):
    base = ["gan", "train", "--limit", "128", "--batch-size", "32", "--quiet"]  # 4 steps an epoch
    assert main([*base, "--epochs", "2", "--out", str(tmp_path / "whole")]) == 0
    assert main([*base, "--time-limit", "1e-9", "--out", str(tmp_path / "cut")]) == 0
    assert main(["gan", "train", "--out", str(tmp_path / "cut"), "--resume", "--epochs", "2",
                 "--quiet"]) == 0
    whole, cut = (gan.build_gan(seed=0) for _ in range(2))
    assert gan.restore_latest(whole, tmp_path / "whole") == gan.restore_latest(cut, tmp_path / "cut")
    assert gan.read_config(tmp_path / "cut")["model"] == gan.TRAIN_DEFAULTS["model"]
    for expected, value in zip(all_values(whole), all_values(cut)):  # EMA included
        np.testing.assert_array_equal(expected, value)
    assert main(["gan", "sample", "--checkpoint", str(tmp_path / "cut"), "--n", "4",
                 str(tmp_path / "s.npy")]) == 0
    noise, classes = gan.fixed_noise(4, gan.LATENT_DIM, 0), np.arange(4)  # classes in turn
    averaged = data.save_samples(tmp_path / "averaged.npy", whole.generate(noise))
    raw = data.save_samples(tmp_path / "raw.npy",
                            whole.generator([noise, classes], training=False).numpy())
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), np.load(averaged))
    assert not np.array_equal(np.load(averaged), np.load(raw))


def test_a_conditional_run_samples_the_class_asked_for_by_name_or_number(tmp_path, capsys,
                                                                         quick_classifier,
                                                                         one_line_errors):
    out = tmp_path / "cgan"
    assert main(["gan", "train", "--model", "cgan", "--limit", "128", "--batch-size", "64",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    model = gan.build_gan("cgan", seed=0)
    gan.restore_latest(model, out)
    noise = gan.fixed_noise(3, gan.LATENT_DIM, 0)
    expected = data.unscale_images(model.generate(noise, [7, 7, 7]))[..., 0]
    for name in ("sneaker", "Sneaker", "SNEAKER", "7"):
        path = tmp_path / f"{name}.npy"
        assert main(["gan", "sample", "--checkpoint", str(out), "--n", "3", "--class", name,
                     str(path)]) == 0
        np.testing.assert_allclose(np.load(path), expected, atol=0.5 + 1e-3)
    assert main(["gan", "sample", "--checkpoint", str(out), "--n", "10",
                 str(tmp_path / "even.npy")]) == 0  # no --class: every class in turn
    evenly = model.generate(gan.fixed_noise(10, gan.LATENT_DIM, 0), np.arange(10))
    np.testing.assert_allclose(np.load(tmp_path / "even.npy"),
                               data.unscale_images(evenly)[..., 0], atol=0.5 + 1e-3)
    assert main(["gan", "sample", "--checkpoint", str(out), "--n", "20",
                 str(tmp_path / "even.png")]) == 0  # ten columns: one class each
    assert images.load_image(tmp_path / "even.png").shape == (2 * 30 + 2, 10 * 30 + 2, 3)
    assert images.load_image(out / "samples" / "epoch_001.png").shape == (2 * 30 + 2, 10 * 30 + 2, 3)
    capsys.readouterr()
    assert main(["gan", "evaluate", "--checkpoint", str(out), "--samples", "200"]) == 0
    report = capsys.readouterr().out
    assert "classified as the class asked for: T-shirt/top " in report and "Ankle boot " in report
    for name in ("sneakers", "²"):
        assert main(["gan", "sample", "--checkpoint", str(out), "--class", name,
                     str(tmp_path / "x.png")]) == 2
        err = error_line(capsys)
        assert f"Unknown class {name!r}" in err and ", ".join(data.CLASS_NAMES) in err
    capsys.readouterr()
    assert main(["gan", "sample", "--checkpoint", str(out), "--class", "sneakers",
                 str(tmp_path / "x.png")]) == 2
    err = error_line(capsys)
    assert "Unknown class 'sneakers'" in err and ", ".join(data.CLASS_NAMES) in err
    assert not (tmp_path / "x.png").exists()


def test_class_of_an_unconditional_run_is_one_line(saved_run, tmp_path, capsys, one_line_errors):
    assert main(["gan", "sample", "--checkpoint", str(saved_run), "--class", "bag",
                 str(tmp_path / "x.png")]) == 2
    assert "--class needs a conditional run (--model cgan)" in error_line(capsys)
