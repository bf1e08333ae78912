"""The two requests every decoder answers, batched and sorted by length (lm-evaluation-harness's shape).

- `loglikelihoods(prompts, continuations)`: the summed log-probability of each continuation after its
  prompt. Labels and answer options are scored this way: nothing is parsed.
- `generate(prompts)`: greedy decoding with a KV cache, left padding, stopping at the end of the turn,
  at a line break or at `max_new_tokens`.

Sequences are left-padded with position ids taken from the attention mask, so a padded row computes
what it would alone; only the last positions' logits are materialised (`logits_to_keep`), which keeps a
49k-word vocabulary from costing gigabytes per batch.

Prompts that start alike (the instruction, and a few-shot prompt's examples, are the same for every
query of a run) share that start: it runs once, its KV cache is repeated for each batch, and only each
prompt's own tokens run after it, padded between the shared start and their own (the positions still
follow the mask). A few-shot prompt of eight examples is mostly shared start.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from core.backbone.decoding import greedy, line_break_tokens
from core.cancel import check_cancelled

PREFIX_MIN_TOKENS = 16  # a shared start shorter than this runs with each prompt: not worth copying its cache


@dataclass
class LanguageModel:
    model: torch.nn.Module  # a causal LM, possibly wrapped by peft
    tokenizer: object
    device: torch.device
    autocast_dtype: torch.dtype | None
    batch_size: int = 16
    max_new_tokens: int = 16
    # per prompt of the last generate(): stopped by max_new_tokens before the answer ended (no end of turn, no line
    # break), so the Answers page counts it as cut off, not as an answer made up
    last_cut_off: list[bool] = field(default_factory=list, repr=False)
    _line_breaks: frozenset[int] | None = field(default=None, init=False, repr=False, compare=False)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None)

    def _left_pad(self, rows: list[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row):] = torch.as_tensor(row)
            mask[i, width - len(row):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device),
                "position_ids": positions.to(self.device)}

    @staticmethod
    def shared_prefix(rows: list[list[int]]) -> int:
        """How many leading tokens all rows share, each keeping at least one of its own (0 under
        PREFIX_MIN_TOKENS, or for a single row)."""
        if len(rows) < 2:
            return 0
        first, limit = rows[0], min(len(r) for r in rows) - 1
        shared = 0
        while shared < limit and all(r[shared] == first[shared] for r in rows):
            shared += 1
        return shared if shared >= PREFIX_MIN_TOKENS else 0

    def _prefix_cache(self, prefix: list[int]):
        """The KV cache of the shared start, computed once per call."""
        with self._autocast():
            out = self.model(input_ids=torch.as_tensor([prefix], device=self.device), use_cache=True, logits_to_keep=1)
        return getattr(out, "cache", None) or out.past_key_values

    def _with_prefix(self, batch: dict, prefix: list[int], cache) -> tuple[dict, object]:
        """A left-padded batch of prompts' own tokens placed after the shared start: the start's cache once per
        row, the mask over start and rows, positions continuing the start's."""
        rows = batch["input_ids"].shape[0]
        repeated = copy.deepcopy(cache)
        repeated.batch_repeat_interleave(rows)
        ones = torch.ones((rows, len(prefix)), dtype=batch["attention_mask"].dtype, device=self.device)
        return {"input_ids": batch["input_ids"], "attention_mask": torch.cat([ones, batch["attention_mask"]], 1),
                "position_ids": batch["position_ids"] + len(prefix)}, repeated

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    @torch.inference_mode()
    def loglikelihoods(self, prompts: list[str], continuations: list[str]) -> np.ndarray:
        """log P(continuation | prompt), summed over the continuation's tokens, for each pair."""
        self.model.eval()
        prompt_ids, cont_ids = self.encode(prompts), self.encode(continuations)
        rows = [p + c for p, c in zip(prompt_ids, cont_ids)]
        order = np.argsort([-len(r) for r in rows], kind="stable")  # longest first: a memory error shows at once
        out = np.zeros(len(rows), dtype=np.float64)
        for start in range(0, len(rows), self.batch_size):
            check_cancelled()  # a cancelled job stops before its next batch (core/cancel.py)
            chunk = order[start:start + self.batch_size]
            batch = self._left_pad([rows[i] for i in chunk])
            keep = max(len(cont_ids[i]) for i in chunk) + 1
            with self._autocast():
                logits = self.model(**batch, logits_to_keep=keep).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for row, i in enumerate(chunk):
                n = len(cont_ids[i])
                if n == 0:
                    continue
                # the logits at position t predict token t+1: the continuation's tokens are the last n
                predicted = logprobs[row, keep - 1 - n:keep - 1]
                target = torch.as_tensor(cont_ids[i], device=predicted.device)
                out[i] = predicted.gather(1, target[:, None]).sum().item()
        return out

    @torch.inference_mode()
    def choice_loglikelihoods(self, prompts: list[str], choices: list[list[str]]) -> list[np.ndarray]:
        """log P(choice | prompt) for every choice of every prompt, reading each prompt once.

        Labels and answer options share their prompt: the prompt runs once with a KV cache, the cache is
        repeated for the prompt's choices, and only the choices' tokens run again (L labels cost about one
        prompt pass instead of L). Equal to `loglikelihoods` on each (prompt, choice) pair."""
        self.model.eval()
        prompt_ids = self.encode(prompts)
        choice_ids = [self.encode(c) if c else [] for c in choices]
        out = [np.zeros(len(c), dtype=np.float64) for c in choices]
        order = [i for i in np.argsort([-len(r) for r in prompt_ids], kind="stable") if choices[i]]
        shared = self.shared_prefix([prompt_ids[i] for i in order])
        prefix = prompt_ids[order[0]][:shared] if shared else []
        prefix_cache = self._prefix_cache(prefix) if shared else None
        for start in range(0, len(order), self.batch_size):
            check_cancelled()
            chunk = order[start:start + self.batch_size]
            batch = self._left_pad([prompt_ids[i][shared:] for i in chunk])
            extra = {}
            if shared:
                batch, extra[self._cache_argument()] = self._with_prefix(batch, prefix, prefix_cache)
            with self._autocast():
                first = self.model(**batch, use_cache=True, logits_to_keep=1, **extra)
            cache = getattr(first, "cache", None) or first.past_key_values
            next_logprobs = torch.log_softmax(first.logits[:, -1].float(), -1)
            counts = [len(choice_ids[i]) for i in chunk]
            rows = [ids for i in chunk for ids in choice_ids[i]]
            owner = torch.as_tensor(np.repeat(np.arange(len(chunk)), counts), device=self.device)
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
            tail = torch.zeros((len(rows), width), dtype=torch.long)
            for r, row in enumerate(rows):
                ids[r, :len(row)] = torch.as_tensor(row)
                tail[r, :len(row)] = 1
            ids, tail = ids.to(self.device), tail.to(self.device)
            logprobs = next_logprobs[owner].gather(1, ids[:, :1]).squeeze(1)  # each choice's first token
            if width > 1:
                cache.batch_select_indices(owner)  # each prompt's cache once per choice (in place)
                mask = torch.cat([batch["attention_mask"][owner], tail[:, :-1]], dim=1)
                positions = batch["attention_mask"][owner].sum(1, keepdim=True) + torch.arange(width - 1,
                                                                                                device=self.device)
                with self._autocast():
                    logits = self.model(input_ids=ids[:, :-1], attention_mask=mask, position_ids=positions,
                                        use_cache=False, **{self._cache_argument(): cache}).logits.float()
                later = torch.log_softmax(logits, -1).gather(2, ids[:, 1:, None]).squeeze(2)
                logprobs = logprobs + (later * tail[:, 1:]).sum(1)
            position = 0
            for i, count in zip(chunk, counts):
                out[i][:] = logprobs[position:position + count].cpu().numpy()
                position += count
        return out

    def _cache_argument(self) -> str:
        """transformers renamed `past_key_values` to `cache` (5.2x); pass it under the name this version takes."""
        import inspect

        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def stop_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        for token in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            token_id = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != self.tokenizer.unk_token_id:
                ids.add(token_id)
        return sorted(i for i in ids if i is not None)

    @torch.inference_mode()
    def generate(self, prompts: list[str], batch_size: int | None = None,
                 first_line: bool = True, temperature: float = 0.0) -> tuple[list[str], list[int]]:
        """Greedy answers (first line, stripped; the whole reply with first_line=False, for replies that run over
        lines, such as a question and its answer) and the number of tokens generated for each prompt.

        Greedy rows stop as they finish (core/backbone/decoding.py): at a stop token, or at the line break that
        closes the first line when only that line is kept. temperature > 0 samples instead through `generate()`
        (the known-facts pass's samples; seed torch first for repeatable ones)."""
        self.model.eval()
        encoded = self.encode(prompts)
        order = np.argsort([-len(r) for r in encoded], kind="stable")
        answers, generated = [""] * len(prompts), [0] * len(prompts)
        cut_off = [False] * len(prompts)
        size = batch_size or self.batch_size
        stops = self.stop_ids()
        shared = self.shared_prefix(encoded)
        prefix = encoded[0][:shared] if shared else []
        prefix_cache = self._prefix_cache(prefix) if shared else None
        for start in range(0, len(prompts), size):
            check_cancelled()
            chunk = order[start:start + size]
            batch = self._left_pad([encoded[i][shared:] for i in chunk])
            extra = {}
            if shared:
                batch, extra[self._cache_argument()] = self._with_prefix(batch, prefix, prefix_cache)
            if temperature > 0:
                written = self._sampled(batch, prefix, extra, stops, temperature)
            else:
                written = greedy(self, batch, extra, self.max_new_tokens, set(stops),
                                 self.line_breaks() if first_line else None)
            for row, i in enumerate(chunk):
                tokens = written[row]
                ended = [k for k, t in enumerate(tokens) if t in stops]
                tokens = tokens[:ended[0]] if ended else tokens
                generated[i] = len(tokens) + (1 if ended else 0)
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                answers[i] = text.strip().split("\n")[0].strip() if first_line else text.strip()
                # a first line closed by its line break ended (greedy rows stop right at it: the break is the last
                # token, so it is looked for before the trailing whitespace is stripped, after the leading)
                cut_off[i] = not ended and not (first_line and "\n" in text.lstrip())
        self.last_cut_off = cut_off
        return answers, generated

    def line_breaks(self) -> frozenset[int]:
        """The tokenizer's ids that hold a line break, found once per model."""
        if self._line_breaks is None:
            self._line_breaks = line_break_tokens(self.tokenizer)
        return self._line_breaks

    def _sampled(self, batch: dict, prefix: list[int], extra: dict, stops: list[int],
                 temperature: float) -> list[list[int]]:
        """Sampled tokens per row through `generate()` (rows run to the longest; what follows a stop is padding)."""
        if prefix:  # the whole prompt goes in; generate() runs only what the start's cache does not hold
            start_ids = torch.as_tensor([prefix], device=self.device).expand(batch["input_ids"].shape[0], -1)
            batch = {**batch, "input_ids": torch.cat([start_ids, batch["input_ids"]], 1)}
        batch = {k: v for k, v in batch.items() if k != "position_ids"}  # generate() derives them from the mask
        with self._autocast():
            output = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, **_decoding(temperature),
                                         eos_token_id=stops, pad_token_id=self.tokenizer.pad_token_id, **extra)
        return output[:, batch["input_ids"].shape[1]:].cpu().tolist()


def _decoding(temperature: float) -> dict:
    """generate()'s decoding arguments: greedy, or plain sampling at a temperature (no top-k or top-p cut, whatever
    the model's generation config says, so the samples mean the same on every model)."""
    if temperature <= 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
