"""Greedy decoding that stops each row when its answer is complete, and stops computing it.

`model.generate` keeps every row of a batch in every step until the last row ends: a row that wrote its
end-of-turn token at step 3 is still run, as padding, through step 16. Here a row leaves the batch (its
KV cache rows, mask and position with it) as soon as it ends: at a stop token, or, where only the first
line of the reply is read, at the line break that closes that line. The tokens a row writes before it
leaves are exactly `generate`'s greedy tokens (argmax of the same logits), so the answers are the same.
"""

from __future__ import annotations

import torch


def line_break_tokens(tokenizer) -> frozenset[int]:
    """The ids whose text holds a line break (decoded once for the whole vocabulary)."""
    ids = list(range(len(tokenizer)))
    texts = tokenizer.batch_decode([[i] for i in ids])
    return frozenset(i for i, text in zip(ids, texts) if "\n" in text)


def first_line_closed(tokenizer, tokens: list[int]) -> bool:
    """Whether the reply so far already holds its whole first line (the answer read back is
    `reply.strip().split("\\n")[0]`: a line break after some text settles it; a leading one does not)."""
    return "\n" in tokenizer.decode(tokens, skip_special_tokens=True).strip()


def greedy(lm, batch: dict, extra: dict, max_new_tokens: int, stops: set[int],
           line_breaks: frozenset[int] | None) -> list[list[int]]:
    """Each row's greedy tokens, its stop token included where it wrote one.

    batch: left-padded input_ids, attention_mask and position_ids (positions from the mask); extra: the
    shared start's cache under the model's cache argument, if any. line_breaks: stop a row at the line
    break that closes its first line (None: run to a stop token or max_new_tokens)."""
    model, argument = lm.model, lm._cache_argument()
    with lm._autocast():
        out = model(**batch, use_cache=True, logits_to_keep=1, **extra)
    cache = getattr(out, "cache", None) or out.past_key_values
    mask, positions = batch["attention_mask"], batch["position_ids"][:, -1:]
    alive = list(range(mask.shape[0]))  # the batch rows still writing, in the order the cache holds them
    tokens: list[list[int]] = [[] for _ in alive]
    for step in range(max_new_tokens):
        chosen = out.logits[:, -1].argmax(-1)
        kept = []
        for slot, (row, token) in enumerate(zip(alive, chosen.tolist())):
            tokens[row].append(token)
            ended = token in stops or (line_breaks is not None and token in line_breaks
                                       and first_line_closed(lm.tokenizer, tokens[row]))
            if not ended:
                kept.append(slot)
        if not kept or step == max_new_tokens - 1:
            break
        if len(kept) < len(alive):  # finished rows leave: the next steps compute only the rows still writing
            index = torch.as_tensor(kept, device=mask.device)
            cache.batch_select_indices(index)
            mask, positions, chosen = mask[index], positions[index], chosen[index]
            alive = [alive[k] for k in kept]
        mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
        positions = positions + 1
        with lm._autocast():
            out = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=positions, use_cache=True,
                        **{argument: cache})
    return tokens
