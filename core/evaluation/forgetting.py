"""Forgetting: how much of a general ability of the base model a fine-tune lost, measured, not assumed.

A probe is a list of (query, target) text pairs unrelated to the task. The encoder embeds both sides
(mean pooling of its last hidden layer); recall@1 is the share of queries whose nearest target is
their own. The base model's recall minus the adapted model's recall is what fine-tuning cost.

Probes, from pycountry:
- `countries`: a country's official name to its common name ("Republic of Angola" -> "Angola").
- `languages`: a language's name to its inverted name ("Eastern Abnaki" -> "Abnaki, Eastern"), for
  tasks about countries themselves (geo-knowledge), where the countries probe would be the task.
"""

from __future__ import annotations

import numpy as np
import torch

from core.backbone.batching import padded_batches

PROBE_SIZE = 300  # pairs per probe: enough for a stable recall, cheap on a CPU


def country_pairs() -> list[tuple[str, str]]:
    import pycountry

    pairs = [(c.official_name, c.name) for c in pycountry.countries
             if getattr(c, "official_name", None) and c.official_name != c.name]
    return sorted(pairs)[:PROBE_SIZE]


def language_pairs() -> list[tuple[str, str]]:
    import pycountry

    pairs = sorted((l.name, l.inverted_name) for l in pycountry.languages
                   if getattr(l, "inverted_name", None) and l.inverted_name != l.name)
    keep = np.random.default_rng(0).choice(len(pairs), min(PROBE_SIZE, len(pairs)), replace=False)
    return [pairs[i] for i in sorted(keep)]


PROBES = {"countries": country_pairs, "languages": language_pairs}


def choose_probe(setting: str, avoid: set[str]) -> str | None:
    """The probe for a task: as configured, or (auto) the first not related to the task."""
    if setting == "off":
        return None
    if setting != "auto":
        return setting
    return next((name for name in PROBES if name not in avoid), None)


@torch.inference_mode()
def hidden_embeddings(model: torch.nn.Module, tokenizer, texts: list[str], device: torch.device,
                      max_length: int, batch_size: int = 64) -> np.ndarray:
    """Unit vectors from the last hidden layer of any transformers model (plain, classifier, or peft)."""
    model.eval()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    for idx, batch in padded_batches(tokenizer, texts, max_length, batch_size, device):  # similar lengths together
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1].float()
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out[idx] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
    return out


def forgetting_scores(fitted, base, probe: str, baseline: dict) -> dict:
    """Probe recall of the base encoder (computed once, kept in `baseline`) and of the adapted one."""
    pairs = PROBES[probe]()
    if probe not in baseline:
        baseline[probe] = probe_hits(base.encoder(), base.tokenizer, pairs, base.device, base.max_length)
    base_hits = baseline[probe]
    adapted_hits = probe_hits(fitted.model, base.tokenizer, pairs, base.device, base.max_length)
    return {"probe": probe, "pairs": len(pairs), "base_recall": float(base_hits.mean()),
            "adapted_recall": float(adapted_hits.mean()), "recall_lost": float(base_hits.mean() - adapted_hits.mean()),
            # which pairs each model got right ("0110..."), so a reader can put an interval on the loss:
            # core.results.forgetting pairs them, pair by pair and seed by seed
            "base_hits": hits_text(base_hits), "adapted_hits": hits_text(adapted_hits)}


def hits_text(hits: np.ndarray) -> str:
    return "".join("1" if hit else "0" for hit in hits)


def recall_at_1(queries: np.ndarray, targets: np.ndarray) -> float:
    return float(nearest_is_own(queries, targets).mean())


def nearest_is_own(queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per query, whether its nearest target (cosine; unit vectors) is its own: recall@1's hits."""
    return (queries @ targets.T).argmax(axis=1) == np.arange(len(queries))


def probe_hits(model: torch.nn.Module, tokenizer, pairs: list[tuple[str, str]], device: torch.device,
               max_length: int) -> np.ndarray:
    queries = hidden_embeddings(model, tokenizer, [q for q, _ in pairs], device, max_length)
    targets = hidden_embeddings(model, tokenizer, [t for _, t in pairs], device, max_length)
    return nearest_is_own(queries, targets)


def probe_recall(model: torch.nn.Module, tokenizer, pairs: list[tuple[str, str]], device: torch.device,
                 max_length: int) -> float:
    return float(probe_hits(model, tokenizer, pairs, device, max_length).mean())
