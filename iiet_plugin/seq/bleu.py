"""sacreBLEU of fairseq-generate output: hypotheses are the detokenized ``D-<id>`` lines and
``<id>`` indexes the reference file, so sentences fairseq skipped leave both sides."""
import re
from typing import Dict, List, Tuple

from ..ode.errors import ConfigError
from ..textio import read_text_lines


def hypotheses(gen_path: str) -> Dict[int, str]:
    hyps = {}
    with open(gen_path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^D-(\d+)\t[^\t]*\t(.*)$", line.rstrip("\n"))
            if m:
                hyps[int(m.group(1))] = m.group(2)
    return hyps


def references(ref_path: str) -> List[str]:
    return read_text_lines(ref_path, "--ref")


def score_generation(gen_path: str, ref_path: str, tokenize: str = "13a") -> Tuple[object, str, int]:
    """``(sacrebleu BLEUScore, signature, sentences)`` of ``gen_path`` against ``ref_path``."""
    import sacrebleu
    hyps = hypotheses(gen_path)
    refs = references(ref_path)
    ids = sorted(hyps)
    if not ids:
        raise ConfigError(f"{gen_path}: no D- lines; run fairseq-generate with --post-process")
    if ids[-1] >= len(refs):
        raise ConfigError(f"--ref: hypothesis id {ids[-1]} but {ref_path} has {len(refs)} lines")
    metric = sacrebleu.BLEU(tokenize=tokenize)
    result = metric.corpus_score([hyps[i] for i in ids], [[refs[i] for i in ids]])
    return result, str(metric.get_signature()), len(ids)
