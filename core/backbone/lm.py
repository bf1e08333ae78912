"""The two requests every decoder answers, batched and sorted by length (lm-evaluation-harness's shape).

- `loglikelihoods(prompts, continuations)`: the summed log-probability of each continuation after its
  prompt. Labels and answer options are scored this way: nothing is parsed.
- `generate(prompts)`: greedy decoding with a KV cache, left padding, stopping at the end of the turn,
  at a line break or at `max_new_tokens`.

Sequences are left-padded with position ids taken from the attention mask, so a padded row computes
what it would alone; only the last positions' logits are materialised (`logits_to_keep`), which keeps a
49k-word vocabulary from costing gigabytes per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class LanguageModel:
    model: torch.nn.Module  # a causal LM, possibly wrapped by peft
    tokenizer: object
    device: torch.device
    autocast_dtype: torch.dtype | None
    batch_size: int = 16
    max_new_tokens: int = 16

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
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            batch = self._left_pad([prompt_ids[i] for i in chunk])
            with self._autocast():
                first = self.model(**batch, use_cache=True, logits_to_keep=1)
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
    def generate(self, prompts: list[str], batch_size: int | None = None) -> tuple[list[str], list[int]]:
        """Greedy answers (first line, stripped) and the number of tokens generated for each prompt."""
        self.model.eval()
        encoded = self.encode(prompts)
        order = np.argsort([-len(r) for r in encoded], kind="stable")
        answers, generated = [""] * len(prompts), [0] * len(prompts)
        size = batch_size or self.batch_size
        stops = self.stop_ids()
        for start in range(0, len(prompts), size):
            chunk = order[start:start + size]
            batch = self._left_pad([encoded[i] for i in chunk])
            batch.pop("position_ids")  # generate() derives positions from the attention mask itself
            with self._autocast():
                output = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False,
                                             eos_token_id=stops, pad_token_id=self.tokenizer.pad_token_id)
            new = output[:, batch["input_ids"].shape[1]:].cpu()
            for row, i in enumerate(chunk):
                tokens = new[row].tolist()
                ended = [k for k, t in enumerate(tokens) if t in stops]
                tokens = tokens[:ended[0]] if ended else tokens
                generated[i] = len(tokens) + (1 if ended else 0)
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                answers[i] = text.strip().split("\n")[0].strip()
        return answers, generated
