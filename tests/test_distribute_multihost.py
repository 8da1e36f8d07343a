"""Tests for multi-process data parallelism, model parallelism and their bad input (`kerakit.distribute`).

The JAX jobs run in child processes (`tests/_multihost_child.py`) over loopback, on a free port each: two processes
that train `kerakit.train`'s MLP data-parallel (one killed mid-run, both restarted, the run resumed), compared with
one process alone; gpt_nano sharded over 4 virtual CPU devices. On TensorFlow only the refusals run (cheap).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

import kerakit.distribute as distribute
from kerakit.errors import KerakitError

CHILD = pathlib.Path(__file__).with_name("_multihost_child.py")
# Two processes compute each global batch's gradient as a sum of two per-process halves (an all-reduce over gloo),
# one process as one sum: float32 rounding only. Measured: weights within 3e-8 and losses within 2e-7 after 24 SGD
# steps; the tolerance leaves ~30x headroom and is far below the 1e-2 a wrong data order produced.
WEIGHT_ATOL = 1e-6
jax_only = pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                              reason="multi-process and model-parallel training run on JAX only (keras.distribution)")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env(devices=None):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    if devices:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    return env


def start(*args, devices=None):
    return subprocess.Popen([sys.executable, str(CHILD), *map(str, args)], env=child_env(devices),
                            cwd=CHILD.parent.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result_of(process, timeout=150):
    out, err = process.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, err[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """Starts every child at once (they mostly wait on imports and each other), then collects them."""
    folder = tmp_path_factory.mktemp("multihost")
    run_dir = folder / "run"
    model_parallel = start("model_parallel", devices=4)
    unreachable = start("unreachable", free_port())
    # Round 1: process 1 is killed (SIGKILL) in the middle of epoch 2 of 3; process 0 is left waiting in a collective,
    # as a real job would be, and is stopped too. Round 2: both restart with the same command (started now, so that
    # they import while round 1 runs; they join when round 1 is over).
    port, restart_port = free_port(), free_port()
    first = [start("job", port, 2, index, run_dir, 1) for index in (0, 1)]
    second = [start("job", restart_port, 2, index, run_dir, -1, "wait") for index in (0, 1)]
    try:
        first[1].wait(timeout=150)
    finally:
        first[0].kill()
        first[0].wait()
    killed = {"returncode": first[1].returncode, "status": json.loads((run_dir / "status.json").read_text())}
    for process in second:
        process.stdin.write("go\n")
        process.stdin.flush()
    results = {"killed": killed, "run": [result_of(process) for process in second], "run_dir": run_dir,
               "model_parallel": result_of(model_parallel), "unreachable": result_of(unreachable)}
    return results


@jax_only
def test_two_processes_train_like_one_process_on_the_same_global_batches(jobs):
    zero, one = jobs["run"]
    assert zero["global_devices"] == 2 and zero["devices"] == one["devices"] and len(zero["devices"]) == 2
    assert zero["describe"] == "DataParallel on 2 devices of 2 processes (jax; this is process 0)"
    assert len(zero["losses"]) == 3 and zero["losses"] == one["losses"]
    np.testing.assert_allclose(zero["losses"], zero["single"]["losses"], rtol=1e-5)
    for got, other, want in zip(zero["weights"], one["weights"], zero["single"]["weights"]):
        np.testing.assert_allclose(got, want, rtol=0, atol=WEIGHT_ATOL)
        np.testing.assert_array_equal(got, other)  # both processes hold the same replicated weights


@jax_only
def test_a_killed_job_resumes_from_the_last_backup(jobs):
    assert jobs["killed"]["returncode"] == -9
    # Process 0 learnt of the loss of process 1 (and recorded a failure) or was still waiting when it was stopped.
    assert jobs["killed"]["status"]["status"] in ("running", "failed")
    assert jobs["killed"]["status"]["epochs_done"] == 1
    zero, one = jobs["run"]
    assert zero["resumed"] and one["resumed"]
    assert zero["epochs_trained_here"] == [1, 2] and one["epochs_trained_here"] == [1, 2]  # not from scratch
    status = json.loads((jobs["run_dir"] / "status.json").read_text())
    assert status["status"] == "complete" and status["epochs_done"] == 3


@jax_only
def test_only_process_zero_writes_the_run_folder(jobs):
    assert {"config.json", "history.csv", "model.keras", "metrics.json", "status.json"} <= set(jobs["run"][0]["files"])
    assert not (jobs["run_dir"] / "backup").exists()  # deleted by process 0 at the end
    history = (jobs["run_dir"] / "history.csv").read_text().splitlines()
    assert len(history) == 4  # a header and epochs 0-2, each written once (by process 0)


@jax_only
def test_model_parallel_shards_a_transformer_and_matches_one_device(jobs):
    result = jobs["model_parallel"]
    assert result["mesh"] == [1, 4]
    layouts = result["layouts"]
    query = next(layout for path, layout in layouts.items() if path.endswith("self_attention/query/kernel"))
    assert query["shape"] == [16, 4, 4] and query["spec"] == [None, "model", None]
    assert query["devices"] == 4 and query["shard_shapes"] == [[16, 1, 4]]  # each device holds 1/4
    assert query["shard_elements"] == 16 * 4 * 4  # four quarters: nothing duplicated
    def first(suffix):
        return next(layout for path, layout in layouts.items() if path.endswith(suffix))

    assert first("feedforward_intermediate/kernel")["shard_shapes"] == [[16, 16]]  # 64 units: 16 per device
    assert first("feedforward_output/kernel")["shard_shapes"] == [[16, 16]]
    assert layouts["gpt_nano_embedding/token_embedding/embeddings"]["shard_shapes"] == [[32, 4]]
    norm = layouts["gpt_nano_final_norm/gamma"]
    assert norm["spec"] == [None] and norm["shard_shapes"] == [[16]]  # replicated
    sharded = [path for path, layout in layouts.items() if "model" in layout["spec"]]
    assert len(sharded) == 2 * 10 + 1  # per block: q/k/v kernels and biases, output, feed-forward (3); embedding
    np.testing.assert_allclose(result["sharded"], result["single"], rtol=1e-5)


@jax_only
def test_a_layout_that_does_not_divide_a_weight_is_refused(jobs):
    message = jobs["model_parallel"]["indivisible"]
    assert "/self_attention/query/kernel' (shape (16, 2, 8))" in message
    assert "dimension 1 of size 2 is not divisible by mesh axis 'model' of size 4" in message


@jax_only
def test_an_unreachable_coordinator_fails_after_the_timeout(jobs):
    result = jobs["unreachable"]
    assert "could not reach the coordinator at '127.0.0.1:" in result["error"]
    assert "within 3 s" in result["error"]
    assert 3 <= result["seconds"] < 15


# ---- in-process: arguments (no backend started) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments, match",
    [
        ({"coordinator": "127.0.0.1:1234", "num_processes": 2, "process_id": 2},
         r"`process_id` must be an integer from 0 to 1 \(`num_processes` is 2\)\. Received: process_id=2"),
        ({"coordinator": "127.0.0.1:1234", "num_processes": 2, "process_id": -1}, r"`process_id` must be an integer"),
        ({"coordinator": "127.0.0.1:1234", "num_processes": 0, "process_id": 0}, r"`num_processes` must be"),
        ({"coordinator": "127.0.0.1", "num_processes": 2, "process_id": 0}, r"`coordinator` must be 'HOST:PORT'"),
        ({"coordinator": "host:99999", "num_processes": 2, "process_id": 0}, r"`coordinator` must be 'HOST:PORT'"),
        ({"num_processes": 2, "process_id": 1}, r"`coordinator` \(or KERAS_DISTRIBUTION_JOB_ADDRESSES\) is required"),
        ({"coordinator": "127.0.0.1:1234", "num_processes": 2}, r"`process_id` \(or KERAS_DISTRIBUTION_PROCESS_ID"),
    ],
)
def test_bad_job_arguments_are_refused_before_anything_starts(arguments, match, monkeypatch):
    for name in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(KerakitError, match=match):
        distribute.initialize(**arguments)


def test_job_arguments_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "10.0.0.1:1234,10.0.0.2:2345")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "1")
    assert distribute.job_arguments() == {"coordinator": "10.0.0.1:1234", "num_processes": 2, "process_id": 1}
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "one")
    with pytest.raises(KerakitError, match="KERAS_DISTRIBUTION_PROCESS_ID must be an integer"):
        distribute.job_arguments()


def test_one_process_needs_nothing(monkeypatch):
    for name in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert distribute.initialize() == {"coordinator": None, "num_processes": 1, "process_id": 0}
    assert distribute.process_count() == 1 and distribute.is_writer()


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "tensorflow", reason="the TensorFlow refusals")
def test_tensorflow_refuses_several_processes_and_model_parallelism():
    with pytest.raises(KerakitError, match=r"not supported on TensorFlow.*keras-team/keras#20585.*KERAS_BACKEND=jax"):
        distribute.initialize("127.0.0.1:1234", num_processes=2, process_id=0)
    with pytest.raises(KerakitError, match="model parallelism .* needs the 'jax' backend"):
        distribute.model_parallel("gpt_nano")


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "tensorflow", reason="TF_CONFIG is TensorFlow's")
def test_a_multi_worker_tf_config_is_refused_not_ignored(monkeypatch):
    for name in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    cluster = {"cluster": {"worker": ["127.0.0.1:1234", "127.0.0.1:1235"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    with pytest.raises(KerakitError, match=r"TF_CONFIG names 2 workers .*MultiWorkerMirroredStrategy.*KERAS_BACKEND=jax"):
        distribute.initialize()


def test_model_parallel_needs_a_blueprint_with_a_layout_map(backend):
    if backend != "jax":
        pytest.skip("model parallelism runs on JAX only")
    with pytest.raises(KerakitError, match=r"blueprint 'mlp' provides no layout map .* Expected one of: bert_base"):
        distribute.model_parallel("mlp")
    with pytest.raises(KerakitError, match=r"`model_shards` must be an integer >= 1 that divides the number of "
                                           r"devices \(1\)\. Received: model_shards=3"):
        distribute.model_parallel("gpt_nano", model_shards=3)


def test_asking_for_a_tpu_without_one_is_refused(backend, monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    match = "JAX sees no TPU" if backend == "jax" else "`devices='tpu'` needs a TPU: TensorFlow lists none"
    with pytest.raises(KerakitError, match=match):
        distribute.resolve_devices("tpu")
