"""The training run: data -> blueprint -> compile -> fit (with callbacks) -> evaluate -> export, in a run folder.

```python
import kerakit
result = kerakit.train("convnet", data="digits", epochs=5, runs_root="/tmp/kerakit-runs")
result.test_metrics["accuracy"]   # e.g. 0.95
result.run_dir                    # /tmp/kerakit-runs/convnet-digits
```

The run folder holds `config.json` (everything needed to run it again: `kerakit train --config config.json`),
`status.json`, `model.keras`, `saved_model/` (verified), `history.csv`, `history.json`, `metrics.json`,
`curves.png`, `checkpoints/best.keras`, `checkpoints/last.keras` (the last epoch whose loss was finite) and, while
running, `backup/` for resuming after a crash. Generative runs add `samples/epoch_<k>.png` grids and `samples.png`.

Generative blueprints (`kerakit.list_blueprints(family="generative")`) train on the images alone: autoencoders
(task `reconstruction`) learn to give back their input with MSE; VAEs, GANs and diffusion models (task `generation`)
bring their own losses, and the run exports their generating network (decoder, generator, denoiser) as the SavedModel.
"""

import dataclasses
import inspect
import math
import statistics
import time
import traceback

from kerakit import errors
from kerakit.errors import KerakitError

DEFAULT_BLUEPRINT = "convnet"
DEFAULT_DATA = "digits"


@dataclasses.dataclass
class RunResult:
    """What `train` returns.

    Attributes:
        run_dir: str. The run folder.
        model: keras.Model. The trained model (best validation weights when early stopping restored them).
        history: dict. Per-epoch logs over the whole run, resumed parts included.
        test_metrics: dict. `model.evaluate` on the test split.
        saved_model: str or None. The verified SavedModel folder.
        resumed: bool. Whether this call resumed an interrupted run.
        seconds: float. Wall time of this call.
        epoch_seconds: list of float. Wall time of each epoch trained by this call.
        config: dict. The resolved configuration written to `config.json`.
    """

    run_dir: str
    model: object
    history: dict
    test_metrics: dict
    saved_model: object
    resumed: bool
    seconds: float
    epoch_seconds: list
    config: dict


class TrainingDivergedError(KerakitError):
    """The loss became NaN or infinite."""


def train(
    model=DEFAULT_BLUEPRINT,
    data=DEFAULT_DATA,
    *,
    epochs=30,
    batch_size=32,
    optimizer="adam",
    learning_rate=3e-3,
    schedule="cosine",
    warmup_epochs=None,
    weight_decay=None,
    loss=None,
    seed=0,
    run_dir=None,
    runs_root="runs",
    overwrite=False,
    early_stopping=10,
    tensorboard=False,
    devices=None,
    coordinator=None,
    num_processes=None,
    process_id=None,
    export=True,
    verbose="auto",
    blueprint_args=None,
    data_args=None,
    jit_compile="auto",
    callbacks=None,
    init_from=None,
    freeze_epochs=0,
    unfreeze_stages="all",
    fine_tune_lr_factor=0.1,
    augment="none",
    lora_rank=None,
    quantize=None,
    sample_every=5,
    optimizer_args=None,
    schedule_args=None,
    clipnorm=None,
    clipvalue=None,
    global_clipnorm=None,
    gradient_accumulation_steps=None,
    use_ema=False,
    ema_momentum=None,
    label_smoothing=0.0,
    class_weight=None,
    dropout=None,
    drop_path_rate=None,
    precision="float32",
    remat=False,
):
    """Trains a model on a dataset and writes a run folder; see the module docstring.

    Args:
        model: str or keras.Model. A blueprint name (built with the data's `input_shape` and `num_classes` plus
            `blueprint_args`), or a built model. Defaults to `"convnet"`.
        data: str, tuple of arrays or `kerakit.data.DataBundle`. `"digits"`, `"tfds:<name>"`, `(x, y)`.
            Defaults to `"digits"`.
        epochs: int. Maximum number of epochs. Defaults to `30`.
        batch_size: int. Global batch size. Defaults to `32`.
        optimizer: str. See `kerakit.optimizers.OPTIMIZERS`. Defaults to `"adam"`.
        learning_rate: float. Base (peak) learning rate. Defaults to `3e-3`.
        schedule: str. One of `kerakit.schedules.SCHEDULES`: `"constant"`, `"step"`, `"cosine"` (with warmup),
            `"exponential"`, `"one_cycle"`, `"plateau"` (`ReduceLROnPlateau` on `val_loss`). Defaults to `"cosine"`.
        warmup_epochs: float or None. Linear warmup of the `cosine` schedule, in [0, epochs). Defaults to `None`:
            a tenth of the run, at most one epoch.
        schedule_args: dict or None. More arguments of `kerakit.schedules.make_schedule` (`gamma`, `step_epochs`,
            `min_lr_ratio`, `pct_start`, `div_factor`, `final_div_factor`, `anneal`, `patience`). Defaults to `None`.
        weight_decay: float or None. Decoupled weight decay. Defaults to the optimizer's own.
        loss: str or None. One of `kerakit.losses.LOSSES` (`mse`, `mae`, `huber`, `crossentropy`, `focal`, `hinge`,
            `kl_divergence`, `contrastive`, `triplet`...) or a Keras loss name; `None` chooses sparse categorical
            cross-entropy (from logits unless the model ends in softmax) for classification, MSE otherwise.
        seed: int. Seeds weights, dropout and shuffling: the same seed gives the same metrics on CPU.
        run_dir: str or None. The run folder; `None` picks `<runs_root>/<model>-<data>` (see
            `kerakit.run_folder`). Defaults to `None`.
        runs_root: str. Where automatic run folders go. Defaults to `"runs"`.
        overwrite: bool. Replace an explicit `run_dir` that holds a complete run. Defaults to `False`.
        early_stopping: int or None. Patience in epochs on validation loss (best weights restored); `None` or 0
            turns it off. Defaults to `10`.
        tensorboard: bool. Write TensorBoard logs to `<run_dir>/tensorboard`. Defaults to `False`.
        devices: None, int, "all" or list of str. Data-parallel training on local devices
            (`kerakit.distribute`). Defaults to `None` (one device).
        coordinator, num_processes, process_id: a multi-process (multi-host) JAX job, the same `coordinator`
            ("HOST:PORT" of process 0) and `num_processes` on every process (`kerakit.distribute.initialize`; `None`
            reads `KERAS_DISTRIBUTION_*`). Data parallelism then spans every process's devices, `batch_size` is the
            global batch (each process reads `batch_size // num_processes` of it), `run_dir` must be given and be on
            storage every process sees, and only process 0 writes there. Defaults to `None` (one process).
        export: bool. Export and verify a SavedModel into `<run_dir>/saved_model`. Defaults to `True`.
        verbose: "auto", 0, 1 or 2. Keras progress output. Defaults to `"auto"`.
        blueprint_args: dict or None. Extra keyword arguments of the blueprint.
        data_args: dict or None. Extra keyword arguments of `kerakit.data.load` (e.g. `validation_fraction`,
            `data_dir`, `download`, `image_size`).
        jit_compile: bool or "auto". XLA compilation, as in `Model.compile`. Defaults to `"auto"`.
        callbacks: list or None. More Keras callbacks.
        init_from: str or None. Transfer learning: a `.keras` model or a run folder (its `model.keras`) whose
            weights start the model, layer by layer where the names and weight shapes agree (a head with another
            number of classes keeps its fresh weights). Pretrained ImageNet weights come from
            `blueprint_args={"weights": "imagenet"}` instead. Defaults to `None`.
        freeze_epochs: int. Transfer learning: the first epochs train only the head, with the backbone frozen
            (its batch-norm layers in inference mode); then the stages chosen by `unfreeze_stages` train too, at
            `learning_rate * fine_tune_lr_factor`. `0` has no frozen phase. Defaults to `0`.
        unfreeze_stages: int or "all". How many stages, counted from the top (the lowest resolution), train after
            the frozen phase (or from the start when `freeze_epochs=0`); the others stay frozen. A stage is every
            layer at one resolution (`kerakit.backbones.stages`). Defaults to `"all"`.
        fine_tune_lr_factor: float. Learning-rate multiplier of the phase after `freeze_epochs`. Defaults to `0.1`.
        augment: str. Image augmentation of the training batches from Keras's own layers (`kerakit.augment`):
            `"none"`, `"crop"`, `"flip"`, `"flip_crop"`, `"randaugment"`, `"mixup"`, `"cutmix"`, `"strong"`, or
            operations joined by `+` (`"crop+randaugment+mixup"`). Mixing presets train on soft labels with
            categorical cross-entropy. Defaults to `"none"`.
        lora_rank: int or None. LoRA fine-tuning (`kerakit.transfer.enable_lora`): low-rank updates of this rank on
            the attention query and value projections (or on every dense layer without attention) train; every
            other weight stays frozen. Usually with `init_from`. Defaults to `None` (all weights train).
        quantize: str or None. `"int8"`: QLoRA-style fine-tuning (`kerakit.transfer.quantize`): Keras's int8
            quantization of the Dense/EinsumDense/Embedding kernels, frozen, with `lora_rank` updates beside them
            (required). The run's `.keras` files hold the LoRA updates merged into the int8 kernels; the SavedModel
            is exact. Defaults to `None`.
        optimizer_args: dict or None. More keyword arguments of the Keras optimizer, e.g. `{"beta_1": 0.5}` for Adam
            (GANs). Defaults to `None`.
        sample_every: int. Generative models: a PNG grid of 64 samples every this many epochs, in
            `<run_dir>/samples/`; `0` writes only the final `samples.png`. Defaults to `5`.
        clipnorm, clipvalue, global_clipnorm: float or None. Gradient clipping per variable (norm, value) or over
            all gradients together (at most one). Defaults to `None`.
        gradient_accumulation_steps: int or None. Update every this many batches with their averaged gradients.
            Defaults to `None`.
        use_ema: bool. Keep an exponential moving average of the weights (Keras's `use_ema`); the trained model
            holds the average (validation and early stopping see the raw weights). Defaults to `False`.
        ema_momentum: float or None. The average's momentum, in (0, 1). Defaults to Keras's `0.99`.
        label_smoothing: float. Label smoothing of the classification loss, in [0, 1). Defaults to `0`.
        class_weight: None, "balanced" or dict. Loss weight per class (`fit`'s `class_weight`); `"balanced"`
            weighs class c by n / (k * n_c), counted over the training labels. Defaults to `None`.
        dropout, drop_path_rate: float or None. Shortcuts for the blueprint arguments of these names (refused for a
            blueprint that does not take them). Defaults to `None`.
        precision: str. `"float32"`, `"mixed_float16"` (Keras wraps the optimizer in a `LossScaleOptimizer`) or
            `"mixed_bfloat16"`: the dtype policy the blueprint is built under; the caller's policy is restored.
            Defaults to `"float32"`.
        remat: bool or str. Rematerialisation when building the blueprint: `True` (or `"activations"`) builds it
            in `keras.RematScope(mode="activations")`, which recomputes activations in the backward pass instead of
            keeping them. Defaults to `False`.

    Language models (a `language_modeling` dataset such as `"text"`) get the data's vocabulary size, report
    `perplexity` with the test metrics, and write a generated sample to `<run_dir>/sample.txt` (printed too).

    Returns:
        A `RunResult`.
    """
    started = time.perf_counter()
    blueprint_args = dict(blueprint_args or {})
    data_args = dict(data_args or {})
    errors.check_int("train", "epochs", epochs)
    errors.check_int("train", "sample_every", sample_every, minimum=0)
    if warmup_epochs is None:
        warmup_epochs = default_warmup_epochs(epochs)
    _check_arguments(model, epochs, batch_size, learning_rate, warmup_epochs, early_stopping, blueprint_args,
                     verbose)
    from kerakit import transfer

    init_from = transfer.check_arguments(epochs, init_from, freeze_epochs, unfreeze_stages, fine_tune_lr_factor)
    from kerakit import augment as kaugment

    kaugment.check_preset(augment, owner="train", argument="augment")
    if lora_rank is not None:
        errors.check_int("train", "lora_rank", lora_rank)
        if freeze_epochs or unfreeze_stages != "all":
            raise errors.invalid("train", "lora_rank", "None with freeze_epochs or unfreeze_stages (LoRA already "
                                 "freezes every weight but its own)", lora_rank)
    quantize = transfer.check_quantize(quantize, lora_rank)

    from kerakit import data as kdata
    from kerakit import distribute
    from kerakit import optimizers as koptimizers
    from kerakit import schedules as kschedules
    from kerakit.callbacks import RunProgress

    errors.check_choice("train", "optimizer", optimizer, koptimizers.OPTIMIZERS)
    optimizer_args = koptimizers.check_options(optimizer, optimizer_args)
    errors.check_choice("train", "schedule", schedule, kschedules.SCHEDULES)
    schedule_args = kschedules.schedule_options(schedule_args)
    kschedules.check_schedule(schedule, learning_rate, epochs=epochs, warmup_epochs=warmup_epochs, **schedule_args)
    koptimizers.check_training_options("train", weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                                       global_clipnorm=global_clipnorm,
                                       gradient_accumulation_steps=gradient_accumulation_steps, use_ema=use_ema,
                                       ema_momentum=ema_momentum)
    from kerakit import losses as klosses

    klosses.check_loss(loss)
    klosses.get(loss or "crossentropy", label_smoothing=label_smoothing)  # refuses smoothing a loss it cannot apply to
    precision = _check_precision(model, precision)
    remat = _check_remat(model, remat)
    _refuse_graph_data_parallelism(model, data, devices)
    job = distribute.initialize(coordinator, num_processes, process_id)  # one process: nothing to do
    devices = distribute.job_devices(devices, run_dir) if job["num_processes"] > 1 else distribute.resolve_devices(
        devices)
    writer = distribute.is_writer(devices)  # only process 0 of a multi-process job writes the run folder
    if isinstance(model, str):
        from kerakit.registry import get_blueprint

        get_blueprint(model)  # an unknown name fails here, before the data is loaded
    blueprint_args = _regularisation_arguments(model, blueprint_args, dropout=dropout, drop_path_rate=drop_path_rate)
    import keras

    keras.utils.set_random_seed(seed)  # before the data: tf.data's shuffle seeds combine with the global seed
    bundle = kdata.load(data, batch_size=batch_size, seed=seed, **data_args)
    info = bundle.info
    augmenter = kaugment.augmenter(augment, info.input_shape, info.num_classes, seed=seed, owner="train",
                                   argument="augment")
    if augmenter.soft_labels and loss is not None:
        raise errors.invalid("train", "loss", f"None with augment={augment!r}, which mixes labels (the run uses "
                             "categorical cross-entropy on the soft labels)", loss)
    task = task_of(model)
    if task == "denoising":
        raise errors.invalid("train", "model", "a model the run can train on (images, labels): for diffusion, `ddpm`, "
                             "which trains this denoiser", model)
    if task in ("generation", "distillation") and loss is not None:
        raise errors.invalid("train", "loss", "None (VAEs, GANs, diffusion models and distillers bring their own "
                             "losses)", loss)
    if task in (*GENERATIVE_TASKS, "distillation") and augmenter.soft_labels:
        raise errors.invalid("train", "augment", f"an augmentation that keeps labels (a {task} model)", augment)
    if isinstance(model, str):
        blueprint_args = blueprint_arguments_for_data(model, blueprint_args, info)
    else:
        _check_model_matches_data(model, info, task)
    if label_smoothing and (not info.num_classes or task in GENERATIVE_TASKS):
        raise errors.invalid("train", "label_smoothing", "0 for a model that does not classify", label_smoothing)
    class_weights = _class_weights(class_weight, bundle, info, task)

    model_name = model if isinstance(model, str) else model.name
    settings = {
        "model": model_name,
        "blueprint_args": _jsonable(blueprint_args) if isinstance(model, str) else {"parameters": model.count_params()},
        "data": info.name,
        "data_examples": info.num_examples,
        "data_args": _jsonable(data_args),
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "optimizer_args": _jsonable(optimizer_args),
        "learning_rate": learning_rate,
        "schedule": schedule,
        "warmup_epochs": warmup_epochs,
        "weight_decay": weight_decay,
        "loss": loss,
        "seed": seed,
        "early_stopping": early_stopping,
        "init_from": init_from,
        "freeze_epochs": freeze_epochs,
        "unfreeze_stages": unfreeze_stages,
        "fine_tune_lr_factor": fine_tune_lr_factor,
        "augment": augmenter.preset,
        "lora_rank": lora_rank,
        "quantize": quantize,
        "schedule_args": _jsonable(schedule_args),
        "clipnorm": clipnorm,
        "clipvalue": clipvalue,
        "global_clipnorm": global_clipnorm,
        "gradient_accumulation_steps": gradient_accumulation_steps,
        "use_ema": use_ema,
        "ema_momentum": ema_momentum,
        "label_smoothing": label_smoothing,
        "class_weight": _jsonable(class_weight),
        "dropout": dropout,
        "drop_path_rate": drop_path_rate,
        "precision": precision,
        "remat": remat,
        "backend": keras.backend.backend(),
    }
    from kerakit.run_folder import resolve_run_folder, write_json

    if writer:
        folder, resumed = resolve_run_folder(run_dir, runs_root, f"{model_name}-{_slug(info.name)}", settings,
                                             overwrite)
        folder.path.mkdir(parents=True, exist_ok=True)
    config = {
        "settings": settings,
        "reproduce": _reproduce_arguments(model, data, settings, tensorboard, devices, export, jit_compile),
        "data_info": dataclasses.asdict(info),
        "class_weights": _jsonable(class_weights),
        "devices": devices,
        "environment": _environment(),
    }
    if writer:
        write_json(folder / "config.json", config)
        folder.set_status("running", epochs_done=(folder.status() or {}).get("epochs_done", 0), resumed=resumed)
    distribute.barrier("kerakit: run folder ready", devices)
    if not writer:  # another process of the job: reads process 0's folder (its backup), writes nothing
        folder, resumed = distribute.reader_folder(run_dir)
    if resumed and verbose:
        print(f"kerakit: resuming the interrupted run in {folder.path}")

    caller_policy = keras.config.dtype_policy()
    try:
        keras.utils.set_random_seed(seed)
        keras.config.set_dtype_policy(precision)
        with distribute.scope(devices):
            if isinstance(model, str):
                from kerakit.registry import build

                with _remat_scope(remat):
                    model = build(model, **blueprint_args)
            else:
                model = distribute.replicate(model, devices)
            if init_from:
                transfer.copy_matching_weights(init_from, model, verbose=bool(verbose))
            if quantize:
                transfer.quantize(model, quantize)
            if lora_rank:
                transfer.enable_lora(model, lora_rank)
            phases = transfer.plan(model, epochs, freeze_epochs, unfreeze_stages, learning_rate, fine_tune_lr_factor)
            timer = RunProgress(folder if writer else None)
            for index, phase in enumerate(phases):
                if transfer.phase_done(folder, index, len(phases), model):
                    continue  # a resumed run: this phase finished before the interruption
                phase.apply()
                warmup = warmup_epochs if len(phases) == 1 else min(warmup_epochs, phase.epochs / 2)
                rate = kschedules.make_schedule(schedule, phase.learning_rate, epochs=phase.epochs,
                                                steps_per_epoch=bundle.steps_per_epoch, warmup_epochs=warmup,
                                                **schedule_args)
                run_optimizer = koptimizers.make_optimizer(
                    optimizer, rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                    global_clipnorm=global_clipnorm, gradient_accumulation_steps=gradient_accumulation_steps,
                    use_ema=use_ema, ema_momentum=ema_momentum, options=optimizer_args)
                compile_for_task(model, run_optimizer, info, task, loss, augmenter, jit_compile,
                                 label_smoothing=label_smoothing)
                backup = "backup" if len(phases) == 1 else f"backup/phase{index + 1}"
                # A GAN's losses do not track sample quality: no early stopping on them.
                stopping = None if task == "generation" and _is_adversarial(model) else early_stopping
                # A multi-process job: only process 0 writes, and saves without the job's collectives.
                run_callbacks = distribute.job_callbacks([timer, *_keras_callbacks(
                    folder, resumed or index > 0, stopping, tensorboard, backup)], devices)
                if task == "generation" and sample_every and writer:
                    from kerakit.callbacks import SampleGrid

                    run_callbacks.append(SampleGrid(folder / "samples", every=sample_every, seed=seed))
                if devices:  # TensorFlow: per-replica batch-norm statistics drift apart; average them
                    run_callbacks.append(distribute.sync_callback())
                plateau = kschedules.plateau_callback(schedule, phase.learning_rate, **schedule_args)
                if plateau is not None:
                    run_callbacks.append(plateau)
                # Every global batch must split evenly over the devices (JAX fails otherwise; TF mis-weights).
                model.fit(distribute.prepare_dataset(for_task(augmenter.apply(bundle.train), task), devices,
                                                     batch_size=batch_size),
                          validation_data=distribute.prepare_dataset(
                              for_task(augmenter.apply(bundle.validation, training=False), task), devices,
                              batch_size=batch_size),
                          initial_epoch=phase.first_epoch, epochs=phase.first_epoch + phase.epochs, shuffle=False,
                          callbacks=run_callbacks + list(callbacks or []), verbose=verbose,
                          class_weight=class_weights)
                if use_ema:
                    _unshare_ema_weights(model)
                if writer:
                    transfer.mark_phase_done(folder, index, len(phases), model)
            if writer:
                transfer.finish(folder)
        distribute.barrier("kerakit: trained", devices)  # process 0's history.csv is complete
        history = _read_history(folder / "history.csv")
        _raise_if_diverged(history)
        # Outside the distribution scope, so every test example counts on any number of devices (a multi-process
        # job evaluates inside it, each process its share of every full global batch).
        with distribute.evaluation_scope(devices):
            test_metrics = {k: float(v) for k, v in model.evaluate(distribute.evaluation_data(
                for_task(augmenter.apply(bundle.test, training=False), task), devices, batch_size), verbose=0,
                return_dict=True).items()}
        if not writer:
            return RunResult(run_dir=str(folder.path), model=model, history=history, test_metrics=test_metrics,
                             saved_model=None, resumed=resumed, seconds=time.perf_counter() - started,
                             epoch_seconds=timer.epoch_seconds, config=config)
        model = distribute.local_copy(model, devices)  # a multi-process job's model, on this process's device only
        if info.task == "language_modeling":
            test_metrics["perplexity"] = math.exp(min(test_metrics["loss"], 700.0))
            _write_sample(model, bundle, folder / "sample.txt", seed, verbose)
        if task == "generation":
            from kerakit.plots import save_image_grid

            save_image_grid(model.generate(64, seed=seed), folder / "samples.png", title=f"{model_name} samples")
        _save_model(model, folder / "model.keras")
        saved_model = None
        if export:
            from kerakit.export import exported_network
            from kerakit.export import saved_model as export_saved_model

            saved_model = export_saved_model(exported_network(model), folder / "saved_model", overwrite=True).path
        from kerakit.plots import plot_history

        write_json(folder / "history.json", history)
        plot_history(history, folder / "curves.png", title=f"{model_name} on {info.name}")
        epoch_seconds = timer.epoch_seconds
        write_json(folder / "metrics.json", {
            "test": test_metrics,
            "epochs_trained": len(history.get("loss", [])),
            "seconds_per_epoch": epoch_seconds,
            "median_seconds_per_epoch": statistics.median(epoch_seconds) if epoch_seconds else None,
            "seconds": time.perf_counter() - started,
        })
        folder.set_status("complete", epochs_done=len(history.get("loss", [])))
    except BaseException as error:
        reason = f"{type(error).__name__}: {error}"
        if writer:
            folder.set_status("failed", reason=reason, traceback=traceback.format_exc(limit=20))
        raise
    finally:
        keras.config.set_dtype_policy(caller_policy)  # the run's precision never leaks into the caller's process
    return RunResult(
        run_dir=str(folder.path), model=model, history=history, test_metrics=test_metrics,
        saved_model=saved_model, resumed=resumed, seconds=time.perf_counter() - started,
        epoch_seconds=epoch_seconds, config=config,
    )


def train_from_config(path, **overrides):
    """Runs `train` again with the arguments recorded in a run's `config.json` (a new run folder by default).

    Example:

    ```python
    import kerakit.training
    kerakit.training.train_from_config("runs/convnet-digits/config.json", epochs=2)
    ```
    """
    from kerakit.run_folder import read_json

    config = read_json(path)
    if not config or "reproduce" not in config:
        raise KerakitError(f"config: {str(path)!r} is not a kerakit run config.json (expected a 'reproduce' entry).")
    arguments = dict(config["reproduce"])
    if arguments.get("model") is None:
        raise KerakitError(f"config: the run in {str(path)!r} trained a model object, not a blueprint; "
                           "it can only be re-run from Python with that model.")
    arguments.update(overrides)
    return train(**arguments)


def _check_arguments(model, epochs, batch_size, learning_rate, warmup_epochs, early_stopping, blueprint_args,
                     verbose):
    import numbers

    errors.check_int("train", "epochs", epochs)
    errors.check_int("train", "batch_size", batch_size)
    errors.check_positive_float("train", "learning_rate", learning_rate)
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, numbers.Real) or not 0 <= warmup_epochs < epochs:
        raise errors.invalid("train", "warmup_epochs", f"a number in [0, epochs={epochs})", warmup_epochs)
    if early_stopping is not None:
        errors.check_int("train", "early_stopping", early_stopping, minimum=0)
    if verbose not in ("auto", 0, 1, 2):
        raise errors.invalid("train", "verbose", "'auto', 0, 1 or 2", verbose)
    if not isinstance(model, str):
        import keras

        if not isinstance(model, keras.Model):
            raise errors.invalid("train", "model", "a blueprint name or a keras.Model", type(model).__name__)
        if blueprint_args:
            raise errors.invalid("train", "blueprint_args", "empty when `model` is a built model", blueprint_args)


def default_warmup_epochs(epochs):
    """The run's default warmup of the cosine schedule: a tenth of the run, at most one epoch (also used by tuning)."""
    return min(1.0, epochs / 10)


def model_for_data(model, info, blueprint_args=None, task=None):
    """A blueprint name built for the data (its `input_shape` and `num_classes` filled in), or a built model checked
    against it; the first step of every tool that takes a model and a dataset (`lr_finder`, `doctor`)."""
    if isinstance(model, str):
        from kerakit.registry import build

        return build(model, **blueprint_arguments_for_data(model, blueprint_args, info))
    _check_model_matches_data(model, info, task)
    return model


def blueprint_arguments_for_data(name, blueprint_args, info):
    """Fills `input_shape` and `num_classes` from the data; refuses values that contradict it (also used by tuning)."""
    from kerakit.registry import blueprint_arguments, get_blueprint

    accepted = blueprint_arguments(name)
    arguments = dict(blueprint_args)
    if get_blueprint(name).task in GENERATIVE_TASKS and accepted.get("num_classes") is None:
        accepted.pop("num_classes", None)  # an unconditional generative model: the labels are not its business
    if info.task == "language_modeling" and "vocabulary_size" in accepted:
        given = arguments.setdefault("vocabulary_size", info.num_classes)
        if isinstance(given, int) and given < info.num_classes:
            raise errors.invalid(name, "vocabulary_size", f"at least {info.num_classes} (the token ids of the data "
                                 f"{info.name!r})", given)
        max_length = arguments.get("max_length", accepted.get("max_length"))
        if isinstance(max_length, int) and max_length < info.input_shape[0]:
            raise errors.invalid(name, "max_length", f"at least the data's sequence_length {info.input_shape[0]}",
                                 max_length)
        return arguments
    outputs = info.num_classes if info.num_classes else 1  # regression: one target
    for key, value in (("input_shape", tuple(info.input_shape)), ("num_classes", outputs)):
        if key not in accepted:
            continue
        given = arguments.get(key)
        if given is None:
            arguments[key] = value
        elif (tuple(given) if key == "input_shape" else given) != value:
            raise errors.invalid(name, key, f"{value!r} to match the data {info.name!r}", given)
    return arguments


GENERATIVE_TASKS = ("generation", "reconstruction")


def _refuse_graph_data_parallelism(model, data, devices):
    """Graph tasks take one graph (or one padded batch of graphs) per step: data parallelism would split its node,
    edge and index arrays over devices apart from each other, so `devices` must name at most one device."""
    from kerakit.data.graph import GRAPH_DATASETS, GRAPH_TASKS

    task = task_of(model) if isinstance(model, str) else None
    if not (task in GRAPH_TASKS or (isinstance(data, str) and data in GRAPH_DATASETS)):
        return
    one = devices is None or devices == 1 or (isinstance(devices, (list, tuple)) and len(devices) == 1)
    if not one or isinstance(devices, bool):
        what = task if task in GRAPH_TASKS else f"data {data!r}"
        raise KerakitError(
            f"train: devices={devices!r} is not supported for graph tasks ({what}): one graph (or one padded batch "
            "of graphs) is one step, and splitting its node and edge arrays over devices would cut edges from their "
            "nodes. Train on one device (devices=None)."
        )


def task_of(model):
    """The task of a blueprint name or a built model: its registered task; `generation` for a model with
    `generate` and `generating_network` (VAE, GAN, diffusion); otherwise `None` (decided by the data)."""
    if isinstance(model, str):
        from kerakit.registry import get_blueprint

        return get_blueprint(model).task
    if hasattr(model, "generate") and hasattr(model, "generating_network"):
        return "generation"
    if hasattr(model, "teacher") and hasattr(model, "student"):
        return "distillation"  # kerakit.models.Distiller: its own loss, the student's accuracy
    return None


def for_task(dataset, task):
    """Autoencoders learn to give back their input: `(x, y)` batches become `(x, x)`."""
    if task != "reconstruction":
        return dataset
    return dataset.map(lambda x, *rest: (x, x))


def _is_adversarial(model):
    from kerakit.models import GAN

    return isinstance(model, GAN)


def _check_model_matches_data(model, info, task=None):
    """Refuses a built model whose input or output does not fit the data."""
    if task == "distillation":
        model = model.student
    if task == "generation":
        if tuple(model.image_shape) != tuple(info.input_shape):
            raise errors.invalid("train", "model", f"a model of images of shape {tuple(info.input_shape)} (the data "
                                 f"{info.name!r})", f"{model.name} with image_shape={tuple(model.image_shape)}")
        return
    model_shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if model_shape is not None:
        data_shape = tuple(info.input_shape)
        fits = len(model_shape) == len(data_shape) and all(m in (None, d) for m, d in zip(model_shape, data_shape))
        if not fits:
            raise errors.invalid("train", "model", f"a model taking inputs of shape {data_shape} (the data "
                                 f"{info.name!r})", f"{model.name} with input_shape={model_shape}")
    if task != "reconstruction" and info.num_classes and model.output_shape[-1] != info.num_classes:
        raise errors.invalid("train", "model", f"a model with {info.num_classes} outputs (the classes of "
                             f"{info.name!r})", f"{model.name} with {model.output_shape[-1]} outputs")


def compile_for_task(model, optimizer, info, task=None, loss=None, augmenter=None, jit_compile="auto",
                     label_smoothing=0.0):
    """Compiles `model` as the run does (also used by tuning): generative models (task `generation`) with their
    own losses; others with `loss_for` and accuracy (classification), MAE (regression) or no metric (embeddings
    trained with a metric-learning loss)."""
    if task in ("generation", "distillation"):
        model.compile(optimizer=optimizer, jit_compile=jit_compile)
        return model
    from kerakit.losses import METRIC_LEARNING_LOSSES

    classifies = info.num_classes and task not in GENERATIVE_TASKS
    metrics = [] if loss in METRIC_LEARNING_LOSSES else ["accuracy"] if classifies else ["mae"]
    if info.task == "link_prediction" and metrics:  # pair logits: accuracy at logit 0, and ROC AUC
        import keras

        metrics = [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
                   keras.metrics.AUC(from_logits=True, name="auc")]
    # Graph data weights nodes and graph slots by their masks: Keras weights only `weighted_metrics` by them.
    weighted = info.task in ("node_classification", "graph_classification", "link_prediction")
    model.compile(optimizer=optimizer, loss=loss_for(model, info, loss, augmenter, task, label_smoothing),
                  metrics=None if weighted else metrics, weighted_metrics=metrics if weighted else None,
                  jit_compile=jit_compile)
    return model


def loss_for(model, info, loss=None, augmenter=None, task=None, label_smoothing=0.0):
    """The run's loss: `loss` by name (`kerakit.losses.get`), else cross-entropy (sparse, or on the augmenter's soft
    labels; smoothed by `label_smoothing`) or MSE."""
    import keras

    from kerakit import losses as klosses

    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(last, "activation", None)
    from_logits = activation is not keras.activations.softmax
    if loss is not None:
        if callable(loss):
            return loss
        try:
            outputs = model.output_shape[-1]
        except (AttributeError, ValueError, TypeError, IndexError):
            outputs = None
        if loss in ("binary_crossentropy", "binary_focal") or (loss == "focal" and outputs == 1):
            from_logits = activation is not keras.activations.sigmoid  # binary losses: a sigmoid gives probabilities
        return klosses.get(loss, from_logits=from_logits, label_smoothing=label_smoothing, num_outputs=outputs)
    if info.task == "link_prediction":  # one logit per node pair: an edge or not
        return keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    if not info.num_classes or task == "reconstruction":
        return "mse"
    if augmenter is not None and augmenter.soft_labels:
        if label_smoothing:
            return keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
        return augmenter.loss(from_logits=from_logits)
    if augmenter is not None and not label_smoothing:
        return augmenter.loss(from_logits=from_logits)
    return klosses.get("crossentropy", from_logits=from_logits, label_smoothing=label_smoothing)


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# keras.RematScope's "full" and "larger_than" modes fail in keras 3.15: on TensorFlow in graph mode for any layer
# called with `training=` (keras-team/keras#21207), on JAX for a layer drawing random numbers (dropout).
REMAT_MODES = ("activations",)


def _check_precision(model, precision):
    errors.check_choice("train", "precision", precision, PRECISIONS)
    if precision != "float32" and not isinstance(model, str):
        raise errors.invalid("train", "precision", "'float32' for a built model (its layers already hold their "
                             "dtype policy: build it under keras.config.set_dtype_policy instead)", precision)
    return precision


def _check_remat(model, remat):
    if remat is True:
        remat = "activations"
    if remat is False or remat is None:
        return False
    if remat not in REMAT_MODES:
        raise errors.invalid("train", "remat", "False, True or 'activations' (keras.RematScope's 'full' and "
                             "'larger_than' modes fail in keras 3.15: keras-team/keras#21207)", remat)
    if not isinstance(model, str):
        raise errors.invalid("train", "remat", "False for a built model (build it inside keras.RematScope instead)",
                             remat)
    return remat


def _remat_scope(remat):
    """`keras.RematScope(mode=remat)` while a blueprint is built, or nothing."""
    import contextlib

    import keras

    return keras.RematScope(mode=remat) if remat else contextlib.nullcontext()


def _regularisation_arguments(model, blueprint_args, **arguments):
    """Merges `dropout` / `drop_path_rate` into `blueprint_args`; refuses them for a blueprint without them."""
    arguments = {k: v for k, v in arguments.items() if v is not None}
    if not arguments:
        return blueprint_args
    for name, value in arguments.items():
        errors.check_rate("train", name, value)
        if not isinstance(model, str):
            raise errors.invalid("train", name, "None for a built model (set it when building the model)", value)
        from kerakit.registry import blueprint_arguments

        if name not in blueprint_arguments(model):
            raise errors.invalid("train", name, f"None for the blueprint {model!r}, which takes no `{name}` argument",
                                 value)
        if name in blueprint_args and blueprint_args[name] != value:
            raise errors.invalid("train", name, f"the blueprint_args value {blueprint_args[name]!r} (or left out)",
                                 value)
    return {**blueprint_args, **arguments}


def _class_weights(class_weight, bundle, info, task):
    """`fit`'s `class_weight`: None, the given dict, or balanced weights counted over the training labels."""
    from kerakit import losses as klosses

    if class_weight is not None and (task in GENERATIVE_TASKS or info.task == "language_modeling"):
        raise errors.invalid("train", "class_weight", "None for a model that does not classify", class_weight)
    class_weight = klosses.check_class_weight(class_weight, info.num_classes)
    if class_weight != "balanced":
        return class_weight
    import numpy as np

    labels = np.concatenate([np.asarray(y).reshape(-1) for _, y in bundle.train.as_numpy_iterator()])
    return klosses.balanced_class_weights(labels, info.num_classes)


def _unshare_ema_weights(model):
    """After `fit` with `use_ema` the weights hold the average; on JAX they share its buffers (see
    `kerakit.models._backend.unshare_averaged_weights`), which the next compiled call would delete."""
    from kerakit.models import _backend

    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    _backend.unshare_averaged_weights(optimizer, model.trainable_variables)


def _keras_callbacks(folder, resumed, early_stopping, tensorboard, backup="backup"):
    """Keras's own callbacks for a run in `folder`."""
    import keras

    from kerakit.callbacks import LastGoodCheckpoint

    (folder / "checkpoints").mkdir(exist_ok=True)
    run_callbacks = [
        keras.callbacks.BackupAndRestore(str(folder / backup)),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(folder / "history.csv"), append=resumed),
        keras.callbacks.ModelCheckpoint(str(folder / "checkpoints" / "best.keras"), monitor="val_loss",
                                        save_best_only=True),
        LastGoodCheckpoint(folder / "checkpoints" / "last.keras"),
    ]
    if early_stopping:
        run_callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=early_stopping,
                                                           restore_best_weights=True))
    if tensorboard:
        run_callbacks.append(keras.callbacks.TensorBoard(str(folder / "tensorboard")))
    return run_callbacks


def _read_history(csv_path):
    """The whole run's history from the CSV log (which, unlike `fit`'s History, spans resumed runs)."""
    import csv

    history = {}
    with open(csv_path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key != "epoch":
                    history.setdefault(key, []).append(float(value))
    return history


def _raise_if_diverged(history):
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrainingDivergedError(f"train: the loss became {losses[-1]} at epoch {len(losses)}, and training "
                                    "was stopped (TerminateOnNaN). Lower `learning_rate` or add clipping.")


def _write_sample(model, bundle, path, seed, verbose):
    """A language model's continuation of the start of the test text, written to `path` (and printed)."""
    from kerakit import generation
    from kerakit.run_folder import write_atomic

    try:
        generation.decoder_parts(model)
    except KerakitError:
        return  # not a decoder-only model: nothing to sample
    x, _ = next(iter(bundle.test))
    room = generation.room_after(model, 0)
    prompt = [int(i) for i in x[0][:min(32, room // 2)]]
    tokens = generation.generate(model, prompt, max_new_tokens=min(200, room - len(prompt)), sampler="top_k",
                                 top_k=10, seed=seed)[0]
    decode = bundle.tokenizer.decode if bundle.tokenizer is not None else str
    text = f"{decode(prompt)}|>>{decode(tokens[len(prompt):])}"
    write_atomic(path, text + "\n")
    if verbose:
        print(f"kerakit: sample (prompt|>>generated):\n{text}")


def _save_model(model, path):
    """Saves `.keras` through a temporary name, so a crash never leaves a half-written model."""
    from kerakit.run_folder import save_through_temporary

    save_through_temporary(path, model.save, ".keras")


def _slug(text):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _reproduce_arguments(model, data, settings, tensorboard, devices, export, jit_compile):
    """The `train` keyword arguments that run the same training again (`train_from_config`)."""
    accepted = inspect.signature(train).parameters
    arguments = {k: v for k, v in settings.items() if k in accepted and k not in ("model", "data")}
    arguments.update(
        model=model if isinstance(model, str) else None,
        data=data if isinstance(data, str) else None,
        tensorboard=tensorboard,
        devices=devices,
        export=export,
        jit_compile=jit_compile,
    )
    if not isinstance(model, str):
        arguments.pop("blueprint_args")
    return arguments


def _environment():
    import platform

    import keras

    from kerakit import __version__

    return {"kerakit": __version__, "keras": keras.__version__, "backend": keras.backend.backend(),
            "python": platform.python_version()}
