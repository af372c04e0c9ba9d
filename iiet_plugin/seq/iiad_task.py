"""IIAD as fairseq tasks: ``iiad_language_modeling`` and ``iiad_translation``.

Training (``fairseq-train --task iiad_language_modeling --teacher-path teacher.pt
--iiad-threshold 0.1 --arch <the teacher's arch> ...``):

1. the teacher checkpoint is loaded once, put in eval mode, gradients off, and kept on
   the task (not inside the student, so it is neither optimised nor saved);
2. the student is built from ``--arch`` and must have the teacher's architecture
   (same parameter names and shapes; checked at build, with a clear error otherwise);
3. the student's decoder plan comes from ``--iiad-plan`` or from ``--iiad-threshold``
   applied to the teacher's influence scores (``--iiad-score update|loss`` on
   ``--iiad-calibration-batches`` batches of ``--iiad-calibration-subset``);
4. the student starts from the teacher's weights; the plan is written into the model
   config, so the distilled checkpoint is an ordinary ``iiet_lm``/``iiet_transformer``
   checkpoint with ``iie_layer_iters`` set.

Loading a checkpoint (``fairseq-eval-lm``, ``-generate``, ``-interactive``) builds the
plain model: no teacher is needed.
"""
import logging
import os
from contextlib import ExitStack
from dataclasses import field, make_dataclass
from typing import Optional

import torch
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask
from fairseq.tasks.translation import TranslationConfig, TranslationTask
from omegaconf import OmegaConf, open_dict

from ..ode import check_student_request, plan_summary
from .checkpoints import load_checkpoint
from .config_values import check_config_values
from .influence import choose_plan
from ..ode.errors import ConfigError

logger = logging.getLogger(__name__)

IIAD_FIELDS = [
    ("teacher_path", str, field(default="", metadata={"help": "IIET teacher checkpoint (required for training)"})),
    ("iiad_threshold", Optional[float], field(default=None, metadata={
        "help": "keep, per layer, the leading iterations whose influence is >= this threshold"})),
    ("iiad_plan", Optional[str], field(default=None, metadata={
        "help": "explicit per-layer plan, e.g. '2,2,1,0' (instead of --iiad-threshold)"})),
    ("iiad_score", ChoiceEnum(["update", "loss"]), field(default="update", metadata={
        "help": "influence score the threshold applies to"})),
    ("iiad_calibration_subset", str, field(default="valid", metadata={"help": "data split for calibration"})),
    ("iiad_calibration_batches", int, field(default=8, metadata={"help": "calibration batches"})),
    ("iiad_calibration_max_tokens", int, field(default=4096, metadata={"help": "tokens per calibration batch"})),
]


def _config(name, base):
    cls = make_dataclass(name, IIAD_FIELDS, bases=(base,))
    cls.__module__ = __name__
    return cls


IIADLanguageModelingConfig = _config("IIADLanguageModelingConfig", LanguageModelingConfig)
IIADTranslationConfig = _config("IIADTranslationConfig", TranslationConfig)


def _set(cfg, key, value):
    with open_dict(cfg) if OmegaConf.is_config(cfg) else ExitStack():
        setattr(cfg, key, value)


class IIADTaskMixin:
    teacher = None
    plan_key = "iie_layer_iters"

    @property
    def iiad_options(self):
        """The task options (fairseq's LM task keeps them in ``args``, translation in ``cfg``)."""
        cfg = getattr(self, "cfg", None)
        return cfg if cfg is not None else self.args

    def _load_teacher(self):
        path = self.iiad_options.teacher_path
        if not path:
            raise ConfigError("--teacher-path is required to train with an IIAD task (the IIET teacher checkpoint)")
        if not os.path.isfile(path):
            raise ConfigError(f"--teacher-path: {path} does not exist")
        models, _, _ = load_checkpoint(path, task=self)
        teacher = models[0]
        teacher.eval()
        teacher.requires_grad_(False)
        return teacher

    @staticmethod
    def _check_same_architecture(student, teacher, path):
        mine, theirs = student.state_dict(), teacher.state_dict()
        missing = sorted(set(mine) - set(theirs))
        extra = sorted(set(theirs) - set(mine))
        shapes = [k for k in set(mine) & set(theirs) if mine[k].shape != theirs[k].shape]
        if type(student) is not type(teacher) or missing or extra or shapes:
            detail = (f"student {type(student).__name__} vs teacher {type(teacher).__name__}; "
                      f"{len(missing)} parameters missing in the teacher (e.g. {missing[:2]}), "
                      f"{len(extra)} extra (e.g. {extra[:2]}), {len(shapes)} of different shape (e.g. {shapes[:2]})")
            raise ConfigError(f"--teacher-path: {path} has a different architecture than the student "
                             f"(--arch and its sizes must match the teacher): {detail}")

    def build_model(self, cfg, from_checkpoint=False):
        check_config_values(cfg)  # whatever the architecture: no config string reaches eval()
        if from_checkpoint:
            return super().build_model(cfg, from_checkpoint)  # a distilled model: no teacher needed
        opts = self.iiad_options
        check_student_request(opts.iiad_threshold, opts.iiad_plan, opts.iiad_score)  # before loading anything
        teacher = self._load_teacher()
        student = super().build_model(cfg, from_checkpoint)
        self._check_same_architecture(student, teacher, self.iiad_options.teacher_path)
        plan, report = choose_plan(teacher, self, opts.iiad_threshold, opts.iiad_plan, opts.iiad_score,
                                   opts.iiad_calibration_subset, opts.iiad_calibration_batches,
                                   opts.iiad_calibration_max_tokens)
        student.load_state_dict(teacher.state_dict(), strict=True)
        student.decoder.configured_plan = student.decoder.set_plan(plan)
        _set(cfg, self.plan_key, plan.to_string())
        teacher_plan = teacher.decoder.plan()
        summary = plan_summary(plan, teacher_plan)
        if report is not None:
            logger.info("IIAD %s scores per layer (iterations 1..r): %s", opts.iiad_score,
                        [[round(v, 4) for v in row] for row in report.scores(str(opts.iiad_score))])
        logger.info("IIAD student plan %s (teacher %s): %d layer evaluations, %.3f of the teacher's, %.3f of vanilla",
                    summary["plan"], teacher_plan, summary["evaluations"], summary["cost_vs_teacher"],
                    summary["cost_vs_vanilla"])
        self.teacher = teacher
        return student

    def teacher_on(self, device) -> torch.nn.Module:
        if self.teacher is None:
            raise RuntimeError("the IIAD criterion needs the teacher: train with an iiad_* task and --teacher-path")
        if next(self.teacher.parameters()).device != device:
            self.teacher.to(device)
        return self.teacher


@register_task("iiad_language_modeling", dataclass=IIADLanguageModelingConfig)
class IIADLanguageModelingTask(IIADTaskMixin, LanguageModelingTask):
    """Language modeling with an IIET teacher for IIAD distillation."""


@register_task("iiad_translation", dataclass=IIADTranslationConfig)
class IIADTranslationTask(IIADTaskMixin, TranslationTask):
    """Translation with an IIET teacher for IIAD distillation (the decoder's plan is distilled)."""

    plan_key = "decoder_iie_layer_iters"
