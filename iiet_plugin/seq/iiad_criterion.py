"""IIAD's distillation loss as a fairseq criterion (``--criterion iiad_distillation``):

    loss = (1 - lambda) * CE_eps(student, gold) + lambda * T^2 * KL(teacher_T || student_T)
           [+ beta * sum_l MSE(h_l^student, h_l^teacher)]

``CE_eps`` is label-smoothed cross entropy as ``label_smoothed_cross_entropy`` computes
it; ``p_T = softmax(logits / T)``; the KL is summed over non-padding target tokens; the
optional hidden-state term compares every layer output (fairseq's ``inner_states``).
The teacher (held by the iiad_* task) runs in ``no_grad`` and eval mode.  CE, NLL and KL
are logged separately (base 2, per token).
"""
import math
from dataclasses import dataclass, field

import torch
from fairseq import metrics, utils
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.dataclass import FairseqDataclass
from omegaconf import II

from ..ode import check_kd_options, kd_divergence, kd_loss
from ..ode.errors import ConfigError


@dataclass
class IIADDistillationConfig(FairseqDataclass):
    label_smoothing: float = field(default=0.0, metadata={"help": "epsilon of the label-smoothed CE"})
    kd_weight: float = field(default=0.5, metadata={"help": "lambda: weight of the KL term (1 - lambda for CE)"})
    kd_temperature: float = field(default=1.0, metadata={"help": "T: softmax temperature of teacher and student"})
    hidden_mse_weight: float = field(default=0.0, metadata={"help": "weight of the layer-output MSE term"})
    sentence_avg: bool = II("optimization.sentence_avg")


@register_criterion("iiad_distillation", dataclass=IIADDistillationConfig)
class IIADDistillationCriterion(FairseqCriterion):
    def __init__(self, task, label_smoothing, kd_weight, kd_temperature, hidden_mse_weight, sentence_avg):
        super().__init__(task)
        check_kd_options(kd_weight, kd_temperature)
        if not hasattr(task, "teacher_on"):
            raise ConfigError("--criterion iiad_distillation needs --task iiad_language_modeling or iiad_translation")
        self.eps = label_smoothing
        self.kd_weight = kd_weight
        self.temperature = kd_temperature
        self.hidden_mse_weight = hidden_mse_weight
        self.sentence_avg = sentence_avg

    def forward(self, model, sample, reduce=True):
        net_input = sample["net_input"]
        net_output = model(**net_input)
        target = model.get_targets(sample, net_output)
        keep = target.ne(self.padding_idx)
        lprobs = model.get_normalized_probs(net_output, log_probs=True)
        ce, nll = label_smoothed_nll_loss(lprobs[keep], target[keep], self.eps, ignore_index=None, reduce=True)

        teacher = self.task.teacher_on(target.device)
        with torch.no_grad():
            teacher_output = teacher(**net_input)
        kl = kd_divergence(net_output[0][keep], teacher_output[0][keep], self.temperature, reduction="sum")
        loss = kd_loss(ce, kl, self.kd_weight, self.temperature)
        mse = torch.zeros((), device=loss.device)
        if self.hidden_mse_weight > 0:
            mask = keep.t().unsqueeze(-1).float()  # (T, B, 1) like the hidden states
            for hs, ht in zip(net_output[1]["inner_states"][1:], teacher_output[1]["inner_states"][1:]):
                mse = mse + (((hs.float() - ht.float()) ** 2) * mask).sum() / hs.size(-1)
            loss = loss + self.hidden_mse_weight * mse

        ntokens = int(keep.sum().item())
        sample_size = sample["target"].size(0) if self.sentence_avg else ntokens
        logging_output = {
            "loss": loss.data, "ce": ce.data, "nll_loss": nll.data, "kl": kl.data, "hidden_mse": mse.data,
            "ntokens": ntokens, "nsentences": sample["target"].size(0), "sample_size": sample_size,
        }
        return loss, sample_size, logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        def total(key):
            return sum(log.get(key, 0) for log in logging_outputs)
        sample_size, ntokens = total("sample_size"), total("ntokens")
        metrics.log_scalar("loss", total("loss") / sample_size / math.log(2), sample_size, round=3)
        metrics.log_scalar("ce", total("ce") / ntokens / math.log(2), ntokens, round=3)
        metrics.log_scalar("nll_loss", total("nll_loss") / ntokens / math.log(2), ntokens, round=3)
        metrics.log_scalar("kl", total("kl") / ntokens / math.log(2), ntokens, round=4)
        if total("hidden_mse"):
            metrics.log_scalar("hidden_mse", total("hidden_mse") / ntokens, ntokens, round=4)
        metrics.log_derived("ppl", lambda meters: utils.get_perplexity(meters["nll_loss"].avg))

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
