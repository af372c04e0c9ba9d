"""Reading the text files the recipes prepare data from (plain or ``.gz``), with errors
that name the file: missing, unreadable, not UTF-8 (with the line), or empty."""
import gzip
import os
from typing import List

from .ode.errors import ConfigError


def read_text_lines(path: str, what: str = "text file", allow_empty: bool = False) -> List[str]:
    """The file's lines without line ends; ``ConfigError`` naming ``path`` when it cannot be read."""
    if not os.path.isfile(path):
        raise ConfigError(f"{what}: {path} does not exist")
    opener = gzip.open if path.endswith(".gz") else open
    lines: List[str] = []
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    lines.append(raw.decode("utf-8").rstrip("\r\n"))
                except UnicodeDecodeError as e:
                    raise ConfigError(f"{what}: {path} is not UTF-8 text (line {number}, byte {e.start}: "
                                      f"{e.reason}); convert it to UTF-8") from None
    except (OSError, EOFError) as e:
        raise ConfigError(f"{what}: cannot read {path} ({e})") from None
    if not allow_empty and not any(line.strip() for line in lines):
        raise ConfigError(f"{what}: {path} is empty")
    return lines
