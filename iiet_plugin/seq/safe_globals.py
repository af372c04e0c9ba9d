"""Allow-list what fairseq checkpoints pickle, for ``torch.load(weights_only=True)``.

torch >= 2.6 loads with ``weights_only=True`` by default.  fairseq checkpoints hold
``argparse.Namespace`` (legacy ``args``), omegaconf containers (``cfg``) and, when a
metric such as BLEU selects the best checkpoint, numpy scalars/arrays in the checkpoint
state (``best``).  These are data containers; nothing on the list executes code on load.
Weights-only loading stays on.
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

import numpy
from numpy.core.multiarray import _reconstruct, scalar

_NUMPY = [_reconstruct, scalar, numpy.ndarray, numpy.dtype, type(numpy.dtype("float64")),
          type(numpy.dtype("float32")), type(numpy.dtype("int64"))]

SAFE_GLOBALS = [argparse.Namespace, collections.defaultdict, dict, list, int, typing.Any] + _OMEGACONF + _NUMPY


def allow_fairseq_checkpoint_globals() -> None:
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
