"""One wording for every checkpoint loader's refusals (fairseq's and the vision recipe's)."""
import pickle
from contextlib import contextmanager

from .ode.errors import ConfigError


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def checkpoint_load_errors(label: str):
    """Turn what ``torch.load(weights_only=True)`` raises into one ``ConfigError`` line:

    ``<label> does not exist`` | ``<label> refused by weights-only loading (...)`` |
    ``<label> is damaged or not a torch checkpoint (...)``; ``label`` names the option and
    file, e.g. ``"--resume: runs/x/last.pt"``."""
    try:
        yield
    except FileNotFoundError:
        raise ConfigError(f"{label} does not exist") from None
    except pickle.UnpicklingError as e:
        raise ConfigError(f"{label} refused by weights-only loading (it holds objects other than tensors and "
                          f"plain values): {_first_line(e)}") from None
    except (RuntimeError, EOFError) as e:
        raise ConfigError(f"{label} is damaged or not a torch checkpoint ({_first_line(e)})") from None
