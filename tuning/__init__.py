"""KerasTuner integration for kerakit blueprints: search spaces as data, hypermodels and the search runner.

```python
import tuning
result = tuning.search(blueprint="convnet", data="digits", tuner="hyperband", max_epochs=20)
```

`tuning.spaces` (the tables), `tuning.search` (the runner), `tuning.results` (leaderboard, CSV/JSON, PNG),
`tuning.cli` (the `kerakit tune` command), `tuning.distributed` (chief and workers on one host). Importing this
package imports neither Keras nor KerasTuner.
"""

__all__ = ["TUNERS", "SearchResult", "search"]


def __getattr__(name):
    if name in __all__:
        from tuning import runner as _search_module

        return getattr(_search_module, name)
    raise AttributeError(f"module 'tuning' has no attribute {name!r}")
