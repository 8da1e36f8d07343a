"""PNG plots of a run (matplotlib, headless)."""

import io

from kerakit.run_folder import write_atomic


def pyplot():
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, title=None, dpi=100):
    """Titles, lays out and writes `fig` as a PNG at `path` (atomically), then closes it."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path


def plot_history(history, path, title=None):
    """Writes a PNG of every logged quantity per epoch, training and validation side by side.

    Args:
        history: dict. `{"loss": [...], "val_loss": [...], "accuracy": [...], ...}`.
        path: str or PathLike. The PNG to write (atomically).
        title: str or None. The figure title.

    Example:

    ```python
    from kerakit.plots import plot_history
    plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, "/tmp/curves.png")
    ```
    """
    plt = pyplot()
    names = [k for k in history if not k.startswith("val_") and k not in ("epoch", "learning_rate")]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4.5 * max(1, len(names)), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path, title)


def save_image_grid(images, path, columns=None, title=None, scale=None):
    """Writes a PNG of images in [0, 1] laid out in a grid (atomically), e.g. a generative model's samples.

    Args:
        images: array of shape `(n, height, width, channels)` with 1 or 3 channels, values in [0, 1] (clipped).
        path: str or PathLike. The PNG to write.
        columns: int or None. Images per row. Defaults to `ceil(sqrt(n))`.
        title: str or None. The figure title.
        scale: float or None. Inches per image. Defaults to a size that keeps 8x8 digits legible.

    Example:

    ```python
    import numpy as np
    from kerakit.plots import save_image_grid
    save_image_grid(np.random.default_rng(0).uniform(size=(6, 8, 8, 1)), "/tmp/grid.png", columns=3)
    ```
    """
    import math

    import numpy as np

    from kerakit import errors

    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise errors.invalid("save_image_grid", "images", "a non-empty array (n, height, width, 1 or 3)",
                             f"an array of shape {images.shape}")
    count = len(images)
    columns = columns or math.ceil(math.sqrt(count))
    errors.check_int("save_image_grid", "columns", columns)
    rows = math.ceil(count / columns)
    scale = scale or 0.6
    plt = pyplot()
    fig, axes = plt.subplots(rows, columns, figsize=(columns * scale + 0.2, rows * scale + (0.4 if title else 0.2)),
                             squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < count:
            image = np.clip(images[index], 0.0, 1.0)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return save_figure(fig, path, title)
