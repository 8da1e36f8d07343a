"""The `kerakit` command: list, train, export, info; user errors exit 2 with one line and no traceback."""

import json
import os
import subprocess
import sys

import keras
import pytest

from kerakit.cli import main

TINY = ["--arg", "filters=(4,8)", "--arg", "convs_per_block=1"]


def test_list_prints_name_family_task_and_description(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["name", "family", "task", "description"]
    lenet = next(line for line in out if line.startswith("lenet5"))
    assert "vision" in lenet and "image_classification" in lenet and "LeNet-5" in lenet
    assert main(["list", "lenet*"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["lenet5"]


def test_train_then_export_a_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--epochs", "2", *TINY, "--run-dir", str(run), "--quiet", "--no-export", "--seed", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "test: " in out and "loss" in out and "accuracy" in out and f"run folder: {run.absolute()}" in out
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    assert main(["export", str(run)]) == 0
    assert "SavedModel (verified, max abs difference" in capsys.readouterr().out
    assert (run / "saved_model" / "saved_model.pb").exists()
    assert main(["export", str(run)]) == 2, "an existing export is not overwritten without --overwrite"
    assert "will not be overwritten" in capsys.readouterr().err


def test_train_with_a_config_file_reruns_the_settings(tmp_path, capsys):
    assert main(["train", "--epochs", "1", *TINY, "--run-dir", str(tmp_path / "a"), "--quiet", "--no-export"]) == 0
    first = json.loads((tmp_path / "a" / "metrics.json").read_text())["test"]
    capsys.readouterr()
    assert main(["train", "--config", str(tmp_path / "a" / "config.json"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "run folder:" in out
    rerun_dir = out.split("run folder: ")[1].splitlines()[0]
    assert json.loads(open(os.path.join(rerun_dir, "metrics.json")).read())["test"] == first


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--blueprint", "resnet5O"], "Unknown blueprint 'resnet5O'"),
        (["train", "--data", "digitz"], "Unknown bundled dataset 'digitz'"),
        (["train", "--epochs", "-1"], "`epochs` must be an integer >= 1. Received: epochs=-1"),
        (["train", "--arg", "activation=relux"], "`activation` must be a Keras activation name"),
        (["train", "--arg", "input_shape=(28,28,1)"], "must be (8, 8, 1) to match the data 'digits'"),
        (["export", "/nonexistent/run"], "/nonexistent/run"),
    ],
)
def test_user_errors_exit_2_with_one_line(argv, message, capsys, tmp_path):
    assert main(argv + (["--run-dir", str(tmp_path / "r")] if argv[0] == "train" else [])) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_corrupt_model_file_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    assert main(["export", str(bad)]) == 2
    assert "is not a readable Keras model file" in capsys.readouterr().err


def test_info_names_the_backend_and_devices(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"backend  {keras.backend.backend()}" in out
    assert f"keras    {keras.__version__}" in out
    assert "devices" in out and "cpu" in out.lower()


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.run([sys.executable, "-m", "kerakit.cli", "train", "--data", "tfds:mnist", "--run-dir",
                            str(tmp_path / "r"), "--tfds-data-dir", str(tmp_path / "empty")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == 2
    assert "Traceback" not in child.stderr
    assert "mnist" in child.stderr and "tfds build" in child.stderr


def test_generate_continues_a_prompt_from_a_saved_language_model(tmp_path, capsys):
    # The language-model run itself (train -> sample.txt, perplexity) is tested in tests/test_sequence_gpt.py.
    import kerakit

    path = tmp_path / "gpt.keras"
    kerakit.build("gpt_nano", num_layers=1, width=16, num_heads=2, max_length=32).save(path)
    assert main(["generate", str(path), "--prompt", "KING:", "--max-new-tokens", "8", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("KING:")
    assert main(["generate", str(path), "--prompt", "KING:", "--max-new-tokens", "8", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first
    assert main(["generate", str(path), "--ids", "75,300", "--max-new-tokens", "2"]) == 2
    assert "token ids in [0, 256)" in capsys.readouterr().err
