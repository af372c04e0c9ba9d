"""One option table (``iiet_plugin.ode.OPTIONS``): fairseq's fields, timm's kwargs, the
recipes' flags and the README's table all follow it, with the same names and defaults."""
import argparse
import dataclasses
import inspect
import os

import pytest

from conftest import ROOT
from iiet_plugin.ode import OPTIONS, ConfigError, ODEConfig, options_table


def test_fairseq_fields_are_the_table():
    from iiet_plugin.seq.lm import IIETLanguageModelConfig
    from iiet_plugin.seq.mt import IIETTransformerODEConfig
    lm = {f.name: f for f in dataclasses.fields(IIETLanguageModelConfig)}
    mt = {f.name: f for f in dataclasses.fields(IIETTransformerODEConfig)}
    for spec in OPTIONS:
        assert lm[spec.name].default == spec.default and spec.help in lm[spec.name].metadata["help"]
        for side in ("encoder_", "decoder_"):
            assert mt[side + spec.name].default == spec.default, side + spec.name
    names = {spec.name for spec in OPTIONS}
    ode_like = {n for n in lm if n.startswith(("ode_", "iie_", "pc_")) and n not in ("iie_start_update",)}
    assert ode_like == names  # nothing ODE-specific outside the table


def test_timm_kwargs_are_the_table():
    from iiet_plugin.vision import IIETVisionTransformer
    params = inspect.signature(IIETVisionTransformer.__init__).parameters
    for spec in OPTIONS:
        assert params[spec.name].default == spec.default, spec.name


def test_recipe_flags_are_the_table():
    from iiet_plugin.cli.options import add_ode_arguments, ode_kwargs
    parser = argparse.ArgumentParser()
    add_ode_arguments(parser)
    args = parser.parse_args(["--ode-solver", "iie", "--layer-iters", "1,0", "--iie-relaxation", "0.5"])
    assert ode_kwargs(vars(args)) == {"ode_solver": "iie", "iie_layer_iters": "1,0", "iie_relaxation": 0.5}
    assert {a.dest for a in parser._actions} >= {spec.name for spec in OPTIONS}
    with pytest.raises(SystemExit):
        parser.parse_args(["--ode-solver", "rk3"])  # choices from the table


def test_old_names_still_read():
    assert ODEConfig.from_options({"layer_iters": "1,0"}).layer_iters == "1,0"  # vision checkpoints before the rename
    assert ODEConfig.from_options({"decoder_ode_solver": "rk2"}, "decoder_").solver == "rk2"
    import timm
    model = timm.create_model("iiet_vit_tiny_patch4_28", layer_iters="1,0,0,0,0,0")
    assert model.plan().to_string() == "1,0,0,0,0,0"
    with pytest.raises(ConfigError, match="give one"):
        timm.create_model("iiet_vit_tiny_patch4_28", layer_iters="1,0,0,0,0,0", iie_layer_iters="1,0,0,0,0,0")


def test_readme_shows_the_table():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert options_table() in f.read()


def test_timm_checkpoint_loading_does_not_break_our_loader(tmp_path):
    """timm wraps torch.load in safe_globals([argparse.Namespace]), which on exit removes
    Namespace from the process-wide allow-list; the plugin's loader allow-lists again."""
    import argparse

    import timm
    import torch
    from timm.models import load_state_dict

    from iiet_plugin.seq.checkpoints import read_checkpoint_state
    torch.save({"model": {}, "args": argparse.Namespace(arch="x", task="language_modeling")}, tmp_path / "ns.pt")
    torch.save(timm.create_model("iiet_vit_tiny_patch4_28", depth=1).state_dict(), tmp_path / "vit.pth")
    load_state_dict(str(tmp_path / "vit.pth"))
    assert argparse.Namespace not in torch.serialization.get_safe_globals()  # timm's side effect
    with pytest.raises(Exception) as info:  # gets past unpickling; fairseq's upgrade then wants more keys
        read_checkpoint_state(str(tmp_path / "ns.pt"))
    assert "weights-only" not in str(info.value) and argparse.Namespace in torch.serialization.get_safe_globals()
