"""The blueprint registry: lookup, listing, errors, duplicates and third-party entry points."""

import sys
import textwrap

import pytest

import kerakit
from kerakit import registry
from kerakit.errors import KerakitError


def test_the_first_blueprints_are_registered_with_metadata():
    names = kerakit.list_blueprints()
    assert {"mlp", "lenet5", "convnet"} <= set(names)
    assert names == sorted(names)
    spec = kerakit.get_blueprint("lenet5")
    assert (spec.family, spec.task) == ("vision", "image_classification")
    assert spec.description.startswith("LeNet-5")
    assert kerakit.list_blueprints("lenet*") == ["lenet5"]
    assert "mlp" in kerakit.list_blueprints(family="dense")
    assert "mlp" not in kerakit.list_blueprints(family="vision")


def test_an_unknown_name_lists_the_closest_names():
    with pytest.raises(KerakitError, match=r"Unknown blueprint 'convnt'. Did you mean: convnet[,?]"):
        kerakit.build("convnt")
    with pytest.raises(KerakitError, match=r"Unknown blueprint 'lenet'. Did you mean: lenet5"):
        kerakit.get_blueprint("lenet")


def test_unknown_arguments_are_refused_with_the_accepted_ones():
    with pytest.raises(KerakitError, match=r"Blueprint 'mlp' has no argument 'widths'. It takes: input_shape, "
                                           r"num_classes, hidden_units"):
        kerakit.build("mlp", input_shape=(4,), widths=(3,))


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(KerakitError, match=r"A blueprint named 'mlp' is already registered \(by blueprints.dense.mlp\)"):
        @registry.blueprint(family="dense", task="classification", tiny={})
        def mlp():  # noqa: F811
            """Duplicate."""


def test_a_blueprint_without_a_tiny_configuration_is_refused():
    with pytest.raises(KerakitError, match=r"needs a `tiny` configuration"):
        @registry.blueprint(family="dense", task="classification")
        def no_tiny_config():
            """Missing tiny."""


def _install_fake_distribution(tmp_path, monkeypatch, name, entry_point):
    """Makes `tmp_path` look like site-packages holding a distribution with one `kerakit.blueprints` entry point."""
    dist_info = tmp_path / f"{name}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[kerakit.blueprints]\n{entry_point}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)


def test_third_party_blueprints_arrive_through_the_entry_point_group(tmp_path, monkeypatch):
    package = tmp_path / "kk_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        from kerakit.registry import blueprint

        @blueprint(family="dense", task="regression", tiny={"units": 2})
        def plugin_linear(units=1):
            """A plugin blueprint."""
            import keras
            inputs = keras.Input((3,))
            return keras.Model(inputs, keras.layers.Dense(units)(inputs))
    '''))
    _install_fake_distribution(tmp_path, monkeypatch, "kk_plugin", "kk = kk_plugin")
    try:
        assert "plugin_linear" in kerakit.list_blueprints()
        assert kerakit.get_blueprint("plugin_linear").module == "kk_plugin"
        assert kerakit.build("plugin_linear", units=2).output_shape == (None, 2)
    finally:
        registry._REGISTRY.pop("plugin_linear", None)
        sys.modules.pop("kk_plugin", None)


def test_a_broken_plugin_warns_and_does_not_break_the_kit(tmp_path, monkeypatch):
    _install_fake_distribution(tmp_path, monkeypatch, "kk_broken", "broken = kk_missing_module")
    with pytest.warns(UserWarning, match=r"could not load blueprints from entry point 'kk_missing_module'"):
        names = kerakit.list_blueprints()
    assert "convnet" in names


def test_import_kerakit_does_not_import_keras_or_tensorflow():
    import subprocess

    code = "import sys, kerakit; print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
