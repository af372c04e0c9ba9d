"""IIAD's distillation loss, shared by every host (fairseq criterion, vision recipe):

    loss = (1 - lambda) * CE + lambda * T^2 * KL(softmax(t / T) || softmax(s / T))

``s``/``t`` are the student's and the teacher's logits over the same positions; the KL is
summed over positions (``reduction="sum"``) or averaged over them (``"batchmean"``).
"""
import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError


def check_kd_options(kd_weight: float, kd_temperature: float) -> None:
    if not 0.0 <= float(kd_weight) <= 1.0:
        raise ConfigError(f"kd_weight must be in [0, 1], got {kd_weight}")
    if not float(kd_temperature) > 0:
        raise ConfigError(f"kd_temperature must be > 0, got {kd_temperature}")


def kd_divergence(student_logits: Tensor, teacher_logits: Tensor, temperature: float,
                  reduction: str = "sum") -> Tensor:
    """``KL(p_t || p_s)`` at temperature ``T`` over the last dimension (computed in fp32)."""
    student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    return F.kl_div(student, teacher, reduction=reduction, log_target=True)


def kd_loss(ce: Tensor, kl: Tensor, kd_weight: float, temperature: float) -> Tensor:
    """``(1 - lambda) CE + lambda T^2 KL``."""
    return (1.0 - kd_weight) * ce + kd_weight * temperature * temperature * kl


__all__ = ["check_kd_options", "kd_divergence", "kd_loss"]
