"""Bad input as one line.

``install_error_hook()`` (run when the plugin is imported) makes an uncaught
``ConfigError`` (the plugin's "bad option / file" error, a ``ValueError``) print as

    <program>: error: <message naming the option or file and what is allowed>

with exit status 1 and no traceback, in the plugin's tools and in fairseq's CLIs alike.
Every other exception keeps Python's usual report.  Library callers are unaffected: they
catch ``ConfigError`` (or ``ValueError``) as usual.
"""
import os
import sys

from ..ode.errors import ConfigError


def _hook(previous):
    def excepthook(kind, value, tb):
        if isinstance(value, ConfigError) and not os.environ.get("IIET_TRACEBACK"):
            print(f"{os.path.basename(sys.argv[0] or 'python')}: error: {value}", file=sys.stderr)
            return
        previous(kind, value, tb)
    excepthook.iiet_hook = True
    return excepthook


def install_error_hook() -> None:
    if not getattr(sys.excepthook, "iiet_hook", False):
        sys.excepthook = _hook(sys.excepthook)
