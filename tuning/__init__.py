"""KerasTuner integration for kerakit blueprints: search spaces as data, hypermodels and the search runner."""
