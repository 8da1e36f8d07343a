"""Losses by name and kerakit's own losses against hand and NumPy computations."""

import keras
import numpy as np
import pytest

import kerakit.losses
from kerakit.errors import KerakitError
from kerakit.losses import balanced_class_weights, batch_hard_indices, get, pairwise_distances


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_label_smoothing_on_integer_labels_matches_the_hand_computation():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]], "float32")
    labels = np.array([0, 1])
    eps, k = 0.2, 3
    targets = (1 - eps) * np.eye(k)[labels] + eps / k
    expected = -(targets * _log_softmax(logits)).sum(axis=-1).mean()
    loss = get("crossentropy", label_smoothing=eps)
    np.testing.assert_allclose(float(loss(labels, logits)), expected, rtol=1e-5)
    plain = get("sparse_categorical_crossentropy")
    assert isinstance(plain, keras.losses.SparseCategoricalCrossentropy)
    np.testing.assert_allclose(float(plain(labels, logits)), -_log_softmax(logits)[[0, 1], labels].mean(), rtol=1e-5)
    on_probabilities = get("crossentropy", label_smoothing=eps, from_logits=False)
    probabilities = np.exp(_log_softmax(logits))
    np.testing.assert_allclose(float(on_probabilities(labels, probabilities)), expected, rtol=1e-4)


def test_names_give_keras_losses_on_integer_labels():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]], "float32")
    labels = np.array([0, 2])
    one_hot = np.eye(3, dtype="float32")[labels]
    focal = get("focal", label_smoothing=0.1)
    reference = keras.losses.CategoricalFocalCrossentropy(from_logits=True, label_smoothing=0.1)
    np.testing.assert_allclose(float(focal(labels, logits)), float(reference(one_hot, logits)), rtol=1e-6)
    assert isinstance(get("focal", num_outputs=1), keras.losses.BinaryFocalCrossentropy)
    hinge = get("hinge")
    np.testing.assert_allclose(float(hinge(labels, logits)),
                               float(keras.losses.CategoricalHinge()(one_hot, logits)), rtol=1e-6)
    kl = get("kl_divergence")  # from logits: the softmax first
    # KL of one-hot targets is the cross-entropy (up to the 1e-7 clipping of Keras's KLDivergence).
    np.testing.assert_allclose(float(kl(labels, logits)), -_log_softmax(logits)[[0, 1], labels].mean(), rtol=1e-4)
    assert isinstance(get("huber"), keras.losses.Huber) and isinstance(get("mae"), keras.losses.MeanAbsoluteError)
    assert get("binary_crossentropy", label_smoothing=0.1).label_smoothing == 0.1
    assert get("mean_squared_logarithmic_error") is keras.losses.get("mean_squared_logarithmic_error")


def test_class_weight_balanced_values():
    weights = balanced_class_weights([0, 0, 0, 1, 2, 2], num_classes=4)
    assert weights == {0: pytest.approx(6 / 9), 1: pytest.approx(2.0), 2: pytest.approx(1.0)}  # class 3: absent
    labels = np.random.default_rng(0).integers(0, 5, size=200)
    weights = balanced_class_weights(labels)
    counts = np.bincount(labels)
    np.testing.assert_allclose([weights[c] * counts[c] for c in range(5)], 200 / 5)  # every class weighs n / k


def _numpy_distances(points):
    return np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))


def _numpy_contrastive(labels, points, margin):
    d, total, pairs = _numpy_distances(points), 0.0, 0
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            total += d[i, j] ** 2 if labels[i] == labels[j] else max(0.0, margin - d[i, j]) ** 2
            pairs += 1
    return 0.5 * total / pairs


def _numpy_triplet(labels, points, margin, mining):
    d, n = _numpy_distances(points), len(labels)
    if mining == "batch_hard":
        costs = []
        for a in range(n):
            positives = [p for p in range(n) if p != a and labels[p] == labels[a]]
            negatives = [q for q in range(n) if labels[q] != labels[a]]
            if positives and negatives:
                costs.append(max(0.0, max(d[a, positives]) - min(d[a, negatives]) + margin))
        return np.mean(costs)
    costs = [d[a, p] - d[a, q] + margin for a in range(n) for p in range(n) for q in range(n)
             if p != a and labels[p] == labels[a] and labels[q] != labels[a]]
    positive = [c for c in costs if c > 0]
    return np.sum(positive) / max(len(positive), 1)


@pytest.fixture
def embeddings():
    rng = np.random.default_rng(3)
    return np.array([0, 1, 0, 2, 1, 0, 2, 2, 1, 3]), rng.normal(size=(10, 4)).astype("float32")


def test_contrastive_and_triplet_losses_match_numpy(embeddings):
    labels, points = embeddings
    np.testing.assert_allclose(np.asarray(pairwise_distances(points)), _numpy_distances(points), atol=1e-5)
    for margin in (0.5, 2.0):
        contrastive = kerakit.losses.ContrastiveLoss(margin=margin)
        np.testing.assert_allclose(float(contrastive(labels, points)), _numpy_contrastive(labels, points, margin),
                                   rtol=1e-5)
        for mining in ("batch_all", "batch_hard"):
            triplet = kerakit.losses.TripletLoss(margin=margin, mining=mining)
            np.testing.assert_allclose(float(triplet(labels, points)),
                                       _numpy_triplet(labels, points, margin, mining), rtol=1e-5)


def test_batch_hard_mining_picks_the_farthest_positive_and_the_nearest_negative():
    # On a line: class 0 at 0, 1, 4.2; class 1 at 2.5 and 10.
    points = np.array([[0.0], [1.0], [4.2], [2.5], [10.0]], "float32")
    labels = np.array([0, 0, 0, 1, 1])
    positive, negative = batch_hard_indices(labels, pairwise_distances(points))
    assert np.asarray(positive).tolist() == [2, 2, 0, 4, 3]
    assert np.asarray(negative).tolist() == [3, 3, 3, 1, 2]
    # The loss is the mean over anchors of d(farthest positive) - d(nearest negative) + margin, clipped at 0.
    expected = np.mean([4.2 - 2.5 + 1, 3.2 - 1.5 + 1, 4.2 - 1.7 + 1, 7.5 - 1.5 + 1, 7.5 - 5.8 + 1])
    np.testing.assert_allclose(float(kerakit.losses.TripletLoss(margin=1.0)(labels, points)), expected, rtol=1e-5)


def test_losses_serialise_and_train_an_embedding(tmp_path, embeddings):
    labels, points = embeddings
    for loss in (get("crossentropy", label_smoothing=0.1), get("kl_divergence"), get("contrastive", margin=1.5),
                 get("triplet", margin=0.3, mining="batch_all")):
        again = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(again) is type(loss)
        y_pred = points if type(loss).__name__ in ("ContrastiveLoss", "TripletLoss") else points[:, :4]
        y_true = labels if y_pred is points else labels % 4
        np.testing.assert_allclose(float(again(y_true, y_pred)), float(loss(y_true, y_pred)), rtol=1e-6)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.compile(optimizer="sgd", loss=get("triplet"))
    same_points = np.repeat(points[:2], 5, axis=0)  # duplicate embeddings: distance 0, the gradient stays finite
    history = model.fit(same_points, labels, batch_size=10, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    model.save(tmp_path / "embedding.keras")
    reloaded = keras.saving.load_model(tmp_path / "embedding.keras")
    assert type(reloaded.loss).__name__ == "TripletLoss"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: get("focall"), r"loss: `loss` must be one of \[.*\] \(did you mean 'focal'\?\) or a Keras loss name. "
                                r"Received: loss='focall'"),
        (lambda: get("hinge", label_smoothing=0.1), r"`label_smoothing` must be 0 with loss='hinge'"),
        (lambda: get("poisson", label_smoothing=0.1), r"`label_smoothing` must be 0 with the Keras loss 'poisson'"),
        (lambda: kerakit.losses.TripletLoss(mining="hardest"),
         r"`mining` must be one of \['batch_all', 'batch_hard'\]"),
        (lambda: kerakit.losses.ContrastiveLoss(margin=0), r"`margin` must be a number > 0. Received: margin=0"),
    ],
)
def test_bad_loss_arguments_are_refused(call, message):
    with pytest.raises(KerakitError, match=message):
        call()
