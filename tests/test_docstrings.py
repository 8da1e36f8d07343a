"""Every runnable example in the public docstrings runs, and a line `expr  # value` must evaluate to `value`.

Docstrings cannot drift from the code this way. (The training run's example trains for minutes and is covered by
tests/test_training.py instead.)
"""

import tempfile

import pytest

import kerakit
import kerakit.augment
import kerakit.backbones
import kerakit.data
import kerakit.distribute
import kerakit.doctor
import kerakit.export
import kerakit.generation
import kerakit.layers.generative
import kerakit.layers.graph
import kerakit.layers.sequence
import kerakit.losses
import kerakit.lr_finder
import kerakit.models._backend
import kerakit.models.distiller
import kerakit.models.gan
import kerakit.models.vae
import kerakit.optimizers
import kerakit.plots
import kerakit.registry
import kerakit.schedules
import kerakit.transfer
from blueprints import _pretrained
from tests.helpers import run_docstring_examples

OBJECTS = {
    "kerakit.build": kerakit.build,
    "kerakit.list_blueprints": kerakit.list_blueprints,
    "kerakit.registry.blueprint": kerakit.registry.blueprint,
    "kerakit.registry.variant_of": kerakit.registry.variant_of,
    "kerakit.schedules.make_schedule": kerakit.schedules.make_schedule,
    "kerakit.optimizers.make_optimizer": kerakit.optimizers.make_optimizer,
    "kerakit.schedules.OneCycle": kerakit.schedules.OneCycle,
    "kerakit.schedules.plateau_callback": kerakit.schedules.plateau_callback,
    **{f"kerakit.losses.{name}": getattr(kerakit.losses, name) for name in (
        "OneHotLabels", "ContrastiveLoss", "TripletLoss", "pairwise_distances", "batch_hard_indices", "get",
        "balanced_class_weights")},
    "kerakit.lr_finder.suggest": kerakit.lr_finder.suggest,
    "kerakit.lr_finder.find_learning_rate": kerakit.lr_finder.find_learning_rate,
    "kerakit.plots.plot_history": kerakit.plots.plot_history,
    "kerakit.plots.save_image_grid": kerakit.plots.save_image_grid,
    "kerakit.layers.generative.Sampling": kerakit.layers.generative.Sampling,
    **{f"kerakit.models.vae.{name}": getattr(kerakit.models.vae, name) for name in (
        "VAE", "kl_divergence", "reconstruction_loss")},
    **{f"kerakit.models.gan.{name}": getattr(kerakit.models.gan, name) for name in (
        "GAN", "discriminator_loss", "generator_loss", "gradient_penalty")},
    **{f"kerakit.models._backend.{name}": getattr(kerakit.models._backend, name) for name in (
        "value_and_gradients", "input_gradients")},
    "kerakit.export": kerakit.export,
    "kerakit.backbones": kerakit.backbones,
    "kerakit.backbones.backbone": kerakit.backbones.backbone,
    "kerakit.augment": kerakit.augment,
    "kerakit.export.saved_model": kerakit.export.saved_model,
    "kerakit.data.ByteTokenizer": kerakit.data.ByteTokenizer,
    "kerakit.data.WordTokenizer": kerakit.data.WordTokenizer,
    "kerakit.distribute.sync_replicas": kerakit.distribute.sync_replicas,
    "kerakit.distribute.prepare_dataset": kerakit.distribute.prepare_dataset,
    **{f"kerakit.distribute.{name}": getattr(kerakit.distribute, name) for name in (
        "initialize", "job_arguments", "is_writer", "model_parallel")},
    "blueprints._pretrained.copy_weights_in_order": _pretrained.copy_weights_in_order,
    "kerakit.generation": kerakit.generation,
    "kerakit.transfer.enable_lora": kerakit.transfer.enable_lora,
    "kerakit.transfer.quantize": kerakit.transfer.quantize,
    "kerakit.doctor.doctor": kerakit.doctor.doctor,
    **{f"kerakit.models.distiller.{name}": getattr(kerakit.models.distiller, name) for name in (
        "Distiller", "distillation_loss", "ends_in_softmax")},
    **{f"kerakit.layers.graph.{name}": getattr(kerakit.layers.graph, name) for name in (
        "aggregate", "segment_softmax", "gcn_norm", "MessagePassing", "GCNConv", "GATConv", "SAGEConv", "GINConv",
        "GlobalPooling", "AttentionReadout", "PairScore")},
    **{f"kerakit.layers.sequence.{name}": getattr(kerakit.layers.sequence, name) for name in (
        "TokenAndPositionEmbedding", "CachedMultiHeadAttention", "RelativePositionBias", "TransformerEncoderBlock",
        "TransformerDecoderBlock", "causal_mask", "rotate", "sinusoidal_positions")},
    **{f"blueprint {name}": kerakit.get_blueprint(name).builder for name in kerakit.list_blueprints()},
}


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_example_runs(name, monkeypatch):
    monkeypatch.chdir(tempfile.mkdtemp())
    monkeypatch.setattr(kerakit.registry, "_REGISTRY", dict(kerakit.registry._REGISTRY))  # examples may register
    assert run_docstring_examples(OBJECTS[name]) >= 1, f"{name} has no runnable example"
