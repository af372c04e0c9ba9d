"""Config values that fairseq's builders would ``eval()``, parsed as data first.

fairseq turns some string options into Python objects with ``eval``: the adaptive
softmax/input cutoffs (``eval_str_list``), the character CNN filters (``eval``) and the
xformers attention config (``eval_str_dict``).  A checkpoint's config is data from a file,
so a string there must never reach ``eval``: before any builder runs, every such field
(at any depth of the config, encoder/decoder prefixes included) is parsed by
``ast.literal_eval`` (literals only, nothing is called or looked up), checked against its
documented form, and replaced by a canonical string of that form (digits, commas,
brackets), which fairseq's ``eval`` turns back into the same value.  Anything else stops
the load with a ``ConfigError`` naming the field and the expected form.

=====================  ====================================================
field (suffix)         expected form
=====================  ====================================================
adaptive_softmax_cutoff  comma-separated ints, e.g. ``10000,50000``
adaptive_input_cutoff    comma-separated ints, e.g. ``10000,50000``
character_filters        a list of (width, channels) int pairs, e.g. ``[(1, 64), (2, 128)]``
xformers_att_config      a dict of plain values (str, int, float, bool, None), e.g. ``{"name": "scaled_dot_product"}``
=====================  ====================================================
"""
import argparse
import ast
from typing import Any, Callable, Dict, List, Tuple

from omegaconf import DictConfig, open_dict

from ..ode.errors import ConfigError

MAX_LENGTH = 4096  # longer than any legitimate value; bounds the literal parser's work


def _literal(field: str, text: str, form: str):
    if len(text) > MAX_LENGTH:
        raise ConfigError(f"{field}: value of {len(text)} characters is not plain data; expected {form}")
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ConfigError(f"{field}: {text[:120]!r} is not plain data; expected {form}") from None


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


INT_LIST = "comma-separated integers, e.g. '10000,50000'"


def parse_int_list(value, field: str = "adaptive_softmax_cutoff") -> List[int]:
    """``"100,1000"`` / ``"[100, 1000]"`` / ``100`` / ``[100, 1000]`` -> ``[100, 1000]``."""
    parsed = _literal(field, value, INT_LIST) if isinstance(value, str) else value
    items = list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]
    if not items or not all(_is_int(x) for x in items):
        raise ConfigError(f"{field}: {value!r} is not {INT_LIST}")
    return items


FILTERS = "a list of (width, channels) integer pairs, e.g. '[(1, 64), (2, 128)]'"


def parse_character_filters(value, field: str = "character_filters") -> List[Tuple[int, int]]:
    parsed = _literal(field, value, FILTERS) if isinstance(value, str) else value
    ok = isinstance(parsed, (list, tuple)) and len(parsed) > 0 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_int(x) for x in p) for p in parsed)
    if not ok:
        raise ConfigError(f"{field}: {value!r} is not {FILTERS}")
    return [(int(w), int(c)) for w, c in parsed]


PLAIN_DICT = "a dict of plain values (str, int, float, bool, None), e.g. '{\"name\": \"scaled_dot_product\"}'"


def parse_plain_dict(value, field: str = "xformers_att_config") -> Dict[str, Any]:
    parsed = _literal(field, value, PLAIN_DICT) if isinstance(value, str) else value
    plain = (str, int, float, bool, type(None))
    if not isinstance(parsed, dict) or not all(isinstance(k, str) and isinstance(v, plain) for k, v in parsed.items()):
        raise ConfigError(f"{field}: {value!r} is not {PLAIN_DICT}")
    return dict(parsed)


# field-name suffix -> (parser, canonical string of the parsed value)
EVALUATED_FIELDS: Dict[str, Tuple[Callable, Callable]] = {
    "adaptive_softmax_cutoff": (parse_int_list, lambda v: ",".join(str(x) for x in v)),
    "adaptive_input_cutoff": (parse_int_list, lambda v: ",".join(str(x) for x in v)),
    "character_filters": (parse_character_filters, lambda v: repr([tuple(p) for p in v])),
    "xformers_att_config": (parse_plain_dict, repr),
}


def _evaluated(key: str):
    for suffix, spec in EVALUATED_FIELDS.items():
        if key == suffix or key.endswith("_" + suffix):
            return spec
    return None


def _items(node):
    """``(key, value)`` pairs of a config node and a setter for it."""
    if isinstance(node, argparse.Namespace):
        return list(vars(node).items()), lambda k, v: setattr(node, k, v)
    if isinstance(node, DictConfig):
        def put(k, v):
            with open_dict(node):
                node[k] = v
        values = []
        for key in node.keys():
            try:
                values.append((key, node[key]))
            except Exception:  # an unresolvable interpolation fails later in fairseq, as data
                continue
        return values, put
    if isinstance(node, dict):
        return list(node.items()), node.__setitem__
    return [], None


def check_config_values(node, where: str = "", depth: int = 0) -> None:
    """Parse every evaluated field under ``node`` (Namespace, DictConfig or dict) as data and
    replace it by its canonical form; raise ``ConfigError`` naming the field otherwise."""
    if depth > 8 or node is None:
        return
    items, put = _items(node)
    for key, value in items:
        if not isinstance(key, str):
            continue
        spec = _evaluated(key)
        if spec is not None and value is not None:
            parse, canonical = spec
            put(key, canonical(parse(value, f"{where}{key}")))
        elif isinstance(value, (argparse.Namespace, dict, DictConfig)):
            check_config_values(value, f"{where}{key}.", depth + 1)


def check_checkpoint_config(state: dict, path: str) -> None:
    """Check the configs stored in a fairseq checkpoint state (``args`` and ``cfg``)."""
    for key in ("args", "cfg"):
        if isinstance(state, dict) and state.get(key) is not None:
            check_config_values(state[key], f"{path}: {key}.")
