"""Build an English->German corpus offline from the gettext catalogs of Debian packages.

Debian ships German translations of program messages and game text as compiled gettext
catalogs (``usr/share/locale/de/LC_MESSAGES/*.mo``, Wesnoth's under
``usr/share/games/wesnoth``).  Each catalog maps an English ``msgid`` to its German
``msgstr``: real, human-translated sentence pairs.  This script downloads the packages
(``apt-get download``, no installation), extracts the German catalogs, reads the pairs
with Python's own ``gettext`` parser, cleans them (markup, placeholders-only, untranslated,
short, length-ratio outliers, duplicates) and splits them with a stable hash (90/5/5).

    python examples/mt/build_ende_corpus.py OUT [--packages ...]

The team's offline corpus ($IIET_DATA/mt/en-de) was built from the same kind of sources plus
documentation paragraphs (GNOME help, Debian Handbook/Reference); this script covers the
gettext part, which is most of it.
"""
import argparse
import glob
import gettext
import hashlib
import os
import re
import subprocess
import tempfile

WESNOTH_CAMPAIGNS = "did dm dw ei httt l low nr sof sota sotbe thot trow tsg ttb utbs".split()
UI_PACKAGES = ("gimp-data inkscape vlc-l10n gnucash-common evolution-common git vim-runtime gnupg-l10n "
               "coreutils libc-l10n dpkg libgtk-3-common libglib2.0-data gettext bash tar wget findutils "
               "diffutils grep sed make").split()


def newest(prefix: str, suffix: str) -> str:
    names = subprocess.run(["apt-cache", "pkgnames", prefix], capture_output=True, text=True).stdout.split()
    versions = [n for n in names if re.fullmatch(re.escape(prefix) + r"[0-9.]+" + re.escape(suffix), n)]
    if not versions:
        raise SystemExit(f"no Debian package {prefix}<version>{suffix}; run apt-get update first")
    return sorted(versions, key=lambda n: [int(x) for x in re.findall(r"\d+", n)])[-1]


def default_packages():
    wesnoth = newest("wesnoth-", "-data")[: -len("-data")]
    return [f"{wesnoth}-data"] + [f"{wesnoth}-{c}" for c in WESNOTH_CAMPAIGNS] + UI_PACKAGES


def catalog_pairs(mo_path):
    with open(mo_path, "rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog
    for msgid, msgstr in catalog.items():
        if isinstance(msgid, tuple):  # plural forms: (msgid, n) -> keep the singular
            if msgid[1] != 0:
                continue
            msgid = msgid[0]
        if msgid and isinstance(msgstr, str):
            yield msgid, msgstr


def clean(text: str) -> str:
    text = text.split("\x04")[-1]  # drop a msgctxt prefix
    text = re.sub(r"<[^>]+>", " ", text)  # markup
    text = text.replace("_", "") if re.fullmatch(r"[^_]*_[^_ ]*", text) else text  # menu accelerators
    return re.sub(r"\s+", " ", text).strip()


def keep(en: str, de: str) -> bool:
    if en == de or len(en.split()) < 3 or len(de.split()) < 2:
        return False
    ratio = len(de) / max(1, len(en))
    if not 0.5 <= ratio <= 2.5:
        return False
    letters = sum(c.isalpha() for c in en)
    return letters >= 0.5 * len(en)


def split_of(en: str) -> str:
    bucket = int(hashlib.md5(en.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "valid" if bucket < 5 else "test" if bucket < 10 else "train"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--packages", nargs="*", help="Debian packages to read (default: Wesnoth + ~20 UI packages)")
    args = p.parse_args(argv)
    packages = args.packages or default_packages()
    pairs = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", *packages], cwd=tmp, check=True)
        for deb in glob.glob(os.path.join(tmp, "*.deb")):
            subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "tree")], check=True)
        for mo in glob.glob(os.path.join(tmp, "tree", "**", "de", "LC_MESSAGES", "*.mo"), recursive=True):
            for en, de in catalog_pairs(mo):
                en, de = clean(en), clean(de)
                if keep(en, de):
                    pairs.setdefault(en, de)  # first translation of each English sentence
    os.makedirs(args.out, exist_ok=True)
    splits = {"train": [], "valid": [], "test": []}
    for en, de in sorted(pairs.items()):
        splits[split_of(en)].append((en, de))
    for name, rows in splits.items():
        for lang, idx in (("en", 0), ("de", 1)):
            with open(os.path.join(args.out, f"{name}.{lang}"), "w", encoding="utf-8") as f:
                f.writelines(r[idx] + "\n" for r in rows)
        print(f"{name}: {len(rows)} pairs")


if __name__ == "__main__":
    main()
