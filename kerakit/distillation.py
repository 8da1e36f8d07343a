"""`kerakit.distill`: a distillation run. A trained teacher (a run folder or a `.keras` file) teaches a student
blueprint through `kerakit.models.Distiller` (Hinton, Vinyals and Dean, 2015), in an ordinary `kerakit.train` run:
the run folder, the student's evaluation on the test split, and the student exported as the SavedModel.
"""

import os

from kerakit import errors
from kerakit.errors import KerakitError


def distill(teacher, student="convnet", data="digits", *, temperature=4.0, alpha=0.1, blueprint_args=None,
            data_args=None, batch_size=32, seed=0, **train_arguments):
    """Trains `student` to match `teacher`'s softened predictions and the labels; returns `kerakit.train`'s result.

    Args:
        teacher: str, os.PathLike or keras.Model. A run folder (its `model.keras`), a `.keras` file or a model: a
            trained classifier of the data's classes (a distilled run's file gives its student).
        student: str or keras.Model. A blueprint name (built for the data, with `blueprint_args`) or a model.
            Defaults to `"convnet"`.
        data: str, tuple of arrays or `kerakit.data.DataBundle`. As in `kerakit.train`. Defaults to `"digits"`.
        temperature: float. The softmax temperature `T` > 0 of the soft targets. Defaults to `4.0`.
        alpha: float. Weight in [0, 1] of the hard-label loss (`1 - alpha` of the soft one). Defaults to `0.1`.
        blueprint_args: dict or None. Extra keyword arguments of the student's blueprint.
        data_args: dict or None. Extra keyword arguments of `kerakit.data.load`.
        batch_size: int. Defaults to `32`.
        seed: int. Defaults to `0`.
        **train_arguments: More `kerakit.train` arguments (`epochs`, `learning_rate`, `run_dir`, ...).

    Returns:
        A `kerakit.training.RunResult`: `.model` is the `Distiller`, `.model.student` the student; `test_metrics`
        holds the student's `accuracy` and `hard_loss` on the test split; the SavedModel is the student.

    Example:

    ```python
    import kerakit
    teacher = kerakit.train("convnet", "digits", epochs=3, run_dir="runs/teacher")
    result = kerakit.distill("runs/teacher", "mlp", "digits", temperature=4.0, alpha=0.1, epochs=3,
                             blueprint_args={"hidden_units": (32,)}, run_dir="runs/student")
    result.test_metrics["accuracy"]  # the student's
    ```
    """
    owner = "distill"
    from kerakit.models.distiller import check_arguments

    temperature, alpha = check_arguments(owner, temperature, alpha)
    for refused in ("loss", "lora_rank", "quantize", "init_from", "label_smoothing", "class_weight"):
        if train_arguments.get(refused):
            raise errors.invalid(owner, refused, "None (a distillation run trains the student on the distillation "
                                 "loss from its fresh weights)", train_arguments[refused])
    blueprint_args = dict(blueprint_args or {})
    if isinstance(student, str):
        from kerakit.registry import get_blueprint

        get_blueprint(student)  # an unknown name fails here, before anything is loaded
    teacher_model = _load_teacher(owner, teacher)
    import keras

    from kerakit import data as kdata
    from kerakit import training

    keras.utils.set_random_seed(seed)
    bundle = kdata.load(data, batch_size=batch_size, seed=seed, **dict(data_args or {}))
    if not bundle.info.num_classes or bundle.info.task == "language_modeling":
        raise errors.invalid(owner, "data", "a classification dataset", bundle.info.name)
    if isinstance(student, str):
        from kerakit.registry import build

        keras.utils.set_random_seed(seed)
        student = build(student, **training.blueprint_arguments_for_data(student, blueprint_args, bundle.info))
    elif blueprint_args:
        raise errors.invalid(owner, "blueprint_args", "empty when `student` is a built model", blueprint_args)
    from kerakit.models.distiller import Distiller

    distiller = Distiller(teacher_model, student, temperature=temperature, alpha=alpha,
                          name=f"{student.name}_distilled")
    return training.train(distiller, bundle, batch_size=batch_size, seed=seed, **train_arguments)


def _load_teacher(owner, teacher):
    import keras

    if isinstance(teacher, keras.Model):
        return teacher
    if not isinstance(teacher, (str, os.PathLike)):
        raise errors.invalid(owner, "teacher", "a run folder, a .keras file or a keras.Model", type(teacher).__name__)
    path = os.fspath(teacher)
    if os.path.isdir(path):
        path = os.path.join(path, "model.keras")
    if not (path.endswith(".keras") and os.path.isfile(path)):
        raise errors.invalid(owner, "teacher", "a run folder holding model.keras or a .keras file", os.fspath(teacher))
    from kerakit.export import load_keras_model

    model = load_keras_model(path)
    if hasattr(model, "teacher") and hasattr(model, "student"):
        return model.student  # a distilled run: its student teaches
    if hasattr(model, "generating_network"):
        raise KerakitError(f"{owner}: the teacher {path} is a generative model ({type(model).__name__}); "
                           "pass a trained classifier.")
    return model
