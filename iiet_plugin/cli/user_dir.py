"""``iiet-user-dir``: print the installed package's directory for ``--user-dir``.

fairseq resolves ``--user-dir`` relative to the working directory, so
``fairseq-train --user-dir "$(iiet-user-dir)" ...`` works from anywhere.
"""
import os


def user_dir() -> str:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return here


def main() -> None:
    print(user_dir())


if __name__ == "__main__":
    main()
