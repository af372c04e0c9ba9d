"""Fashion-MNIST / MNIST in IDX format (optionally gzipped) as an image dataset.

IDX: big-endian magic whose last byte is the number of dimensions, one 4-byte size per
dimension, then uint8 data.  Items are (PIL image, label), with ``transform`` applied to
the image (timm's ``create_loader`` sets it), like torchvision's and timm's datasets.
"""
import gzip
import os
import struct

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ..ode.errors import ConfigError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def read_idx(path: str) -> np.ndarray:
    """The array in an IDX file; ``ConfigError`` naming the file when it is not a complete one."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ConfigError(f"{path}: cannot read it as {'gzipped ' if path.endswith('.gz') else ''}IDX ({e})") from None
    if len(data) < 4:
        raise ConfigError(f"{path}: not an IDX file ({len(data)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or ndim == 0 or len(data) < 4 + 4 * ndim:
        raise ConfigError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4: 4 + 4 * ndim])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - 4 - 4 * ndim != expected:
        raise ConfigError(f"{path}: the header promises {expected} bytes of shape {tuple(shape)} but the file holds "
                          f"{len(data) - 4 - 4 * ndim}: truncated or damaged")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(root: str, stem: str) -> str:
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(root, name)):
            return os.path.join(root, name)
    raise ConfigError(f"{stem}[.gz] not found in {root}")


def count_images(root: str, split: str) -> int:
    """The number of images of an IDX ``split``, read from its label file."""
    return len(read_idx(_find(root, FILES[split][1])))


def check_holdout(root: str, train_limit: int, holdout: int, option: str = "--valid-images") -> None:
    """``ConfigError`` naming ``option`` unless the last ``holdout`` training images leave room for
    the first ``train_limit`` (0: all, at least one) before them."""
    total = count_images(root, "train")
    wanted = (train_limit or 1) + holdout
    if wanted > total:
        raise ConfigError(f"{option} {holdout}: with --train-limit {train_limit} it needs {wanted} of the {total} "
                          "training images (at least one left to train on)")


def is_idx_dir(root: str) -> bool:
    try:
        _find(root, FILES["train"][0])
        return True
    except ConfigError:
        return False


class IDXImageDataset(Dataset):
    """The images of one IDX ``split``: with ``rows`` (a ``slice``) only those rows, then the
    first ``limit`` of them (0: all)."""

    def __init__(self, root: str, split: str = "train", limit: int = 0, transform=None, rows: slice = slice(None)):
        if split not in FILES:
            raise ConfigError(f"split: unknown value {split!r}; allowed values: train, test")
        image_path, label_path = (_find(root, stem) for stem in FILES[split])
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.ndim != 3 or labels.ndim != 1:
            raise ConfigError(f"{image_path} / {label_path}: expected images (N, H, W) and labels (N,), "
                              f"got shapes {images.shape} and {labels.shape}")
        if len(images) != len(labels):
            raise ConfigError(f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} "
                              "labels: the pair must have one label per image")
        if len(images) == 0:
            raise ConfigError(f"{image_path}: no images")
        if labels.max() >= len(CLASSES):
            raise ConfigError(f"{label_path}: label {int(labels.max())} is outside the {len(CLASSES)} classes")
        images, labels = images[rows], labels[rows]
        if limit:
            images, labels = images[:limit], labels[:limit]
        self.images, self.labels = images, labels.astype(np.int64)
        self.transform = transform
        self.classes = CLASSES

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        img = Image.fromarray(self.images[index], mode="L")
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[index])
