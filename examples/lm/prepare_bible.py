"""Build the World English Bible LM corpus offline from Debian's packages.

Needs the Debian packages ``sword-text-web`` (the text) and ``libsword-utils`` (its
``mod2imp`` exporter); with ``--install`` this script runs ``apt-get`` for them.
Output: OUT/{train,valid,test}.txt, one verse per line, split by chapter with a stable
hash (90/5/5), so no chapter straddles two splits.

    python examples/lm/prepare_bible.py OUT [--install]
"""
import argparse
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys

MODULE = "engWEB2015eb"
REFERENCE = re.compile(r"^(?P<book>.+) (?P<chapter>\d+):(?P<verse>\d+)$")


def split_of(chapter_key: str) -> str:
    """valid for 5 % of chapters, test for 5 %, train for the rest (md5 of 'Book N')."""
    bucket = int(hashlib.md5(chapter_key.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "valid" if bucket < 5 else "test" if bucket < 10 else "train"


def clean_verse(markup: str) -> str:
    text = re.sub(r"<(note|title)\b.*?</\1>", " ", markup, flags=re.S)  # footnotes, headings
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(re.sub(r"\s+", " ", text)).strip()


def verses(imp_text: str):
    """(chapter key, verse text) from ``mod2imp`` output ($$$Book C:V blocks)."""
    for block in imp_text.split("$$$")[1:]:
        header, _, body = block.partition("\n")
        ref = REFERENCE.match(header.strip())
        if not ref or ref["chapter"] == "0" or ref["verse"] == "0":
            continue  # book and chapter introductions
        text = clean_verse(body)
        if text:
            yield f"{ref['book']} {ref['chapter']}", text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--install", action="store_true", help="apt-get install the two Debian packages first")
    args = p.parse_args(argv)
    if shutil.which("mod2imp") is None:
        if not args.install:
            sys.exit("mod2imp not found: install Debian's libsword-utils and sword-text-web, or pass --install")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "sword-text-web", "libsword-utils"], check=True)
    imp = subprocess.run(["mod2imp", MODULE], capture_output=True, text=True, check=True).stdout
    splits = {"train": [], "valid": [], "test": []}
    for chapter, text in verses(imp):
        splits[split_of(chapter)].append(text)
    os.makedirs(args.out, exist_ok=True)
    for name, lines in splits.items():
        with open(os.path.join(args.out, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{name}: {len(lines)} verses, {sum(len(t.split()) for t in lines)} words")


if __name__ == "__main__":
    main()
