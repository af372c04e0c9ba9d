"""sacreBLEU of fairseq-generate output: hypotheses are the detokenized ``D-<id>`` lines and
``<id>`` indexes the reference file, so sentences fairseq skipped leave both sides."""
import re
from typing import Dict, List, Sequence, Tuple

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


def paired_bootstrap(gen_paths: Sequence[str], ref_path: str, samples: int = 1000,
                     tokenize: str = "13a") -> List[dict]:
    """Paired bootstrap resampling (Koehn, 2004; sacreBLEU's ``PairedTest``) of several systems'
    fairseq-generate outputs on the same references, the first being the baseline: on the
    sentences every output has, ``samples`` resamples of the test set (with replacement, the
    same for every system) give each system's mean BLEU and 95 % interval, and each other
    system's p-value (c + 1) / (samples + 1), c counting the resamples whose absolute BLEU
    difference from the baseline, less its mean over the resamples, exceeds the observed absolute
    difference (sacreBLEU's test, two-sided; an output identical to the baseline gets the smallest
    p, as sacreBLEU intends).  One dict per system: ``name`` (the path), ``bleu``, ``mean``,
    ``ci`` (half-width), ``p`` (None for the baseline), ``sentences``."""
    import sacrebleu
    from sacrebleu.significance import PairedTest
    if len(gen_paths) < 2:
        raise ConfigError(f"paired bootstrap: give a baseline and at least one system to compare, got {len(gen_paths)}")
    if samples < 100:
        raise ConfigError(f"--samples must be >= 100, got {samples}")
    refs = references(ref_path)
    outputs = [hypotheses(path) for path in gen_paths]
    for path, hyps in zip(gen_paths, outputs):
        if not hyps:
            raise ConfigError(f"{path}: no D- lines; run fairseq-generate with --post-process")
        if max(hyps) >= len(refs):
            raise ConfigError(f"--ref: hypothesis id {max(hyps)} in {path} but {ref_path} has {len(refs)} lines")
    ids = sorted(set.intersection(*(set(hyps) for hyps in outputs)))  # a sentence one system skipped: no one's
    if not ids:
        raise ConfigError(f"{', '.join(gen_paths)}: no sentence is in every output")
    systems = [(path, [hyps[i] for i in ids]) for path, hyps in zip(gen_paths, outputs)]
    test = PairedTest(systems, {"BLEU": sacrebleu.BLEU(tokenize=tokenize)}, [[refs[i] for i in ids]],
                      test_type="bs", n_samples=samples)
    _, scores = test()
    return [dict(name=name, bleu=r.score, mean=r.mean, ci=r.ci, p=r.p_value, sentences=len(ids))
            for name, r in zip(scores["System"], scores["BLEU"])]
