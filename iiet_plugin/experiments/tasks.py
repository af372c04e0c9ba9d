"""The three study tasks as small definitions: how to prepare the data, train a model at a
rate and seed, distil an E-IIET from a trained IIET, and evaluate (quality, speed).

Every task trains through the installed console tools (``fairseq-train``, ``iiet-vit-train``),
so a study measures what a user's command gives."""
import abc
import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..ode.errors import ConfigError
from .corpora import binarize_lm_slice, binarize_pairs, read_pairs
from .data import corpus_dir
from .models import ModelSpec, flags, model_evaluations
from .protocol import count_text, warmup_refusal
from .runner import device_name, fairseq_device_flags, run_tool, user_dir
from .timing import round_robin_times

PROGRESS = r"\| (train_inner|valid) \||IIAD student plan|^epoch "


@dataclass
class Trained:
    checkpoint: str
    log: str


Curve = List[Tuple[int, float]]  # (updates, validation metric)
TOOL_LOG = "tool.log"  # a run's tool output, appended to by every attempt (see run_tool's log_path)
FAIRSEQ_DONE = re.compile(r"\| done training in ")  # fairseq-train's last line of a finished run
VALID_LINE = re.compile(r"\| valid on 'valid' subset \|.*?\| ppl ([0-9.]+) \|.*?\| num_updates ([0-9]+)")
TRAINING_ON = re.compile(r"\| training on \d+ devices")  # fairseq-train, once per attempt, after its CUDA block
CUDA_NAME = re.compile(r"\| rank +0: capabilities = .*; name = (.*?)\s*$")  # the CUDA block (none with --cpu)
RESUMED_AT = re.compile(r"\| Loaded checkpoint .* \(epoch \d+ @ (\d+) updates\)")


def fairseq_valid_curve(log: str) -> Curve:
    """(num_updates, valid ppl) of every validation fairseq-train logged, in update order; an
    update validated twice (by an interrupted attempt and the one that continued it) counts once,
    with the later value."""
    return sorted({int(updates): float(ppl) for ppl, updates in VALID_LINE.findall(log)}.items())


UPDATES = re.compile(r"num_updates[= ](\d+)")  # fairseq-train's train_inner and valid lines


def updates_reached(log: str) -> int:
    """The largest update count fairseq-train logged (0 for none)."""
    return max((int(n) for n in UPDATES.findall(log)), default=0)


def _max_update(flags: List[object]) -> int:
    """The ``--max-update`` among fairseq-train flags (0 when absent)."""
    names = [str(f) for f in flags]
    return int(names[names.index("--max-update") + 1]) if "--max-update" in names else 0


def fairseq_devices(log: str) -> str:
    """Where a fairseq-train run trained, from its log (every attempt appends to it): ``cpu``,
    ``cuda: <GPU name>``, or, for a run continued elsewhere under ``--resume``, each device with
    the update it handed over at, e.g. ``cuda: NVIDIA H200 to 8700 updates, then cpu``; "" when
    the log shows no attempt."""
    attempts, gpu = [], None  # [device, update it started from]
    for line in log.splitlines():
        if named := CUDA_NAME.search(line):
            gpu = named.group(1)
        elif TRAINING_ON.search(line):
            attempts.append([f"cuda: {gpu}" if gpu else "cpu", 0])
            gpu = None
        elif (resumed := RESUMED_AT.search(line)) and attempts:
            attempts[-1][1] = int(resumed.group(1))
    spans = []  # consecutive attempts on one device count once
    for device, start in attempts:
        if not spans or spans[-1][0] != device:
            spans.append([device, start])
    return ", then ".join(f"{device} to {spans[i + 1][1]} updates" if i + 1 < len(spans) else device
                          for i, (device, _) in enumerate(spans))


class StudyTask(abc.ABC):
    """One task of the study driver (``iiet-study NAME``)."""
    name: str = ""
    metric: str = ""            # the selection metric each model's rate is chosen on, e.g. "valid ppl"
    report_metric: str = ""     # the reported metric, on a split the rates are not chosen on ("" = none)
    higher_is_better: bool = True
    budget: str = "updates"     # the training budget's unit (a flag of the driver)
    default_budget: int = 0
    default_distill_budget: int = 0
    default_lrs: str = ""
    default_distill_lr: float = 5e-4
    num_layers: int = 0         # layers whose evaluations the table counts
    digits: int = 1
    curve_metric: str = ""      # what ``curve`` returns, per validation during training
    curve_higher_is_better: bool = True

    corpus_layout: str = ""      # the files a --corpus folder holds
    diagnostics_loss: str = "valid loss (nats/token)"    # the held-out loss the diagnostics stop early on
    diagnostics_batches: str = "the first validation batches"
    held_out_hint: str = ""      # how to give the task a split to choose rates on, when it has none

    def add_arguments(self, parser) -> None:
        """The task's own options (data slice sizes)."""

    def corpus(self, args) -> str:
        """The corpus folder: ``--corpus`` itself, else the task's corpus under the data root
        (``--data`` or ``$IIET_DATA``)."""
        return args.corpus or corpus_dir(self.name, args.data)

    def corpus_label(self, args, default: str) -> str:
        """How the setting names the corpus: ``default`` for the data root's, else the folder."""
        return os.path.abspath(args.corpus) if args.corpus else default

    @abc.abstractmethod
    def prepare(self, args, work: str) -> None:
        """Build the data the runs use (called once, before any training)."""

    @abc.abstractmethod
    def train(self, model: ModelSpec, lr: float, seed: int, budget: int, out: str,
              init: Optional[str] = None, continue_run: bool = False) -> Trained:
        """Train ``model`` into ``out`` (a folder without a run): from scratch, or from the weights
        of checkpoint ``init`` (fresh optimizer and schedule) when given.  ``continue_run``: go on
        with the unfinished run in ``out`` (``can_continue``) from its last checkpoint instead."""

    def can_continue(self, out: str) -> bool:
        """Whether ``out`` holds a run that ``continue_run`` can go on with (its last checkpoint)."""
        return False

    # Whether a finished run can be trained on to a larger budget and give the run that budget
    # would have given: the schedule must not depend on the budget (``--extend-from``).
    can_extend: bool = False

    # Whether the task's model has an encoder and a decoder that take their own solvers
    # (``ModelSpec.decoder_options``).
    has_sides: bool = False

    def refuse(self, model: ModelSpec) -> Optional[str]:
        """Why this task cannot train ``model`` (None when it can); asked before any work."""
        if model.decoder_options is not None and not self.has_sides:
            return f"{model.name}: only the mt task has an encoder and a decoder with solvers of their own"
        return None

    def evaluations(self, model: ModelSpec) -> int:
        """Layer evaluations per forward the report shows for ``model``."""
        return model_evaluations(model, self.num_layers)

    def evaluations_cell(self, model: ModelSpec) -> str:
        """The report's "layer evaluations" cell for ``model`` (``evaluations``)."""
        return count_text(self.evaluations(model))

    def setting_note(self, models: List[ModelSpec]) -> str:
        """Words the report's heading adds to ``describe`` for these models ("" for none).  Kept
        out of ``describe``, whose text is part of every run key."""
        return ""

    def update_flops(self, model: ModelSpec, iterations_on: bool = True) -> float:
        """Training FLOPs of one update (0 when the task does not estimate them)."""
        return 0.0

    def curve_flops(self, model: ModelSpec, curve: Curve, budget: int, offset: int = 0) -> List[Tuple[float, float]]:
        """``curve`` against cumulative training FLOPs: updates before the recipe's start cost
        what vanilla's do; ``offset`` updates of another run (a teacher, a starting model) come first."""
        start = int(model.start_fraction * budget)
        on, off = self.update_flops(model, True), self.update_flops(model, False)
        return [(off * min(u, start) + on * max(u - start, 0) + offset, v) for u, v in curve]

    def total_flops(self, model: ModelSpec, budget: int) -> float:
        """Training FLOPs of ``budget`` updates of ``model`` (the recipe's vanilla updates at vanilla's cost)."""
        return self.curve_flops(model, [(budget, 0.0)], budget)[0][0]

    @abc.abstractmethod
    def distil(self, teacher: Trained, model: ModelSpec, tau: float, lr: float, seed: int, budget: int,
               out: str, continue_run: bool = False) -> Trained:
        """IIAD: distil ``teacher`` (a trained ``model``) into an E-IIET at threshold ``tau``
        (``out`` and ``continue_run`` as in ``train``)."""

    @abc.abstractmethod
    def quality(self, checkpoint: str) -> float:
        """The selection metric of a checkpoint (the validation split)."""

    def report_quality(self, checkpoint: str) -> float:
        """The reported metric of a checkpoint (``report_metric``, a held-out split)."""
        raise NotImplementedError(f"the {self.name} task has no held-out split apart from its selection split")

    @abc.abstractmethod
    def speeds(self, checkpoints: Sequence[str]) -> Dict[str, float]:
        """Inference speed (items/s) of each checkpoint."""

    @abc.abstractmethod
    def curve(self, trained: Trained) -> Curve:
        """The run's learning curve: (updates, ``curve_metric``) at each validation."""

    def describe(self, args) -> str:
        return self.name

    def reported_on(self, args) -> str:
        """The held-out split ``report_metric`` is measured on, when it is no part of ``describe``
        (the runs' setting); "" when ``describe`` says it all."""
        return ""

    def devices(self, trained: Trained) -> str:
        """Where the run trained, for its record (the tools' device; a task whose log names it per
        attempt says more)."""
        return device_name()

    def diagnose(self, folder: str) -> Optional[List[dict]]:
        """Diagnostics of the run in ``folder`` over its kept checkpoints (``diagnostics``);
        None when the task keeps none."""
        return None

    @staticmethod
    def plan_of(log: str) -> str:
        found = re.search(r"IIAD student plan ([0-9,]+)", log)
        if not found:
            raise RuntimeError("the distillation log names no IIAD student plan")
        return found.group(1)


def _fresh(folder: str) -> str:
    shutil.rmtree(folder, ignore_errors=True)  # rebuilt whole, never mixed with an earlier build
    return folder


def _earlier_output(out: str, checkpoint: str, continue_run: bool) -> str:
    """The tool output of the earlier attempts at the run in ``out`` (``TOOL_LOG``) when it is
    continued.  A new run needs a folder without a run's checkpoint (the tools would silently
    continue it); an earlier attempt's log is dropped."""
    log = os.path.join(out, TOOL_LOG)
    if continue_run:
        if not os.path.exists(log):
            return ""
        with open(log, encoding="utf-8") as f:
            return f.read()
    if os.path.exists(checkpoint):
        raise ValueError(f"{out} holds a run ({os.path.basename(checkpoint)}); a new run needs a folder "
                         "without one (or continue_run)")
    os.makedirs(out, exist_ok=True)
    if os.path.exists(log):
        os.remove(log)
    return ""


class FairseqStudyTask(StudyTask):
    """What the fairseq tasks (LM, MT) share: ``--layers`` / ``--dim`` (FFN 4 x dim, one head
    per 32 dims; at 64-d the tiny architecture's ``TINY_FFN_HEADS``), ``--curve-interval``
    (validate and keep a checkpoint every N updates), the validation curve from fairseq's log,
    diagnostics over the kept checkpoints and interleaved teacher-forced scoring speed."""
    TINY_FFN_HEADS: Tuple[int, int] = (0, 0)
    layers_help = "layers (vanilla's; see --models)"
    default_warmup = 0  # the task's --warmup-updates (inverse-sqrt schedule)
    eval_unit = "lines"  # what --eval-lines / --test-lines count
    test_count = 0  # test items the reported metric is measured on (prepare)

    def add_size_arguments(self, parser) -> None:
        ffn, heads = self.TINY_FFN_HEADS
        parser.add_argument("--layers", type=int, default=2, help=self.layers_help)
        parser.add_argument("--dim", type=int, default=64, help=f"model width (64: the tiny architecture's FFN "
                                                                f"{ffn}, {heads} heads; otherwise FFN 4 x dim, "
                                                                f"dim / 32 heads)")
        parser.add_argument("--curve-interval", type=int, default=0,
                            help="validate (and keep a checkpoint for the diagnostics) every N updates "
                                 "(0: each epoch, no kept checkpoints)")
        parser.add_argument("--warmup-updates", type=int, default=self.default_warmup,
                            help=f"learning-rate warm-up of every model, in updates (inverse-sqrt: lr_t = lr x "
                                 f"min(t / w, sqrt(w / t))); a model's own warm-up (--models *-warmup-300) "
                                 f"overrides it (default {self.default_warmup})")
        parser.add_argument("--test-lines", type=int, default=0,
                            help=f"the first N {self.eval_unit} of the test split that {self.report_metric} is "
                                 f"reported on (default 0: --eval-lines). Training never reads the test split, so "
                                 f"this is no part of the runs' setting: a finished study run again with it reports "
                                 f"on more {self.eval_unit}, its runs reused")

    def check_args(self, args) -> Optional[str]:
        if args.layers < 1 or args.dim < 32 or args.dim % 32:
            return f"--layers must be >= 1 and --dim a multiple of 32, got {args.layers} and {args.dim}"
        if args.curve_interval < 0:
            return f"--curve-interval must be >= 0 (0: each epoch), got {args.curve_interval}"
        if args.test_lines < 0:
            return f"--test-lines must be >= 0 (0: --eval-lines), got {args.test_lines}"
        return warmup_refusal(args.warmup_updates)

    def reported_on(self, args) -> str:
        """With ``--test-lines``: how many test items the reported metric is measured on (counted
        by ``prepare``: fewer when the split has fewer)."""
        if not args.test_lines:
            return ""
        return f"{self.report_metric} on the first {self.test_count} test {self.eval_unit} (--test-lines {args.test_lines})"

    def warmup_setting(self, args) -> str:
        """The warm-up as part of the study's setting (its run keys), named only when it is not
        the task's default, so runs trained before the option existed stay reusable."""
        w = args.warmup_updates
        return "" if w == self.default_warmup else f", warm-up {w} updates"

    def ffn_heads(self) -> Tuple[int, int]:
        return self.TINY_FFN_HEADS if self.args.dim == 64 else (4 * self.args.dim, self.args.dim // 32)

    def interval_flags(self) -> List[object]:
        n = self.args.curve_interval
        return ["--validate-interval-updates", n, "--save-interval-updates", n, "--keep-interval-updates", -1] \
            if n else []

    def schedule_flags(self, model: ModelSpec, budget: int) -> List[object]:
        """The model's own training schedule: the recipe's ``--iie-start-update`` (start_fraction x
        budget) and its ``--warmup-updates`` (overrides the task's; argparse keeps the last)."""
        start = int(model.start_fraction * budget)
        return (["--iie-start-update", start] if start else []) + \
            (["--warmup-updates", model.warmup_updates] if model.warmup_updates else [])

    def can_continue(self, out):
        return os.path.exists(os.path.join(out, "checkpoint_last.pt"))

    can_extend = True  # inverse-sqrt: the rate at update t does not depend on --max-update

    def fairseq_train(self, out: str, flags: List[object], init: Optional[str] = None,
                      continue_run: bool = False) -> Trained:
        """``fairseq-train flags`` into ``out``.  A new run starts from ``init``'s weights when given
        (fresh optimizer, schedule, data position and meters).  ``continue_run`` restarts fairseq on
        the run's ``checkpoint_last.pt`` (its own restore: weights, the Adam moments when the run
        was trained under ``--resume``, the schedule and the data position; ``init`` is not read
        again), unless its log says that training finished.  The output is appended to
        ``OUT/tool.log``; the returned log (curve, IIAD plan) is all of it."""
        checkpoint, log_path = os.path.join(out, "checkpoint_last.pt"), os.path.join(out, TOOL_LOG)
        keep_state = [] if getattr(self.args, "resume", False) else ["--no-save-optimizer-state"]
        earlier = _earlier_output(out, checkpoint, continue_run)
        if continue_run:
            restore = []
            if FAIRSEQ_DONE.search(earlier) and updates_reached(earlier) >= _max_update(flags):
                return Trained(checkpoint, earlier)  # (a run extended to a larger budget goes on)
        else:
            restore = ["--restore-file", os.path.abspath(init), "--reset-optimizer", "--reset-dataloader",
                       "--reset-meters", "--reset-lr-scheduler"] if init else []
        log = run_tool("fairseq-train", *flags, *restore, *keep_state, "--save-dir", out, echo_command=False,
                       log_path=log_path)
        return Trained(checkpoint, earlier + log)

    def curve(self, trained):
        return fairseq_valid_curve(trained.log)

    def devices(self, trained):
        return fairseq_devices(trained.log) or device_name()

    def diagnose(self, folder):
        from .diagnostics import run_diagnostics
        return run_diagnostics(folder, self.data) if self.args.curve_interval else None

    def speeds(self, checkpoints):
        """Teacher-forced scoring tokens/s of every final model on the same valid batches,
        interleaved in one process (for MT, generation speed is not measured here:
        fairseq-generate runs one model per process, at different moments)."""
        from .speed import checkpoint_speeds
        measured = checkpoint_speeds(checkpoints, self.data, subset="valid")
        return {c: measured[c]["score_tokens_s"] for c in checkpoints}


class LanguageModelingTask(FairseqStudyTask):
    """An iiet_lm (default: iiet_lm_tiny, 2 layers, 64-d) on a slice of the WEB Bible; metric:
    valid perplexity.  ``--layers`` / ``--dim`` size it (FFN 4 x dim, one head per 32 dims)."""
    name, metric, higher_is_better = "lm", "valid ppl", False
    report_metric = "test ppl"
    default_budget, default_distill_budget, default_lrs, default_distill_lr = 200, 60, "0.003,0.01,0.02", 5e-4
    num_layers = 2
    curve_metric, curve_higher_is_better = "valid ppl", False
    TOKENS_PER_SAMPLE, MAX_TOKENS = 128, 2048
    TINY_FFN_HEADS, layers_help = (128, 2), "decoder layers (vanilla's; see --models)"
    default_warmup = 50
    eval_unit = "verses"
    corpus_layout = "train.txt, valid.txt, test.txt (or .gz), one sentence per line"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--train-lines", type=int, default=8000, help="training verses of the slice")
        parser.add_argument("--eval-lines", type=int, default=600, help="valid/test verses of the slice")
        parser.add_argument("--vocab", type=int, default=6000, help="word vocabulary size")
        self.add_size_arguments(parser)

    def _size(self, layers: int) -> List[str]:
        a = self.args
        ffn, heads = self.ffn_heads()
        return ["--decoder-layers", layers, "--decoder-embed-dim", a.dim, "--decoder-ffn-embed-dim", ffn,
                "--decoder-attention-heads", heads]

    def prepare(self, args, work: str) -> None:
        self.args = args
        self.num_layers = args.layers
        self.data = binarize_lm_slice(self.corpus(args), os.path.join(work, "data"), args.train_lines,
                                      args.eval_lines, vocab=args.vocab, test_lines=args.test_lines or None)
        with open(os.path.join(work, "data", "test.txt"), encoding="utf-8") as f:
            self.test_count = sum(1 for _ in f)
        with open(os.path.join(self.data, "dict.txt"), encoding="utf-8") as f:
            self.vocab_size = sum(1 for _ in f) + 4  # fairseq's 4 special symbols come first
        self.common = ["--task", "language_modeling", "--user-dir", user_dir(), "--arch", "iiet_lm_tiny",
                       "--share-decoder-input-output-embed", "--tokens-per-sample", self.TOKENS_PER_SAMPLE,
                       "--max-tokens", self.MAX_TOKENS,
                       "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr-scheduler", "inverse_sqrt",
                       "--warmup-updates", args.warmup_updates, "--clip-norm", "1.0", "--dropout", "0.1", "--log-format",
                       "simple", "--log-interval", "100", "--no-epoch-checkpoints", *fairseq_device_flags(),
                       "--num-workers", "0", *self.interval_flags()]

    def describe(self, args) -> str:
        return (f"{self.corpus_label(args, 'WEB Bible')} ({args.train_lines} training verses, {args.vocab} words), "
                f"iiet_lm {args.layers} layers x {args.dim}-d{self.warmup_setting(args)}")

    def update_flops(self, model, iterations_on=True):
        """3 x forward FLOPs of the tokens of one update: per token and layer evaluation
        2 (4 d^2 + 2 d f) for the projections and 4 T d for the (full, masked) attention
        matrix products over the T-token sample, plus 2 d V for the output layer."""
        a = self.args
        ffn, _ = self.ffn_heads()
        layers = self.num_layers * model.depth_multiplier
        evals = model_evaluations(model, self.num_layers) if iterations_on else layers
        per_token = evals * (2 * (4 * a.dim ** 2 + 2 * a.dim * ffn) + 4 * self.TOKENS_PER_SAMPLE * a.dim) \
            + 2 * a.dim * self.vocab_size
        return 3.0 * per_token * self.MAX_TOKENS

    def train(self, model, lr, seed, budget, out, init=None, continue_run=False):
        return self.fairseq_train(out, [self.data, *self.common, *self._size(self.num_layers * model.depth_multiplier),
                                        *flags(model.options), *self.schedule_flags(model, budget), "--lr", lr,
                                        "--seed", seed, "--max-update", budget], init, continue_run)

    def distil(self, teacher, model, tau, lr, seed, budget, out, continue_run=False):
        return self.fairseq_train(out, [self.data, *self.common, "--task", "iiad_language_modeling",
                                        *self._size(self.num_layers), *flags(model.options), "--teacher-path",
                                        teacher.checkpoint, "--iiad-threshold", tau, "--criterion",
                                        "iiad_distillation", "--kd-weight", "0.5", "--lr", lr, "--seed", seed,
                                        "--max-update", budget], continue_run=continue_run)

    def quality(self, checkpoint, subset: str = "valid"):
        out = run_tool("fairseq-eval-lm", self.data, "--user-dir", user_dir(), "--path", checkpoint,
                       "--gen-subset", subset, "--tokens-per-sample", "128", "--max-tokens", "4096",
                       *fairseq_device_flags(), echo_command=False)
        return float(re.search(r"Perplexity: ([0-9.]+)", out).group(1))

    def report_quality(self, checkpoint):
        return self.quality(checkpoint, "test")



class TranslationTask(FairseqStudyTask):
    """An iiet_transformer on en->de pairs (default: iiet_transformer_tiny, 2+2 layers, 64-d;
    ``--layers`` / ``--dim`` size it: FFN 4 x dim, one head per 32 dims); metric: sacreBLEU
    (beam 4, detokenized), the rate chosen on the valid split, reported on test; evaluations
    counted in the decoder (what decoding repeats).  A model may take other options in the
    decoder than in the encoder (``ModelSpec.decoder_options``)."""
    name, metric, higher_is_better = "mt", "valid BLEU", True
    has_sides = True
    report_metric = "test BLEU"
    default_budget, default_distill_budget, default_lrs, default_distill_lr = 400, 100, "0.01,0.02", 5e-4
    num_layers = 2
    digits = 2
    curve_metric, curve_higher_is_better = "valid ppl (teacher-forced)", False
    MAX_TOKENS, SENTENCE_TOKENS = 4096, 24  # tokens per side of an update; assumed subword tokens per sentence
    TINY_FFN_HEADS, layers_help = (64, 2), "encoder and decoder layers (vanilla's; see --models)"
    default_warmup = 100
    eval_unit = "pairs"
    corpus_layout = "train.en / train.de, valid.*, test.* (or .gz), line-aligned English->German pairs"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--train-lines", type=int, default=30000, help="training pairs, spread over the corpus")
        parser.add_argument("--eval-lines", type=int, default=300, help="valid/test pairs")
        parser.add_argument("--max-words", type=int, default=15,
                            help="keep pairs of at most this many words a side (every split; 0 keeps all)")
        self.add_size_arguments(parser)

    def _size(self, layers: int) -> List[str]:
        ffn, heads = self.ffn_heads()
        out = ["--encoder-layers", layers, "--decoder-layers", layers]
        for side in ("encoder", "decoder"):
            out += [f"--{side}-embed-dim", self.args.dim, f"--{side}-ffn-embed-dim", ffn,
                    f"--{side}-attention-heads", heads]
        return out

    def prepare(self, args, work: str) -> None:
        self.args = args
        self.num_layers = args.layers
        self.prep = os.path.join(work, "data")
        text = read_pairs(self.corpus(args), train_lines=args.train_lines, train_pick="spread",
                          eval_lines=args.eval_lines, test_lines=args.test_lines or None,
                          max_words=args.max_words or None)
        self.test_count = len(text[("test", "en")])
        self.data = binarize_pairs(text, _fresh(self.prep), vocab=4000)
        with open(os.path.join(self.data, "dict.en.txt"), encoding="utf-8") as f:
            self.vocab_size = sum(1 for _ in f) + 4  # fairseq's 4 special symbols come first
        self.common = ["--user-dir", user_dir(), "--arch", "iiet_transformer_tiny", "--share-all-embeddings",
                       "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr-scheduler", "inverse_sqrt",
                       "--warmup-updates", args.warmup_updates, "--clip-norm", "1.0", "--dropout", "0.1", "--criterion",
                       "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--max-tokens", self.MAX_TOKENS,
                       *fairseq_device_flags(), "--log-format", "simple", "--no-epoch-checkpoints", "--num-workers", "0",
                       "--skip-invalid-size-inputs-valid-test", *self.interval_flags()]

    def describe(self, args) -> str:
        words = f" of <= {args.max_words} words a side" if args.max_words else ""
        return (f"{self.corpus_label(args, 'English->German')} ({args.train_lines} training pairs{words}, sacreBLEU on {args.eval_lines} "
                f"valid / test pairs), iiet_transformer {args.layers}+{args.layers} layers x {args.dim}-d, "
                f"the same solver in encoder and decoder{self.warmup_setting(args)}")

    def evaluations(self, model):
        return model_evaluations(model, self.num_layers, "decoder")

    def evaluations_cell(self, model):
        """The decoder's count; both sides' (``9 encoder, 3 decoder``) where they differ."""
        encoder, decoder = (model_evaluations(model, self.num_layers, side) for side in ("encoder", "decoder"))
        return count_text(decoder) if encoder == decoder else f"{encoder} encoder, {decoder} decoder"

    def setting_note(self, models):
        if not any(m.decoder_options is not None for m in models):
            return ""
        return "a model named for one side iterates on that side only (its other side is vanilla)"

    def update_flops(self, model, iterations_on=True):
        """3 x forward FLOPs of an update of MAX_TOKENS source and MAX_TOKENS target tokens in
        sentences of SENTENCE_TOKENS (L): per token and encoder evaluation 2 (4 d^2 + 2 d f) + 4 L d;
        per token and decoder evaluation 2 (6 d^2 + 2 d f) + 8 L d (self- and cross-attention; the
        cross-attention keys and values, 4 d^2 per source token, once per layer: all evaluations
        share them); 2 d V per target token for the output layer.  Each side's evaluations are its
        own solver's."""
        d, (f, _) = self.args.dim, self.ffn_heads()
        layers = self.num_layers * model.depth_multiplier
        encoder_evals, decoder_evals = ((model_evaluations(model, self.num_layers, side) for side in
                                         ("encoder", "decoder")) if iterations_on else (layers, layers))
        L = self.SENTENCE_TOKENS
        encoder = encoder_evals * (2 * (4 * d * d + 2 * d * f) + 4 * L * d)
        decoder = (decoder_evals * (2 * (6 * d * d + 2 * d * f) + 8 * L * d) + layers * 4 * d * d
                   + 2 * d * self.vocab_size)
        return 3.0 * self.MAX_TOKENS * (encoder + decoder)

    def _sides(self, model: ModelSpec) -> List[str]:
        return flags(model.side_options("encoder"), ("encoder-",)) + flags(model.side_options("decoder"), ("decoder-",))

    def train(self, model, lr, seed, budget, out, init=None, continue_run=False):
        return self.fairseq_train(out, [self.data, "--task", "translation", *self.common, *self._sides(model),
                                        *self._size(self.num_layers * model.depth_multiplier),
                                        *self.schedule_flags(model, budget), "--lr", lr, "--seed", seed,
                                        "--max-update", budget], init, continue_run)

    def distil(self, teacher, model, tau, lr, seed, budget, out, continue_run=False):
        return self.fairseq_train(out, [self.data, "--task", "iiad_translation", *self.common, *self._sides(model),
                                        *self._size(self.num_layers), "--teacher-path", teacher.checkpoint,
                                        "--iiad-threshold", tau, "--criterion", "iiad_distillation", "--kd-weight",
                                        "0.5", "--lr", lr, "--seed", seed, "--max-update", budget],
                                  continue_run=continue_run)

    def quality(self, checkpoint, subset: str = "valid"):
        from ..seq.bleu import score_generation
        out = run_tool("fairseq-generate", self.data, "--user-dir", user_dir(), "--path", checkpoint,
                       "--gen-subset", subset, "--beam", "4", "--max-len-a", "1.2", "--max-len-b", "10",
                       "--post-process", "sentencepiece", *fairseq_device_flags(), "--max-tokens", "8000",
                       echo_command=False)
        generated = f"{checkpoint}.{subset}.txt"
        with open(generated, "w", encoding="utf-8") as f:
            f.write(out)
        result, self.signature, _ = score_generation(generated, os.path.join(self.prep, f"{subset}.de"))
        return result.score

    def report_quality(self, checkpoint):
        return self.quality(checkpoint, "test")


class VisionTask(StudyTask):
    """A small iiet_vit (default 64-d, 3 blocks; patch 7, avg pool) on Fashion-MNIST; metric:
    top-1 on the first --eval-limit test images; speed: images/s of every final model, round-robin.
    Fashion-MNIST has no split besides the reported test images: by default the study takes one
    rate; with ``--valid-images N`` the last N training images (never trained on) are the
    validation split, the rate is chosen on their top-1 and the test images' top-1 is reported."""
    name, metric, higher_is_better, budget = "vision", "top-1", True, "epochs"
    valid_split, selection_key = False, "top1"  # selection_key: the history entry rates are chosen on
    held_out_hint = " or --valid-images N to choose it on the last N training images"
    default_budget, default_distill_budget, default_lrs, default_distill_lr = 3, 1, "0.001", 3e-4
    num_layers = 3
    curve_metric = "top-1"
    MODEL_KWARGS = {"embed_dim": 64, "depth": 3, "num_heads": 2, "patch_size": 7, "global_pool": "avg"}

    diagnostics_loss, diagnostics_batches = "test loss (nats/image)", "the first test images"
    corpus_layout = "Fashion-MNIST's four IDX files (train-*, t10k-*; 28 x 28 grey images, 10 classes)"
    BATCH, TOKENS = 32, (28 // 7) ** 2  # images per update; patch tokens per image (avg pool, no class token)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--train-limit", type=int, default=3000, help="training images (the first N)")
        parser.add_argument("--eval-limit", type=int, default=1000, help="test images scored (the first N)")
        parser.add_argument("--depth", type=int, default=3, help="blocks (vanilla's; see --models)")
        parser.add_argument("--dim", type=int, default=64, help="width (one head per 32 dims, MLP 4 x dim)")
        parser.add_argument("--valid-images", type=int, default=0,
                            help="hold out the last N training images as a validation split to choose each "
                                 "model's rate on (iiet-vit-train --valid-images); 0: none, one rate")
        parser.add_argument("--diagnostics-interval", type=int, default=0,
                            help="keep the weights every N steps (iiet-vit-train --save-interval-steps) and run "
                                 "the diagnostics on them (0: none); top-1 is still measured once per epoch")

    def check_args(self, args) -> Optional[str]:
        if args.depth < 1 or args.dim < 32 or args.dim % 32:
            return f"--depth must be >= 1 and --dim a multiple of 32, got {args.depth} and {args.dim}"
        if args.diagnostics_interval < 0:
            return f"--diagnostics-interval must be >= 0 (0: none), got {args.diagnostics_interval}"
        if args.valid_images < 0:
            return f"--valid-images must be >= 0 (0: none), got {args.valid_images}"
        if args.valid_images:
            from ..vision.idx_dataset import check_holdout
            try:
                check_holdout(self.corpus(args), args.train_limit, args.valid_images)
            except ConfigError as e:
                return str(e)
        self.use_valid_split(args.valid_images > 0)
        return None

    def use_valid_split(self, on: bool) -> None:
        """With a validation split, rates are chosen on its top-1 (also the curves' metric) and the
        test images' top-1 is reported; without, top-1 on the test images is both."""
        self.valid_split, self.selection_key = on, "valid_top1" if on else "top1"
        self.metric, self.report_metric = ("valid top-1", "test top-1") if on else ("top-1", "")
        self.curve_metric = self.metric

    def diagnose(self, folder):
        from .diagnostics import run_vision_diagnostics
        return run_vision_diagnostics(folder, self.data, self.args.eval_limit) \
            if self.args.diagnostics_interval else None

    def update_flops(self, model, iterations_on=True):
        """3 x forward FLOPs of one batch: per patch token and block evaluation 2 (4 d^2 + 8 d^2)
        for the projections and MLP and 4 N d for attention over the N tokens (the patch
        embedding and head are left out)."""
        d = self.model_kwargs["embed_dim"]
        layers = self.num_layers * model.depth_multiplier
        evals = model_evaluations(model, self.num_layers) if iterations_on else layers
        return 3.0 * self.BATCH * self.TOKENS * evals * (2 * 12 * d * d + 4 * self.TOKENS * d)

    def prepare(self, args, work: str) -> None:
        self.args, self.num_layers, self.data = args, args.depth, self.corpus(args)
        self.model_kwargs = dict(self.MODEL_KWARGS, embed_dim=args.dim, num_heads=args.dim // 32,
                                 depth=args.depth)
        self.common = ["--data", self.data, "--model", "iiet_vit_tiny_patch4_28",
                       "--model-kwargs", json.dumps(self.model_kwargs), "--batch-size", self.BATCH, "--warmup-epochs",
                       "0", "--smoothing", "0", "--weight-decay", "0", "--train-limit", args.train_limit,
                       "--eval-limit", args.eval_limit, "--no-progress", "--overwrite"]
        if args.valid_images:
            self.common += ["--valid-images", args.valid_images]

    def describe(self, args) -> str:
        held_out = f", rates chosen on the last {args.valid_images} training images" if args.valid_images else ""
        return (f"{self.corpus_label(args, 'Fashion-MNIST')} ({args.train_limit} training images, top-1 on "
                f"{args.eval_limit} test images{held_out}), iiet_vit {args.dim}-d x {args.depth} blocks, AdamW, "
                "cosine, no warmup")

    def refuse(self, model):
        why = super().refuse(model)
        if why:
            return why
        if model.start_fraction or model.init_from or model.warmup_updates:
            return (f"{model.name}: iiet-vit-train has no two-stage schedule, warm start or per-model warm-up "
                    f"in updates (fairseq tasks only)")
        return None

    def can_continue(self, out):
        return os.path.exists(os.path.join(out, "last.pt"))

    def vit_train(self, out: str, flags: List[object], continue_run: bool = False) -> Trained:
        """``iiet-vit-train flags --output out``; ``continue_run`` resumes the run from its
        ``last.pt`` (model, optimizer, schedule, EMA, epoch, history; saved each epoch).  The
        output is appended to ``OUT/tool.log``; the returned log is all of it."""
        checkpoint = os.path.join(out, "last.pt")
        earlier = _earlier_output(out, checkpoint, continue_run)
        resume = ["--resume", checkpoint] if continue_run else []
        log = run_tool("iiet-vit-train", *flags, *resume, "--output", out, echo_command=False,
                       log_path=os.path.join(out, TOOL_LOG))
        return Trained(checkpoint, earlier + log)

    def train(self, model, lr, seed, budget, out, init=None, continue_run=False):
        kwargs = dict(self.model_kwargs, depth=self.num_layers * model.depth_multiplier)
        common = list(self.common)
        common[common.index("--model-kwargs") + 1] = json.dumps(kwargs)
        return self.vit_train(out, [*common, *flags(model.options), "--lr", lr, "--epochs", budget, "--seed", seed,
                                    "--save-interval-steps", self.args.diagnostics_interval], continue_run)

    def distil(self, teacher, model, tau, lr, seed, budget, out, continue_run=False):
        return self.vit_train(out, [*self.common, "--teacher", teacher.checkpoint, "--iiad-threshold", tau,
                                    "--kd-weight", "0.5", "--lr", lr, "--epochs", budget, "--seed", seed],
                              continue_run)

    def _history(self, checkpoint):
        from ..vision.checkpoints import read_checkpoint
        return read_checkpoint(checkpoint, "checkpoint")["history"]

    def quality(self, checkpoint):
        """The selection top-1 of the final weights: the validation split's, else the test images'."""
        return float(self._history(checkpoint)[-1][self.selection_key])

    def report_quality(self, checkpoint):
        if not self.valid_split:
            return super().report_quality(checkpoint)
        return float(self._history(checkpoint)[-1]["top1"])

    def curve(self, trained):
        return [(int(h["step"]), float(h[self.selection_key])) for h in self._history(trained.checkpoint)]

    def speeds(self, checkpoints, rounds: int = 7, batch: int = 64):
        import torch

        from ..vision.checkpoints import model_from_checkpoint, read_checkpoint
        models = {c: model_from_checkpoint(read_checkpoint(c, "checkpoint"), 10, 1).eval() for c in checkpoints}
        x = torch.randn(batch, 1, 28, 28)
        with torch.no_grad():
            seconds = round_robin_times({c: (lambda m=m: m(x)) for c, m in models.items()}, rounds)
        return {c: batch / s for c, s in seconds.items()}


TASKS = {task.name: task for task in (LanguageModelingTask, TranslationTask, VisionTask)}
