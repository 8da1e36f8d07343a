"""Transfer learning in a run: start from trained weights, train the head on a frozen backbone, then fine-tune.

The recipe of the Keras transfer-learning guide and of most fine-tuning papers (e.g. Kornblith, Shlens and Le, "Do
Better ImageNet Models Transfer Better?", CVPR 2019; Howard and Ruder's gradual unfreezing, ACL 2018):

1. `init_from` copies the weights of a trained model layer by layer where names and shapes agree (a new head with
   another number of classes stays freshly initialised); ImageNet weights come from the blueprint's `weights`.
2. `freeze_epochs`: only the head trains; every backbone layer is frozen, which in Keras 3 also puts batch
   normalisation in inference mode (its moving statistics stay those of the source data).
3. Then the top `unfreeze_stages` stages (`kerakit.backbones.stages`: all layers at one resolution, lowest resolution
   first) train too, at `learning_rate * fine_tune_lr_factor`, with a fresh optimizer and schedule; the lower
   stages stay frozen.

Each phase is its own `fit` (Keras fixes the trainable set when it compiles); a crashed run resumes in the phase it
was in, the finished phases' weights restored from `checkpoints/phase<k>.weights.h5`.

Parameter-efficient fine-tuning: `enable_lora` (LoRA) and `quantize` (int8 weights under LoRA, QLoRA-style).
"""

import dataclasses
import numbers
import os

from kerakit import errors
from kerakit.errors import KerakitError
from kerakit.run_folder import save_through_temporary


@dataclasses.dataclass
class Phase:
    """One `fit` of a run: its epochs, learning rate and which layers train (`None`: all of them)."""

    first_epoch: int
    epochs: int
    learning_rate: float
    model: object
    trainable: list = None

    def apply(self):
        """Sets `trainable` on every layer that holds weights: True for `self.trainable`, False for the others."""
        if self.trainable is None:
            return
        keep = {id(layer) for layer in self.trainable}
        for layer in self.model.layers:
            if layer.weights:
                layer.trainable = id(layer) in keep


def check_arguments(epochs, init_from, freeze_epochs, unfreeze_stages, fine_tune_lr_factor):
    """Checks the transfer-learning arguments of `kerakit.train`; returns `init_from` as the `.keras` file path."""
    errors.check_int("train", "freeze_epochs", freeze_epochs, minimum=0)
    if freeze_epochs >= epochs:
        raise errors.invalid("train", "freeze_epochs", f"smaller than epochs={epochs} (the fine-tuning phase needs "
                             "at least one epoch)", freeze_epochs)
    if unfreeze_stages != "all":
        errors.check_int("train", "unfreeze_stages", unfreeze_stages, minimum=0)
    if isinstance(fine_tune_lr_factor, bool) or not isinstance(fine_tune_lr_factor, numbers.Real) or not (
            0 < fine_tune_lr_factor <= 1):
        raise errors.invalid("train", "fine_tune_lr_factor", "a number in (0, 1]", fine_tune_lr_factor)
    if init_from is None:
        return None
    path = os.fspath(init_from)
    if os.path.isdir(path):
        path = os.path.join(path, "model.keras")
    if not (path.endswith(".keras") and os.path.isfile(path)):
        raise errors.invalid("train", "init_from", "a .keras model file or a run folder holding model.keras",
                             os.fspath(init_from))
    return path


def copy_matching_weights(path, model, verbose=True):
    """Copies the weights of the model saved at `path` into `model`, layer by layer where names and shapes agree.

    Returns:
        (copied, kept): names of the layers that received weights, and of those with the same name whose shapes
        differ (e.g. the output layer of a head with another number of classes), which keep their own.

    Raises:
        KerakitError: when no layer matches (a different architecture or naming).
    """
    import keras

    source = keras.saving.load_model(path, compile=False, safe_mode=True)
    by_name = {layer.name: layer for layer in source.layers if layer.weights}
    copied, kept = [], []
    for layer in model.layers:
        other = by_name.get(layer.name)
        if other is None or not layer.weights:
            continue
        if [tuple(w.shape) for w in other.weights] != [tuple(w.shape) for w in layer.weights]:
            kept.append(layer.name)
            continue
        layer.set_weights(other.get_weights())
        copied.append(layer.name)
    if not copied:
        raise KerakitError(f"train: `init_from` model {source.name!r} ({path}) shares no layer (same name and weight "
                           f"shapes) with {model.name!r}; build the same blueprint with the same `name`.")
    if verbose:
        print(f"kerakit: init_from {path}: copied {len(copied)} layers" +
              (f"; kept fresh weights in {', '.join(kept)}" if kept else ""))
    return copied, kept


def plan(model, epochs, freeze_epochs, unfreeze_stages, learning_rate, fine_tune_lr_factor):
    """The phases of a run (see the module docstring): one plain phase unless transfer learning is asked for."""
    if not freeze_epochs and unfreeze_stages == "all":
        return [Phase(0, epochs, learning_rate, model)]
    from kerakit import backbones

    try:
        stage_layers, head = backbones.stages(model)
        if not stage_layers:
            raise KerakitError("no stages")
    except KerakitError:
        raise errors.invalid("train", "freeze_epochs" if freeze_epochs else "unfreeze_stages",
                             f"0 / 'all' for {model.name!r}, which is not an image model with stages", freeze_epochs
                             if freeze_epochs else unfreeze_stages) from None
    if unfreeze_stages != "all" and unfreeze_stages > len(stage_layers):
        raise errors.invalid("train", "unfreeze_stages", f"'all' or at most {len(stage_layers)} (the stages of "
                             f"{model.name})", unfreeze_stages)
    count = len(stage_layers) if unfreeze_stages == "all" else unfreeze_stages
    fine_tuned = [layer for stage in stage_layers[len(stage_layers) - count:] for layer in stage] + head
    phases = []
    if freeze_epochs:
        phases.append(Phase(0, freeze_epochs, learning_rate, model, list(head)))
        phases.append(Phase(freeze_epochs, epochs - freeze_epochs, learning_rate * fine_tune_lr_factor, model,
                            fine_tuned))
    else:
        phases.append(Phase(0, epochs, learning_rate, model, fine_tuned))
    return phases


def finish(folder):
    """Removes the emptied backup folder of a run with several phases (each phase's own backup is gone by then)."""
    backup = folder.path / "backup"
    if backup.is_dir() and not any(backup.iterdir()):
        backup.rmdir()


def _phase_file(folder, index):
    return folder.path / "checkpoints" / f"phase{index + 1}.weights.h5"


def phase_done(folder, index, count, model):
    """Whether phase `index` finished in an earlier, interrupted call; if so its weights are loaded into `model`."""
    path = _phase_file(folder, index)
    if count == 1 or index == count - 1 or not path.exists():
        return False
    model.load_weights(str(path))
    return True


def mark_phase_done(folder, index, count, model):
    """Saves the weights at the end of a phase that another follows (written to a temporary name, then moved)."""
    if count == 1 or index == count - 1:
        return
    path = _phase_file(folder, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_through_temporary(path, model.save_weights, ".weights.h5")


def enable_lora(model, rank, owner="train"):
    """LoRA fine-tuning (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022) with Keras's own
    `layer.enable_lora`: low-rank updates on the query and value projections of every attention layer (on every
    `Dense` / `EinsumDense` layer of a model without attention); every other weight is frozen, and every other
    layer too (batch normalisation keeps its moving statistics).

    Returns the names of the layers that received LoRA weights.

    Example:

    ```python
    import kerakit
    from kerakit.transfer import enable_lora
    model = kerakit.build("gpt_nano", num_layers=1, width=32, num_heads=2)
    names = enable_lora(model, rank=2)
    len(names), sorted({w.path.split("/")[-1] for w in model.trainable_weights})  # (2, ['lora_kernel_a', 'lora_kernel_b'])
    ```
    """
    import keras

    rank = errors.check_int(owner, "lora_rank", rank)
    attention = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.MultiHeadAttention)]
    if attention:
        targets = [dense for layer in attention for dense in (layer.query_dense, layer.value_dense)]
    else:
        targets = [layer for layer in model._flatten_layers()
                   if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))]
    if not targets:
        raise errors.invalid(owner, "lora_rank", f"None for {model.name!r}, which has no attention or dense layer "
                             "to adapt", rank)
    for layer in targets:
        layer.enable_lora(rank)
    adapted = {id(layer) for layer in targets}
    for layer in model._flatten_layers(include_self=False):
        # A whole frozen layer, not only its variables: batch normalisation then runs in inference mode, and its
        # moving statistics stay those of the pretrained model.
        if layer.weights and id(layer) not in adapted and not list(layer._flatten_layers(include_self=False)):
            layer.trainable = False
    lora = {id(layer.lora_kernel_a) for layer in targets} | {id(layer.lora_kernel_b) for layer in targets}
    for variable in model.trainable_variables:
        if id(variable) not in lora:
            variable.trainable = False
    return [layer.path for layer in targets]


QUANTIZE_MODES = ("int8",)


def check_quantize(quantize, lora_rank, owner="train"):
    """Checks the `quantize` argument of a run: `None`, or `"int8"` together with `lora_rank` (QLoRA)."""
    if quantize is None:
        return None
    errors.check_choice(owner, "quantize", quantize, QUANTIZE_MODES)
    if lora_rank is None:
        raise errors.invalid(owner, "quantize", "None without lora_rank (int8 kernels do not train: a quantized run "
                             "trains LoRA weights beside them; pass lora_rank too)", quantize)
    return quantize


def quantize(model, mode="int8", owner="train"):
    """Quantizes `model`'s weights with Keras's own `model.quantize(mode)`, for QLoRA-style fine-tuning (Dettmers et
    al., "QLoRA: Efficient Finetuning of Quantized LLMs", NeurIPS 2023, with int8 instead of 4-bit NormalFloat):
    then `enable_lora` trains low-rank updates beside the frozen int8 kernels.

    Keras 3 quantizes `Dense`, `EinsumDense` and `Embedding` layers (int8 kernels, a float scale per output
    channel); convolutions, normalisation and the other layers keep float weights (frozen by `enable_lora`).

    Saving: `.keras` files (the run's `model.keras`, checkpoints) store each LoRA update merged into its int8 kernel
    and quantized again, as Keras does: the reloaded model is int8 without LoRA weights, and its outputs differ from
    the trained model's by that re-quantisation error (about 1e-2 on the logits of the tests). The SavedModel export
    of the trained model is exact.

    Returns the paths of the quantized layers.

    Example:

    ```python
    import kerakit
    from kerakit.transfer import enable_lora, quantize
    model = kerakit.build("mlp", input_shape=(6,), num_classes=3, hidden_units=(8,))
    quantize(model, "int8"), enable_lora(model, rank=2)  # (['mlp_dense1', 'mlp_predictions'], ['mlp_dense1', 'mlp_predictions'])
    model.get_layer("mlp_dense1").quantization_mode, len(model.trainable_weights)  # ('int8', 4)
    ```
    """
    import keras

    errors.check_choice(owner, "quantize", mode, QUANTIZE_MODES)
    kinds = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Embedding)
    if not any(isinstance(layer, kinds) for layer in model._flatten_layers()):
        raise errors.invalid(owner, "quantize", f"None for {model.name!r}, which has no Dense, EinsumDense or "
                             "Embedding layer (the layers Keras quantizes)", mode)
    model.quantize(mode, filters=lambda layer: isinstance(layer, kinds))
    return [layer.path for layer in model._flatten_layers() if getattr(layer, "quantization_mode", None) == mode]
