"""timm adapters: importing this module registers the ``iiet_vit_*`` models."""
from .iiet_vit import IIETBlock, IIETVisionTransformer  # noqa: F401
