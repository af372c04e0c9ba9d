"""Command-line flags of the ODE options, generated from the core's table (``OPTIONS``):
``--ode-solver``, ``--ode-coef``, ``--iie-iters``, ``--iie-layer-iters`` (also
``--layer-iters``), ``--pc-predictor``, ``--iie-relaxation`` with the table's help and
choices.  Their default is ``None`` ("not given"): the model's own default applies, and a
recipe stores only what the user chose."""
import argparse
from typing import Any, Dict

from ..ode import OPTIONS


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_ode_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ODE solver (iiet_plugin.ode.OPTIONS; the model's default when not given)")
    for spec in OPTIONS:
        group.add_argument(flag(spec.name), *[flag(a) for a in spec.aliases], dest=spec.name, default=None,
                           type=spec.type, choices=spec.choices, help=f"{spec.help} (default {spec.default})")


def ode_kwargs(values: Dict[str, Any]) -> Dict[str, Any]:
    """The ODE options given in ``values`` (e.g. ``vars(args)``, a checkpoint's saved args),
    by their names; an earlier name (alias) counts as its option."""
    kwargs = {}
    for spec in OPTIONS:
        for name in (spec.name,) + spec.aliases:
            if values.get(name) is not None:
                kwargs[spec.name] = values[name]
                break
    return kwargs
