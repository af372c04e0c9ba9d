"""``fairseq_iiet``: an lm-evaluation-harness model for fairseq language-model checkpoints
(the plugin's ``iiet_lm`` in any solver or E-IIET plan, and fairseq's ``transformer_lm``).

Text is turned into tokens the way the checkpoint was trained: fairseq's configured
tokenizer and BPE when the checkpoint names them (e.g. sentencepiece, offline), else
whitespace splitting (fairseq-preprocess's default), then the checkpoint's dictionary.
Scoring follows fairseq's language-modeling convention: a sequence is predicted from
``[eos] + tokens[:-1]``.

* ``loglikelihood``: sum of log-probabilities of the continuation's tokens given the context
  (left-truncated to the model's window), and whether greedy decoding would produce it;
* ``loglikelihood_rolling``: the whole document in windows exactly as ``fairseq-eval-lm
  --context-window C`` scores a stream: blocks of ``T - C`` new tokens, each after the
  previous ``C`` tokens (``T`` = the model's window, ``--tokens-per-sample``);
* ``generate_until``: greedy decoding with the model's incremental (KV-cached) decoding.
"""
import logging
import os
from typing import List, Optional, Tuple

import torch

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from ..ode.errors import ConfigError

logger = logging.getLogger(__name__)


@register_model("fairseq_iiet")
class FairseqLM(LM):
    def __init__(self, path: str, data: Optional[str] = None, device: str = "cpu", batch_size: int = 8,
                 max_length: Optional[int] = None, context_window: Optional[int] = None,
                 append_eos: bool = True, max_gen_toks: int = 64, **kwargs):
        super().__init__()
        from fairseq.data import encoders

        import iiet_plugin  # noqa: F401  (registers the plugin's models)
        from iiet_plugin.seq.checkpoints import load_checkpoint
        overrides = {"data": data} if data else {}
        if not os.path.isfile(path):
            raise ConfigError(f"path: checkpoint {path} does not exist")
        if data and not os.path.isfile(os.path.join(data, "dict.txt")):
            raise ConfigError(f"data: {data} holds no dict.txt (pass the model's fairseq data-bin)")
        models, cfg, task = load_checkpoint(path, arg_overrides=overrides)
        self.model = models[0].eval().to(device)
        self.task = task
        self.dictionary = task.target_dictionary
        self.device_name = device
        self.batch_size = int(batch_size)
        self.max_length = int(max_length or min(self.model.max_positions(), cfg.task.tokens_per_sample))
        self.context_window = int(context_window if context_window is not None else self.max_length // 2)
        if not 0 <= self.context_window < self.max_length:
            raise ConfigError(f"context_window must be in [0, {self.max_length}), got {self.context_window}")
        self.append_eos = bool(append_eos)
        self.max_gen_toks = int(max_gen_toks)
        self.tokenizer = encoders.build_tokenizer(cfg.tokenizer) if cfg.get("tokenizer") else None
        self.bpe = encoders.build_bpe(cfg.bpe) if cfg.get("bpe") else None

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: Optional[dict] = None):
        from lm_eval.utils import simple_parse_args_string
        args = simple_parse_args_string(arg_string)
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None and k in ("batch_size", "device")}
        return cls(**args, **extra)

    # -- text <-> tokens -----------------------------------------------------------------
    def tok_encode(self, text: str) -> List[int]:
        if self.tokenizer is not None:
            text = self.tokenizer.encode(text)
        if self.bpe is not None:
            text = self.bpe.encode(text)
        return self.dictionary.encode_line(text, add_if_not_exist=False, append_eos=False).long().tolist()

    def tok_decode(self, tokens: List[int]) -> str:
        text = self.dictionary.string(torch.tensor(tokens))
        if self.bpe is not None:
            text = self.bpe.decode(text)
        if self.tokenizer is not None:
            text = self.tokenizer.decode(text)
        return text

    # -- scoring -------------------------------------------------------------------------
    def _log_probs(self, inputs: List[List[int]]) -> List[torch.Tensor]:
        """Log-probabilities ``[len, V]`` for each input sequence (right-padded in batches)."""
        out: List[torch.Tensor] = []
        pad = self.dictionary.pad()
        for start in range(0, len(inputs), self.batch_size):
            chunk = inputs[start: start + self.batch_size]
            width = max(len(x) for x in chunk)
            batch = torch.full((len(chunk), width), pad, dtype=torch.long)
            for i, x in enumerate(chunk):
                batch[i, : len(x)] = torch.tensor(x)
            with torch.no_grad():
                net_output = self.model(batch.to(self.device_name))
                lprobs = self.model.get_normalized_probs(net_output, log_probs=True).float().cpu()
            out.extend(lprobs[i, : len(x)] for i, x in enumerate(chunk))
        return out

    def _score_many(self, pairs) -> List[Tuple[float, bool]]:
        eos = self.dictionary.eos()
        inputs, spans = [], []
        for context, continuation in pairs:
            if not continuation:
                raise ValueError("loglikelihood: the continuation is empty after tokenization")
            whole = [eos] + context + continuation
            whole = whole[-(self.max_length + 1):]
            inputs.append(whole[:-1])
            spans.append((whole[-len(continuation):]))
        results = []
        for lprobs, target in zip(self._log_probs(inputs), spans):
            tail = lprobs[-len(target):]
            target_t = torch.tensor(target)
            logprob = tail.gather(-1, target_t.unsqueeze(-1)).sum().item()
            greedy = bool(torch.equal(tail.argmax(-1), target_t))
            results.append((logprob, greedy))
        return results

    def loglikelihood(self, requests) -> List[Tuple[float, bool]]:
        pairs = []
        for req in requests:
            context, continuation = req.args
            # split at the boundary as the harness expects: trailing spaces belong to the continuation
            spaces = len(context) - len(context.rstrip())
            if spaces:
                continuation = context[-spaces:] + continuation
                context = context[:-spaces]
            pairs.append((self.tok_encode(context) if context else [], self.tok_encode(continuation)))
        return self._score_many(pairs)

    def rolling_windows(self, tokens: List[int]):
        """(input, number of scored positions at its end) per window, as fairseq-eval-lm
        --context-window does: blocks of T - C new tokens after up to C previous ones."""
        eos = self.dictionary.eos()
        stream = [eos] + tokens  # inputs; targets are stream[1:] + what follows
        targets = tokens
        block = self.max_length - self.context_window
        windows = []
        for p in range(0, len(targets), block):
            start = max(0, p - self.context_window)
            end = min(p + block, len(targets))
            windows.append((stream[start:end], targets[p:end], end - p))
        return windows

    def loglikelihood_rolling(self, requests) -> List[float]:
        results = []
        for req in requests:
            (text,) = req.args
            tokens = self.tok_encode(text) + ([self.dictionary.eos()] if self.append_eos else [])
            windows = self.rolling_windows(tokens)
            total = 0.0
            for lprobs, (inp, tgt, n) in zip(self._log_probs([w[0] for w in windows]), windows):
                tail = lprobs[-n:]
                total += tail.gather(-1, torch.tensor(tgt).unsqueeze(-1)).sum().item()
            results.append(total)
        return results

    # -- generation ----------------------------------------------------------------------
    def generate_until(self, requests) -> List[str]:
        outputs = []
        eos = self.dictionary.eos()
        for req in requests:
            context, gen_kwargs = req.args
            until = gen_kwargs.get("until", []) if isinstance(gen_kwargs, dict) else []
            if isinstance(until, str):
                until = [until]
            max_new = int(gen_kwargs.get("max_gen_toks", self.max_gen_toks)) if isinstance(gen_kwargs, dict) \
                else self.max_gen_toks
            tokens = ([eos] + self.tok_encode(context))[-self.max_length:]
            state = {}
            generated: List[int] = []
            with torch.no_grad():
                ids = torch.tensor([tokens], device=self.device_name)
                # feed the prompt token by token through the incremental state, then decode greedily
                for t in range(len(tokens)):
                    logits = self.model.decoder(ids[:, : t + 1], incremental_state=state)[0][:, -1]
                for _ in range(max_new):
                    nxt = int(logits.argmax(-1))
                    if nxt == eos:
                        break
                    generated.append(nxt)
                    text = self.tok_decode(generated)
                    if any(u and u in text for u in until):
                        break
                    if ids.size(1) >= self.max_length:
                        break
                    ids = torch.cat([ids, torch.tensor([[nxt]], device=self.device_name)], dim=1)
                    logits = self.model.decoder(ids, incremental_state=state)[0][:, -1]
            text = self.tok_decode(generated)
            for u in until:
                if u and u in text:
                    text = text[: text.index(u)]
            outputs.append(text)
        return outputs
