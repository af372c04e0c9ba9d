"""Checkpoints of the vision training recipe (``iiet-vit-train``), read as data.

A checkpoint is a dict of tensors and plain values: ``model`` (state dict), ``optimizer``,
``scheduler``, ``ema``, ``epoch``, ``step``, ``history``, ``best_top1`` (on the validation
split with ``--valid-images``, else on the eval images), ``args`` (the recipe's options as a
dict) and ``model_name``.  Reading one:

* ``torch.load(weights_only=True)``: no code from pickle;
* the shape of the file is checked (a fairseq or foreign checkpoint is named as such);
* what is used to build a model is checked as data: ``model_name`` must be a registered
  ``iiet_vit_*`` (no hub or file prefixes), ``args["model_kwargs"]`` a JSON object of
  plain values without timm's loading options (``pretrained``, ``checkpoint_path``, ...).

Writing one is atomic (``atomic_torch_save``): a kill leaves the previous file whole.
"""
import json
from typing import Any, Dict

import torch

from ..atomic_io import atomic_torch_save
from ..load_errors import checkpoint_load_errors
from ..ode.errors import ConfigError

REQUIRED = ("model", "args", "model_name")
LOADING_KWARGS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path", "cache_dir",
                  "pretrained_strict")
PLAIN = (str, int, float, bool, type(None))


def save_checkpoint(state: Dict[str, Any], path: str) -> str:
    return atomic_torch_save(state, path)


def model_kwargs_from(text, option: str) -> Dict[str, Any]:
    """``--model-kwargs`` (a JSON object of plain values) as a dict, or ``ConfigError``."""
    try:
        kwargs = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as e:
        raise ConfigError(f"{option}: not JSON ({e.msg}); expected an object such as '{{\"embed_dim\": 64}}'") from None
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{option}: expected a JSON object such as '{{\"embed_dim\": 64}}', got {text!r}")
    for key, value in kwargs.items():
        if key in LOADING_KWARGS:
            raise ConfigError(f"{option}: {key!r} is a loading option of timm.create_model, not a model option")
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, PLAIN) for v in values):
            raise ConfigError(f"{option}: {key!r} must be a plain value (string, number, bool, null or a list of them)")
    return kwargs


def read_checkpoint(path: str, option: str) -> Dict[str, Any]:
    """Load and check a recipe checkpoint; errors name ``option`` and ``path``."""
    import timm
    with checkpoint_load_errors(f"{option}: {path}"):
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ConfigError(f"{option}: {path} is not a checkpoint written by iiet-vit-train")
    if "cfg" in state and "optimizer_history" in state and "model_name" not in state:
        raise ConfigError(f"{option}: {path} is a fairseq checkpoint; expected one written by iiet-vit-train")
    missing = [k for k in REQUIRED if k not in state]
    if missing or not isinstance(state.get("args"), dict) or not isinstance(state.get("model"), dict):
        raise ConfigError(f"{option}: {path} is not a checkpoint written by iiet-vit-train "
                          f"(missing or malformed: {', '.join(missing) or 'args/model'})")
    name = state["model_name"]
    if not isinstance(name, str) or ":" in name or not timm.is_model(name):
        raise ConfigError(f"{option}: {path} names model {name!r}, which is not a registered timm model")
    model_kwargs_from(state["args"].get("model_kwargs", "{}"), f"{option} ({path}) model_kwargs")
    return state


def create_kwargs(saved_args: Dict[str, Any], num_classes: int, in_chans: int) -> Dict[str, Any]:
    """``timm.create_model`` kwargs of a recipe run: ``model_kwargs`` plus the ODE options given
    (by the core's option names; ``layer_iters``, the earlier name, still read)."""
    from ..cli.options import ode_kwargs
    kwargs = dict(model_kwargs_from(saved_args.get("model_kwargs") or "{}", "model_kwargs"),
                  num_classes=num_classes, in_chans=in_chans)
    kwargs.update(ode_kwargs(saved_args))
    return kwargs


def model_from_checkpoint(state: Dict[str, Any], num_classes: int, in_chans: int):
    """The model a checked recipe checkpoint (``read_checkpoint``) holds, weights loaded."""
    import timm
    model = timm.create_model(state["model_name"], **create_kwargs(state["args"], num_classes, in_chans))
    model.load_state_dict(state["model"])
    return model
