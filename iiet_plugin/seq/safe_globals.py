"""Allow-list what fairseq checkpoints pickle, for ``torch.load(weights_only=True)``.

torch >= 2.6 loads with ``weights_only=True`` by default.  fairseq checkpoints hold
``argparse.Namespace`` (legacy ``args``) and omegaconf containers (``cfg``); nothing
else outside torch's own allow-list.  Weights-only loading stays on.
"""
import argparse
import collections
import typing

import torch

try:  # omegaconf is a fairseq dependency
    from omegaconf import DictConfig, ListConfig
    from omegaconf.base import ContainerMetadata, Metadata
    from omegaconf.nodes import AnyNode
    _OMEGACONF = [DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode]
except ImportError:  # pragma: no cover
    _OMEGACONF = []

SAFE_GLOBALS = [argparse.Namespace, collections.defaultdict, dict, list, int, typing.Any] + _OMEGACONF


def allow_fairseq_checkpoint_globals() -> None:
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
