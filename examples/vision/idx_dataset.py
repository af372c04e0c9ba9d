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

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4: 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(root: str, stem: str) -> str:
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(root, name)):
            return os.path.join(root, name)
    raise FileNotFoundError(f"{stem}[.gz] not found in {root}")


def is_idx_dir(root: str) -> bool:
    try:
        _find(root, FILES["train"][0])
        return True
    except FileNotFoundError:
        return False


class IDXImageDataset(Dataset):
    def __init__(self, root: str, split: str = "train", limit: int = 0, transform=None):
        if split not in FILES:
            raise ValueError(f"split: unknown value {split!r}; allowed values: train, test")
        images, labels = (read_idx(_find(root, stem)) for stem in FILES[split])
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
