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
