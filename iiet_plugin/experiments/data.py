"""Where the studies and tests find real corpora: one setting.

``--data PATH`` where a tool has it, else the environment variable ``IIET_DATA``.  The folder
has the layout of the project's offline data (``lm/bible_web``, ``mt/en-de``,
``vision/fashion-mnist``; see the README).  There is no built-in location: the entry scripts
(``scripts/env.sh``) set ``IIET_DATA`` to the team's copy next to the checkout when it exists,
and the LM main job rebuilds its corpus from Debian packages when no data is given.
"""
import os
from typing import Optional

from ..ode.errors import ConfigError

DATA_ENV = "IIET_DATA"

CORPORA = {
    "lm": ("lm", "bible_web"),
    "mt": ("mt", "en-de"),
    "vision": ("vision", "fashion-mnist"),
}


def data_root(explicit: Optional[str] = None) -> Optional[str]:
    """``explicit`` (a ``--data`` value), else ``$IIET_DATA``, else None."""
    root = explicit or os.environ.get(DATA_ENV) or None
    if root is not None and not os.path.isdir(root):
        source = "--data" if explicit else DATA_ENV
        raise ConfigError(f"{source}: {root} is not a folder (expected the data root with lm/, mt/, vision/)")
    return root


def corpus_dir(kind: str, explicit: Optional[str] = None, required: bool = True) -> Optional[str]:
    """The folder of corpus ``kind`` (``lm``, ``mt``, ``vision``) under the data root.

    Raises a ``ConfigError`` naming the setting when it is needed and missing; returns None
    when ``required`` is False and no data root is set."""
    if kind not in CORPORA:
        raise ConfigError(f"corpus: unknown {kind!r}; allowed: {', '.join(CORPORA)}")
    root = data_root(explicit)
    if root is None:
        if not required:
            return None
        raise ConfigError(f"no data location: pass --data or set {DATA_ENV} to the folder holding "
                          f"{os.path.join(*CORPORA[kind])}")
    path = os.path.join(root, *CORPORA[kind])
    if not os.path.isdir(path):
        raise ConfigError(f"{'--data' if explicit else DATA_ENV}: {root} has no {os.path.join(*CORPORA[kind])}")
    return path
