"""iiet_plugin: IIET and ODE-solver Transformers for fairseq and timm.

Importing the package registers what the installed hosts support: the fairseq models,
tasks and criterions (``--user-dir``) and the timm ``iiet_vit_*`` entrypoints, and
allow-lists the classes fairseq checkpoints need for ``weights_only=True`` loading.
"""
__version__ = "0.1.0"

from .cli.errors import install_error_hook  # noqa: E402

install_error_hook()  # the plugin's ConfigError prints as one "error:" line in every CLI

try:
    import fairseq  # noqa: F401
except ImportError:  # fairseq is optional at import time (timm-only use)
    fairseq = None
if fairseq is not None:
    from . import seq  # noqa: F401,E402  (registers the fairseq models)

try:
    import timm  # noqa: F401
except ImportError:  # timm is optional at import time (fairseq-only use)
    timm = None
if timm is not None:
    from . import vision  # noqa: F401,E402  (registers the iiet_vit_* timm models)
