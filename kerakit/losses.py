"""Losses by name, from Keras's own classes, plus what Keras lacks: label smoothing on integer labels, and the
metric-learning losses `ContrastiveLoss` (Hadsell et al. 2006) and `TripletLoss` (Schroff et al. 2015) with online
batch-all / batch-hard mining (Hermans et al. 2017).

| name                          | loss (the model trains on integer labels)                                        |
|-------------------------------|----------------------------------------------------------------------------------|
| `mse`, `mae`, `huber`         | `MeanSquaredError`, `MeanAbsoluteError`, `Huber`                                 |
| `crossentropy`                | sparse categorical cross-entropy (also `sparse_categorical_crossentropy` and     |
|                               | `categorical_crossentropy`); with `label_smoothing`, one-hot in the loss         |
| `binary_crossentropy`         | `BinaryCrossentropy`                                                             |
| `focal`, `binary_focal`       | `CategoricalFocalCrossentropy` (one-hot in the loss), `BinaryFocalCrossentropy`  |
| `hinge`                       | `CategoricalHinge` (multi-class, one-hot in the loss)                            |
| `kl_divergence`               | `KLDivergence` of the predicted distribution from the one-hot labels             |
| `contrastive`, `triplet`      | `ContrastiveLoss`, `TripletLoss`: the model's output is an embedding             |

Every class here is serialisable (`keras.saving.register_keras_serializable(package="kerakit")`) and uses
`keras.ops` only.
"""

from kerakit import errors

LOSSES = ("mse", "mae", "huber", "crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy",
          "binary_crossentropy", "focal", "binary_focal", "hinge", "kl_divergence", "contrastive", "triplet")
METRIC_LEARNING_LOSSES = ("contrastive", "triplet")
MINING = ("batch_all", "batch_hard")
_CROSSENTROPY = ("crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy")


def _define_classes():
    """Defines (and registers) the loss classes on first use, so that `import kerakit.losses` does not import Keras."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="kerakit")
    class OneHotLabels(keras.losses.Loss):
        """Applies a loss written for one-hot labels (`CategoricalCrossentropy` with `label_smoothing`,
        `CategoricalFocalCrossentropy`, `CategoricalHinge`, `KLDivergence`) to integer labels.

        Keras's `SparseCategoricalCrossentropy` has no `label_smoothing`; this one-hots the labels to the width of the
        predictions first, so `OneHotLabels(CategoricalCrossentropy(label_smoothing=0.1))` is the smoothed loss.

        Args:
            loss: keras.losses.Loss. The loss on one-hot labels.
            softmax: bool. Apply a softmax to the predictions first (for a loss without `from_logits`, such as
                `KLDivergence`, on a model that outputs logits). Defaults to `False`.

        Example:

        ```python
        import keras, numpy as np
        from kerakit.losses import OneHotLabels
        loss = OneHotLabels(keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1))
        round(float(loss(np.array([0]), np.array([[0.0, 0.0]]))), 4)  # 0.6931, log 2 whatever the smoothing
        ```
        """

        def __init__(self, loss, softmax=False, name="one_hot_labels", reduction="sum_over_batch_size", dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            if isinstance(loss, dict):
                loss = keras.losses.deserialize(loss)
            if not isinstance(loss, keras.losses.Loss):
                raise errors.invalid("OneHotLabels", "loss", "a keras.losses.Loss", loss)
            self.loss = loss
            self.softmax = bool(softmax)

        def call(self, y_true, y_pred):
            classes = ops.shape(y_pred)[-1]
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            one_hot = ops.one_hot(labels, classes, dtype=y_pred.dtype)
            if self.softmax:
                y_pred = ops.softmax(y_pred, axis=-1)
            # The inner loss's own per-example values (its reduction is ours).
            return self.loss.call(one_hot, ops.reshape(y_pred, (-1, classes)))

        def get_config(self):
            return {**super().get_config(), "loss": keras.losses.serialize(self.loss), "softmax": self.softmax}

    @keras.saving.register_keras_serializable(package="kerakit")
    class ContrastiveLoss(keras.losses.Loss):
        """Contrastive loss over every pair of a batch of embeddings (Hadsell, Chopra & LeCun 2006).

        For the pairs (i, j), i < j, at distance d: `d^2` when the labels agree, `max(0, margin - d)^2` when they
        differ; the loss is the mean over all pairs, halved as in the paper. `y_true` holds integer labels `(n,)`,
        `y_pred` the embeddings `(n, d)` (the model's output).

        Args:
            margin: float. Pairs of different labels farther apart than this cost nothing. Defaults to `1.0`.

        Example:

        ```python
        import numpy as np
        from kerakit.losses import ContrastiveLoss
        loss = ContrastiveLoss(margin=1.0)
        float(loss(np.array([0, 0]), np.array([[0.0, 0.0], [0.0, 2.0]])))  # 2.0: one positive pair at distance 2
        ```
        """

        def __init__(self, margin=1.0, name="contrastive_loss", reduction="sum_over_batch_size", dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            self.margin = errors.check_positive_float("ContrastiveLoss", "margin", margin)

        def call(self, y_true, y_pred):
            distances = pairwise_distances(y_pred)
            same, different = _label_masks(y_true, distances.dtype)
            per_pair = same * ops.square(distances) + different * ops.square(ops.relu(self.margin - distances))
            n = ops.cast(ops.shape(distances)[0], distances.dtype)
            pairs = ops.maximum(n * (n - 1.0), 1.0)  # ordered pairs: each unordered pair is counted twice
            return 0.5 * ops.sum(per_pair) / pairs

        def get_config(self):
            return {**super().get_config(), "margin": self.margin}

    @keras.saving.register_keras_serializable(package="kerakit")
    class TripletLoss(keras.losses.Loss):
        """Triplet loss with online mining over a batch of embeddings (Schroff, Kalenichenko & Philbin 2015, FaceNet;
        batch-all and batch-hard mining as in Hermans, Beyer & Leibe 2017).

        A triplet (anchor a, positive p with a's label, negative n with another label) costs
        `max(0, d(a, p) - d(a, n) + margin)`, d the Euclidean distance. `batch_all` averages over every triplet of the
        batch whose cost is positive; `batch_hard` takes, for each anchor, its farthest positive and nearest negative
        (`batch_hard_indices`) and averages over the anchors that have both. `y_true` holds integer labels `(n,)`,
        `y_pred` the embeddings `(n, d)`.

        Args:
            margin: float. Defaults to `1.0`.
            mining: str. `"batch_all"` or `"batch_hard"`. Defaults to `"batch_hard"`.

        Example:

        ```python
        import numpy as np
        from kerakit.losses import TripletLoss
        labels, points = np.array([0, 0, 1]), np.array([[0.0], [1.0], [1.5]])
        # Anchors 0 and 1 cost 0.5 and 1.5; the third point has no positive.
        round(float(TripletLoss(margin=1.0, mining="batch_hard")(labels, points)), 4)  # 1.0
        ```
        """

        def __init__(self, margin=1.0, mining="batch_hard", name="triplet_loss", reduction="sum_over_batch_size",
                     dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            self.margin = errors.check_positive_float("TripletLoss", "margin", margin)
            self.mining = errors.check_choice("TripletLoss", "mining", mining, MINING)

        def call(self, y_true, y_pred):
            distances = pairwise_distances(y_pred)
            same, different = _label_masks(y_true, distances.dtype)
            if self.mining == "batch_hard":
                hardest_positive = ops.max(distances * same, axis=1)
                largest = ops.max(distances)
                hardest_negative = ops.min(distances + (1.0 - different) * (largest + 1.0), axis=1)
                valid = ops.cast(ops.logical_and(ops.sum(same, axis=1) > 0, ops.sum(different, axis=1) > 0),
                                 distances.dtype)
                per_anchor = ops.relu(hardest_positive - hardest_negative + self.margin) * valid
                return ops.sum(per_anchor) / ops.maximum(ops.sum(valid), 1.0)
            # (a, p, n): d(a, p) - d(a, n) + margin where p shares a's label and n does not.
            costs = ops.expand_dims(distances, 2) - ops.expand_dims(distances, 1) + self.margin
            valid = ops.expand_dims(same, 2) * ops.expand_dims(different, 1)
            costs = ops.relu(costs) * valid
            positive = ops.cast(costs > 1e-16, costs.dtype)
            return ops.sum(costs) / ops.maximum(ops.sum(positive), 1.0)

        def get_config(self):
            return {**super().get_config(), "margin": self.margin, "mining": self.mining}

    return {"OneHotLabels": OneHotLabels, "ContrastiveLoss": ContrastiveLoss, "TripletLoss": TripletLoss}


_CLASSES = {}


def register():
    """Defines kerakit's loss classes (so registers them for `keras.saving.load_model`); returns them by name."""
    if not _CLASSES:
        _CLASSES.update(_define_classes())
    return _CLASSES


def __getattr__(name):
    if name in ("OneHotLabels", "ContrastiveLoss", "TripletLoss"):
        return register()[name]
    raise AttributeError(f"module 'kerakit.losses' has no attribute {name!r}")



def pairwise_distances(embeddings, squared=False):
    """The matrix of Euclidean distances between the rows of `embeddings` (shape `(n, d)` -> `(n, n)`).

    The square root's gradient at 0 is infinite: distances are computed from squared distances clipped at 1e-12,
    and the diagonal is exactly 0.

    Example:

    ```python
    import numpy as np
    from kerakit.losses import pairwise_distances
    np.round(np.asarray(pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0]]))), 4).tolist()  # [[0.0, 5.0], [5.0, 0.0]]
    ```
    """
    from keras import ops

    embeddings = ops.convert_to_tensor(embeddings)
    dot = ops.matmul(embeddings, ops.transpose(embeddings))
    norms = ops.diagonal(dot)
    squared_distances = ops.maximum(ops.expand_dims(norms, 0) - 2.0 * dot + ops.expand_dims(norms, 1), 0.0)
    off_diagonal = 1.0 - ops.eye(ops.shape(embeddings)[0], dtype=squared_distances.dtype)
    if squared:
        return squared_distances * off_diagonal
    return ops.sqrt(ops.maximum(squared_distances, 1e-12)) * off_diagonal


def _label_masks(labels, dtype):
    """(same, different): float masks of the pairs (i, j), i != j, with equal and with different labels."""
    from keras import ops

    labels = ops.reshape(labels, (-1,))
    equal = ops.cast(ops.equal(ops.expand_dims(labels, 0), ops.expand_dims(labels, 1)), dtype)
    off_diagonal = 1.0 - ops.eye(ops.shape(labels)[0], dtype=dtype)
    return equal * off_diagonal, 1.0 - equal


def batch_hard_indices(labels, distances):
    """For each anchor, the index of its farthest positive and of its nearest negative (batch-hard mining).

    Args:
        labels: integer tensor `(n,)`.
        distances: tensor `(n, n)`, e.g. `pairwise_distances(embeddings)`.

    Returns:
        `(hardest_positive, hardest_negative)`, two integer tensors `(n,)`. An anchor with no positive (or no
        negative) gets an arbitrary index there; `TripletLoss` leaves such anchors out.

    Example:

    ```python
    import numpy as np
    from kerakit.losses import batch_hard_indices, pairwise_distances
    points = np.array([[0.0], [1.0], [3.0], [0.5]])
    positive, negative = batch_hard_indices(np.array([0, 0, 0, 1]), pairwise_distances(points))
    np.asarray(positive).tolist(), np.asarray(negative).tolist()  # ([2, 2, 0, 0], [3, 3, 3, 0])
    ```
    """
    from keras import ops

    distances = ops.convert_to_tensor(distances)
    same, different = _label_masks(labels, distances.dtype)
    largest = ops.max(distances)
    hardest_positive = ops.argmax(distances * same - (1.0 - same), axis=1)
    hardest_negative = ops.argmin(distances + (1.0 - different) * (largest + 1.0), axis=1)
    return hardest_positive, hardest_negative


def check_loss(loss, owner="train", argument="loss"):
    """Checks a loss name (or passes a `keras.losses.Loss`/callable through): one of `LOSSES` or any name
    `keras.losses.get` knows. An unknown name is refused with the closest known ones."""
    if loss is None or callable(loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return loss
    import keras

    try:
        keras.losses.get(loss)
    except (ValueError, TypeError):
        near = errors.closest(str(loss), LOSSES)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise errors.invalid(owner, argument, f"one of {list(LOSSES)}{hint} or a Keras loss name", loss) from None
    return loss


def get(name, *, from_logits=True, label_smoothing=0.0, num_outputs=None, **options):
    """Returns a Keras loss for a name of `LOSSES` (or any Keras loss name), for a model trained on integer labels.

    Args:
        name: str. One of `LOSSES`, or a name `keras.losses.get` knows (used as Keras gives it).
        from_logits: bool. Whether the model outputs logits (no softmax/sigmoid). Defaults to `True`.
        label_smoothing: float. In [0, 1), for the cross-entropy and focal losses. Defaults to `0`.
        num_outputs: int or None. Width of the model's output: 1 makes `focal` binary. Defaults to `None`.
        **options: More arguments of the loss class (`margin`, `mining`, `gamma`, `alpha`, `delta`...).

    Example:

    ```python
    import kerakit.losses
    type(kerakit.losses.get("crossentropy", label_smoothing=0.1)).__name__  # 'OneHotLabels'
    kerakit.losses.get("triplet", mining="batch_all").mining  # 'batch_all'
    ```
    """
    import keras

    owner = "loss"
    check_loss(name, owner, "loss")
    classes = register()
    label_smoothing = errors.check_rate(owner, "label_smoothing", label_smoothing)
    smoothing = {"label_smoothing": label_smoothing} if label_smoothing else {}
    losses = keras.losses
    if name not in LOSSES:
        if label_smoothing:
            raise errors.invalid(owner, "label_smoothing", f"0 with the Keras loss {name!r} (it applies to "
                                 f"{', '.join(repr(n) for n in _CROSSENTROPY + ('binary_crossentropy', 'focal'))})",
                                 label_smoothing)
        return losses.get(name)
    if name in ("mse", "mae", "huber", "hinge", "kl_divergence", "contrastive", "triplet") and label_smoothing:
        raise errors.invalid(owner, "label_smoothing", f"0 with loss={name!r} (label smoothing applies to the "
                             "cross-entropy and focal losses)", label_smoothing)
    if name == "mse":
        return losses.MeanSquaredError(**options)
    if name == "mae":
        return losses.MeanAbsoluteError(**options)
    if name == "huber":
        return losses.Huber(**options)
    if name in _CROSSENTROPY:
        if label_smoothing:
            return classes["OneHotLabels"](
                losses.CategoricalCrossentropy(from_logits=from_logits, **smoothing, **options))
        return losses.SparseCategoricalCrossentropy(from_logits=from_logits, **options)
    if name == "binary_crossentropy":
        return losses.BinaryCrossentropy(from_logits=from_logits, **smoothing, **options)
    if name == "binary_focal" or (name == "focal" and num_outputs == 1):
        return losses.BinaryFocalCrossentropy(from_logits=from_logits, **smoothing, **options)
    if name == "focal":
        return classes["OneHotLabels"](
            losses.CategoricalFocalCrossentropy(from_logits=from_logits, **smoothing, **options))
    if name == "hinge":
        return classes["OneHotLabels"](losses.CategoricalHinge(**options))
    if name == "kl_divergence":
        return classes["OneHotLabels"](losses.KLDivergence(**options), softmax=from_logits)
    if name == "contrastive":
        return classes["ContrastiveLoss"](**options)
    return classes["TripletLoss"](**options)


def balanced_class_weights(labels, num_classes=None):
    """`{class: n / (k * count(class))}` for integer `labels` (n examples, k classes), as scikit-learn's
    "balanced": every class weighs as much in total. Classes with no example are left out.

    Example:

    ```python
    from kerakit.losses import balanced_class_weights
    balanced_class_weights([0, 0, 0, 1])  # {0: 0.6666666666666666, 1: 2.0}
    ```
    """
    import numpy as np

    labels = np.asarray(labels).reshape(-1).astype("int64")
    counts = np.bincount(labels, minlength=num_classes or 0)
    present = np.flatnonzero(counts)
    return {int(c): float(len(labels) / (len(present) * counts[c])) for c in present}


def check_class_weight(class_weight, num_classes, owner="train", argument="class_weight"):
    """Checks `class_weight`: `None`, `"balanced"`, or a dict `{class index: weight >= 0}`."""
    if class_weight is None or class_weight == "balanced":
        if class_weight is not None and not num_classes:
            raise errors.invalid(owner, argument, "None for data without classes", class_weight)
        return class_weight
    if not isinstance(class_weight, dict) or not class_weight:
        raise errors.invalid(owner, argument, "None, 'balanced' or a dict {class index: weight}", class_weight)
    checked = {}
    for key, value in class_weight.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            index = -1
        if not num_classes or not 0 <= index < num_classes or str(index) != str(key).strip() or isinstance(
                value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise errors.invalid(owner, argument, f"a dict {{class index in [0, {num_classes}): weight >= 0}}",
                                 class_weight)
        checked[index] = float(value)
    return checked
