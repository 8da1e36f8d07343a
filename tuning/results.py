"""The leaderboard of a search: rows from the oracle's trials, printed, as CSV and JSON, and as a PNG.

A row is `{"rank", "trial", "status", "objective", "epochs", "seconds", "hyperparameters"}`; completed trials come
first, best first. Nothing here imports KerasTuner (rows are built from its trial objects by duck typing).
"""

import csv
import io
import json

from kerakit.run_folder import write_atomic, write_json

LEADERBOARD_CSV = "leaderboard.csv"
LEADERBOARD_JSON = "leaderboard.json"
PLOT_PNG = "objective.png"


def leaderboard_rows(trials, space, direction):
    """Rows for the `keras_tuner` trials `trials` (an iterable), decoded with `space`, sorted best first."""
    from tuning import spaces

    rows = []
    for trial in trials:
        values = trial.hyperparameters.values
        blueprint_args, settings = spaces.resolve(space, values)
        chosen = {k: v for k, v in {**blueprint_args, **settings}.items() if k in space.tunable}
        metrics = trial.metrics
        row = {
            "trial": trial.trial_id,
            "status": str(getattr(trial.status, "value", trial.status)),
            "objective": None if trial.score is None else float(trial.score),
            "epochs": _metric(metrics, "trial_epochs"),
            "seconds": _metric(metrics, "trial_seconds"),
            "hyperparameters": {k: list(v) if isinstance(v, tuple) else v for k, v in chosen.items()},
        }
        if "tuner/epochs" in values:
            row["budget_epochs"] = int(values["tuner/epochs"])
            row["epochs"] = row["epochs"] if row["epochs"] is not None else None
        if row["epochs"] is not None:
            row["epochs"] = int(row["epochs"])
        rows.append(row)
    sign = -1 if direction == "max" else 1
    rows.sort(key=lambda r: (r["status"] != "COMPLETED", r["objective"] is None,
                             sign * r["objective"] if r["objective"] is not None else 0, r["trial"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def _metric(metrics, name):
    if not metrics.exists(name):
        return None
    value = metrics.get_last_value(name)
    return None if value is None else float(value)


def format_leaderboard(rows, objective_name, limit=None):
    """The leaderboard as a text table (rank, trial, objective, epochs, seconds, hyperparameters)."""
    shown = rows[:limit] if limit else rows
    lines = [f"{'rank':>4}  {'trial':>5}  {objective_name:>14}  {'epochs':>6}  {'seconds':>8}  hyperparameters"]
    for row in shown:
        objective = "-" if row["objective"] is None else f"{row['objective']:.4f}"
        epochs = "-" if row["epochs"] is None else str(row["epochs"])
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.1f}"
        hps = ", ".join(f"{k}={_short(v)}" for k, v in sorted(row["hyperparameters"].items()))
        status = "" if row["status"] == "COMPLETED" else f"  [{row['status']}]"
        lines.append(f"{row['rank']:>4}  {row['trial']:>5}  {objective:>14}  {epochs:>6}  {seconds:>8}  {hps}{status}")
    if limit and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more in {LEADERBOARD_CSV}")
    return "\n".join(lines)


def _short(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "(" + ",".join(map(str, value)) + ")"
    return str(value)


def write_leaderboard(rows, folder, objective_name, direction):
    """Writes `leaderboard.csv` and `leaderboard.json` into `folder`; returns their paths."""
    names = sorted({k for row in rows for k in row["hyperparameters"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["rank", "trial", "status", objective_name, "epochs", "seconds", *names])
    for row in rows:
        writer.writerow([row["rank"], row["trial"], row["status"], row["objective"], row["epochs"], row["seconds"],
                         *[json.dumps(row["hyperparameters"][n]) if isinstance(row["hyperparameters"].get(n), list)
                           else row["hyperparameters"].get(n, "") for n in names]])
    csv_path, json_path = folder / LEADERBOARD_CSV, folder / LEADERBOARD_JSON
    write_atomic(csv_path, buffer.getvalue())
    write_json(json_path, {"objective": {"name": objective_name, "direction": direction}, "trials": rows})
    return csv_path, json_path


def plot_leaderboard(rows, path, objective_name, direction, title=None):
    """A PNG: the objective per trial (with the best so far), then the objective against each hyperparameter."""
    from kerakit.plots import pyplot, save_figure

    plt = pyplot()

    done = sorted((r for r in rows if r["objective"] is not None), key=lambda r: r["trial"])
    names = sorted({k for r in done for k in r["hyperparameters"]})
    columns = min(4, 1 + len(names))
    lines = -(-(1 + len(names)) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(4 * columns, 3.2 * lines), squeeze=False)
    flat = list(axes.ravel())
    ax = flat[0]
    xs = list(range(len(done)))
    ys = [r["objective"] for r in done]
    best, running = [], None
    for y in ys:
        running = y if running is None else (max(running, y) if direction == "max" else min(running, y))
        best.append(running)
    ax.plot(xs, ys, "o", label="trial")
    ax.plot(xs, best, "-", label="best so far")
    ax.set_xticks(xs, [r["trial"] for r in done], rotation=90, fontsize=6)
    ax.set_xlabel("trial")
    ax.set_ylabel(objective_name)
    ax.set_title(f"{objective_name} per trial ({direction})")
    ax.legend(fontsize=7)
    for ax, name in zip(flat[1:], names):
        values = [r["hyperparameters"].get(name) for r in done]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            ax.plot(values, ys, "o")
            if values and min(values) > 0 and max(values) / min(values) > 50:
                ax.set_xscale("log")
        else:
            labels = sorted({_short(v) for v in values})
            ax.plot([labels.index(_short(v)) for v in values], ys, "o")
            ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel(name)
        ax.set_ylabel(objective_name)
    for ax in flat[1 + len(names):]:
        ax.axis("off")
    return save_figure(fig, path, title, dpi=80)
