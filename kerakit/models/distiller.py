"""Knowledge distillation (Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network", NIPS 2014
Deep Learning Workshop, arXiv:1503.02531): a small student learns from a trained teacher's softened predictions.

The loss of a batch is the mean over its examples of

    alpha * CE(y, softmax(s)) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))

with `s` and `t` the student's and the teacher's logits and `T` the temperature. A high `T` spreads the teacher's
probability over the wrong classes ("dark knowledge": which wrong answers are close); `T^2` keeps the gradients of
the soft term at the scale of the hard one as `T` changes (Hinton et al., section 2). `Distiller` trains through the
backend-agnostic `compute_loss` override, so `compile(optimizer=...)` and `fit` work on TensorFlow and JAX alike.
"""

import numbers

import keras
import numpy as np

from kerakit import errors


def ends_in_softmax(model):
    """Whether `model`'s (last) output goes through a softmax: a layer with `activation="softmax"`, a `Softmax`
    layer or an `Activation("softmax")`.

    Example:

    ```python
    import keras
    from kerakit.models.distiller import ends_in_softmax
    inputs = keras.Input((4,))
    ends_in_softmax(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs)))  # True
    ends_in_softmax(keras.Model(inputs, keras.layers.Dense(3)(inputs)))  # False
    ```
    """
    layers = getattr(model, "layers", None)
    if not layers:
        return False
    last = layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return activation is keras.activations.softmax or getattr(activation, "__name__", None) == "softmax"


def distillation_loss(teacher_logits, student_logits, temperature):
    """Per-example `T^2 * KL(softmax(teacher / T) || softmax(student / T))`, summed over the classes.

    Example:

    ```python
    import numpy as np
    from kerakit.models.distiller import distillation_loss
    t = np.array([[2.0, 0.0, -1.0]], "float32")
    float(distillation_loss(t, t, 4.0)[0])  # 0.0
    round(float(distillation_loss(t, np.zeros((1, 3), "float32"), 1.0)[0]), 4)  # 0.5743
    ```
    """
    student_logits = keras.ops.convert_to_tensor(student_logits)
    teacher_logits = keras.ops.cast(teacher_logits, student_logits.dtype)
    log_teacher = keras.ops.log_softmax(teacher_logits / temperature, axis=-1)
    log_student = keras.ops.log_softmax(student_logits / temperature, axis=-1)
    kl = keras.ops.sum(keras.ops.exp(log_teacher) * (log_teacher - log_student), axis=-1)
    return (temperature ** 2) * kl


@keras.saving.register_keras_serializable(package="kerakit")
class Distiller(keras.Model):
    """A frozen teacher and a trainable student: the student learns from the labels and the teacher's soft targets.

    Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015). The loss of a batch is the mean
    over its examples of `alpha * CE(y, student) + (1 - alpha) * distillation_loss(teacher, student, T)` (plus the
    student's regularisation losses); see `distillation_loss`. The teacher runs in inference mode and never trains.
    Either network may return logits or end in a softmax (its probabilities are turned back into logits, `log p`,
    which softmax maps to the same distribution at any temperature). Labels are class ids.

    Calling the model calls the student. `fit`'s logs show `loss`, `accuracy` (the student's), `hard_loss` (the
    student's cross-entropy on the labels) and `distillation_loss`; `val_` ones too. `compile(optimizer=...)` is all
    it needs. The student is `.student`: what a run exports and what you deploy.

    Args:
        teacher: keras.Model. A trained classifier; frozen here.
        student: keras.Model. The classifier to train, with the teacher's number of classes and input shape.
        temperature: float. `T` > 0 of the soft targets. Defaults to `4.0`.
        alpha: float. Weight in [0, 1] of the hard-label loss; `1 - alpha` weights the soft one. Defaults to `0.1`.
        **kwargs: Base `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    import keras
    import numpy as np
    from kerakit.models import Distiller
    inputs = keras.Input((4,))
    teacher = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(16, "relu")(inputs)))
    student = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    distiller = Distiller(teacher, student, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer="adam")
    history = distiller.fit(np.ones((8, 4)), np.arange(8) % 3, epochs=1, verbose=0)
    sorted(history.history)  # ['accuracy', 'distillation_loss', 'hard_loss', 'loss']
    len(distiller.trainable_weights) == len(student.trainable_weights)  # True
    ```
    """

    def __init__(self, teacher, student, temperature=4.0, alpha=0.1, **kwargs):
        temperature, alpha = check_arguments("Distiller", temperature, alpha)
        _check_networks("Distiller", teacher, student)
        super().__init__(**kwargs)
        self.teacher = teacher
        self.student = student
        self.teacher.trainable = False
        self.temperature = temperature
        self.alpha = alpha
        self._teacher_softmax = ends_in_softmax(teacher)
        self._student_softmax = ends_in_softmax(student)
        self.hard_loss_tracker = keras.metrics.Mean(name="hard_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.built = True

    @property
    def num_classes(self):
        """int. The number of classes of the teacher and the student."""
        return int(self.student.output_shape[-1])

    @property
    def input_shape(self):
        """tuple. The student's input shape, batch dimension first."""
        return self.student.input_shape

    @property
    def output_shape(self):
        """tuple. The student's output shape, batch dimension first."""
        return self.student.output_shape

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """`mean(alpha * hard + (1 - alpha) * distillation)` over the batch; updates the trackers."""
        student_logits = _logits(y_pred, self._student_softmax)
        teacher_logits = _logits(self.teacher(x, training=False), self._teacher_softmax)
        labels = keras.ops.reshape(y, (-1,))
        hard = keras.losses.sparse_categorical_crossentropy(labels, student_logits, from_logits=True)
        soft = distillation_loss(teacher_logits, student_logits, self.temperature)
        if sample_weight is not None:
            weight = keras.ops.reshape(keras.ops.cast(sample_weight, hard.dtype), (-1,))
            hard, soft = hard * weight, soft * weight
        hard, soft = keras.ops.mean(hard), keras.ops.mean(soft)
        total = self.alpha * hard + (1.0 - self.alpha) * soft
        for loss in self.student.losses:  # the student's regularisers
            total = total + keras.ops.cast(keras.ops.sum(loss), total.dtype)
        batch_size = keras.ops.shape(student_logits)[0]  # weighted like Keras's own `loss` tracker
        self.hard_loss_tracker.update_state(hard, sample_weight=batch_size)
        self.distillation_loss_tracker.update_state(soft, sample_weight=batch_size)
        self.accuracy_tracker.update_state(labels, student_logits, sample_weight=sample_weight)
        return total

    def get_config(self):
        return {
            **super().get_config(),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "student": keras.saving.serialize_keras_object(self.student),
            "temperature": self.temperature,
            "alpha": self.alpha,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)


def check_arguments(owner, temperature, alpha):
    """Checks `temperature` (a finite number > 0) and `alpha` (in [0, 1]); returns them as floats."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not (
            0 < temperature < float("inf")):
        raise errors.invalid(owner, "temperature", "a finite number > 0", temperature)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise errors.invalid(owner, "alpha", "a number in [0, 1]", alpha)
    return float(temperature), float(alpha)


def _check_networks(owner, teacher, student):
    for argument, network in (("teacher", teacher), ("student", student)):
        if not isinstance(network, keras.Model):
            raise errors.invalid(owner, argument, "a keras.Model (a classifier)", type(network).__name__)
        try:
            network.output_shape
        except (AttributeError, ValueError):
            raise errors.invalid(owner, argument, "a built functional or Sequential classifier",
                                 network.name) from None
        if isinstance(network.output_shape, list) or len(network.output_shape) != 2:
            raise errors.invalid(owner, argument, "a classifier with one output of shape (batch, classes)",
                                 f"{network.name} with output_shape={network.output_shape}")
    if teacher.output_shape[-1] != student.output_shape[-1]:
        raise errors.invalid(owner, "teacher", f"a classifier with the student's {student.output_shape[-1]} classes",
                             f"{teacher.name} with {teacher.output_shape[-1]} classes")
    teacher_in, student_in = teacher.input_shape, student.input_shape
    if isinstance(teacher_in, list) or isinstance(student_in, list) or len(teacher_in) != len(student_in) or any(
            a is not None and b is not None and a != b for a, b in zip(teacher_in[1:], student_in[1:])):
        raise errors.invalid(owner, "teacher", f"a classifier of the student's inputs {student_in}",
                             f"{teacher.name} with input_shape={teacher_in}")


def _logits(outputs, from_softmax):
    """Logits of a classifier's outputs: the outputs themselves, or `log p` of a softmax's probabilities."""
    outputs = keras.ops.convert_to_tensor(outputs)
    if not from_softmax:
        return outputs
    tiny = float(np.finfo(keras.backend.standardize_dtype(outputs.dtype)).tiny)  # the smallest normal number
    return keras.ops.log(keras.ops.maximum(outputs, tiny))
