"""Models built in-process from command-line flags, for tests and benchmarks (no data needed:
a toy dictionary of ``num_words`` symbols stands in for a corpus's)."""
from typing import Tuple

from .runner import user_dir

# widths of the inference and training-step benchmarks (an iiet_lm_tiny / iiet_transformer_tiny widened)
LM_BENCH_SIZES = ["--decoder-embed-dim", "256", "--decoder-ffn-embed-dim", "1024", "--decoder-layers", "4",
                  "--decoder-attention-heads", "4", "--decoder-input-dim", "256", "--decoder-output-dim", "256"]
MT_BENCH_SIZES = ["--encoder-embed-dim", "256", "--encoder-ffn-embed-dim", "1024", "--encoder-layers", "4",
                  "--decoder-layers", "4", "--encoder-attention-heads", "4", "--decoder-attention-heads", "4"]


def dictionary(num_words: int = 40):
    """A fairseq ``Dictionary`` with the special symbols and ``w0 .. w{num_words-1}``."""
    from fairseq.data import Dictionary
    d = Dictionary()
    for i in range(num_words):
        d.add_symbol(f"w{i}")
    return d


def build_lm(*flags, arch: str = "iiet_lm_tiny", num_words: int = 40, tokens_per_sample: int = 64) -> Tuple:
    """``(model, task, args)``: a plugin LM parsed by fairseq's training parser from ``flags``."""
    from fairseq import options
    from fairseq.tasks.language_modeling import LanguageModelingTask
    args = options.parse_args_and_arch(options.get_training_parser(), [
        "unused-data", "--task", "language_modeling", "--arch", arch, "--user-dir", user_dir(),
        "--tokens-per-sample", str(tokens_per_sample), "--cpu", *map(str, flags)])
    d = dictionary(num_words)
    task = LanguageModelingTask(args, d, d)
    return task.build_model(args), task, args


def build_mt(*flags, arch: str = "iiet_transformer_tiny", num_words: int = 40) -> Tuple:
    """``(model, task, args)``: a plugin translation model (en->de, one joined toy dictionary)."""
    from fairseq import options
    from fairseq.tasks.translation import TranslationTask
    args = options.parse_args_and_arch(options.get_training_parser(), [
        "unused-data", "--task", "translation", "--arch", arch, "--user-dir", user_dir(),
        "--source-lang", "en", "--target-lang", "de", "--cpu", *map(str, flags)])
    d = dictionary(num_words)
    task = TranslationTask(args, d, d)
    return task.build_model(args), task, args


TINY_VIT = dict(img_size=28, in_chans=1, patch_size=7, embed_dim=32, depth=3, num_heads=2, num_classes=10)


def build_vit(name: str = "iiet_vit_tiny_patch4_28", **kwargs):
    """A timm ``iiet_vit_*`` (``TINY_VIT`` sizes unless ``kwargs`` say otherwise for the
    28-pixel model)."""
    import timm

    import iiet_plugin  # noqa: F401  (registers the models)
    sizes = dict(TINY_VIT) if name == "iiet_vit_tiny_patch4_28" else {}
    sizes.update(kwargs)
    return timm.create_model(name, **sizes)
