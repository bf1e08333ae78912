"""Sentence embeddings from the frozen base model, computed once per text and model, cached on disk.

Prompt-only, RAG and the linear probe all read these vectors; a grid of many runs over the same
data encodes each text once. The cache is an SQLite file keyed by (model fingerprint, text hash),
so it survives across experiments and processes.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from core.backbone.batching import padded_batches
from core.backbone.models import BaseModel


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """Vectors on disk, one row per (model, text). Thread-safe; safe across processes (WAL)."""

    @classmethod
    def shared(cls) -> EmbeddingCache:
        """The cache every grid on this machine shares, under ADAPTLAB_HOME."""
        from core.paths import adaptlab_home

        return cls(adaptlab_home() / "cache" / "embeddings.db")

    def __init__(self, path: Path | None):
        self.path = path
        self._memory: dict[tuple[str, bytes], np.ndarray] = {}
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS embeddings (model TEXT, text_key BLOB, vector BLOB, "
                           "PRIMARY KEY (model, text_key)) WITHOUT ROWID")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def get(self, model: str, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found = {k: self._memory[(model, k)] for k in keys if (model, k) in self._memory}
        missing = [k for k in keys if k not in found]
        if self.path is not None and missing:
            with self._lock, self._connect() as db:
                for start in range(0, len(missing), 900):  # SQLite caps bound parameters per query
                    chunk = missing[start:start + 900]
                    marks = ",".join("?" * len(chunk))
                    rows = db.execute("SELECT text_key, vector FROM embeddings WHERE model=? AND text_key IN "
                                      f"({marks})", [model, *chunk]).fetchall()
                    for key, blob in rows:
                        vector = np.frombuffer(blob, dtype=np.float32)
                        found[key] = self._memory[(model, key)] = vector
        return found

    def held(self, model: str) -> dict[bytes, np.ndarray]:
        """The vectors of one model this process holds in memory (what it computed or read): for shipping to
        another process, e.g. a Ray node (core/running/ray_grid.py)."""
        return {key: vector for (owner, key), vector in self._memory.items() if owner == model}

    def put(self, model: str, vectors: dict[bytes, np.ndarray]) -> None:
        for key, vector in vectors.items():
            self._memory[(model, key)] = vector
        if self.path is not None and vectors:
            with self._lock, self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                               [(model, k, v.astype(np.float32).tobytes()) for k, v in vectors.items()])


def _pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "last":  # left padding puts every sequence's last token at the end
        return hidden[:, -1]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


@torch.inference_mode()
def encode_texts(base: BaseModel, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, in input order. Batches are texts of similar token length (core.backbone.batching):
    little padding, and on the CPU calls small enough to stay in cache."""
    if not texts:
        return np.zeros((0, base.config.hidden_size), dtype=np.float32)
    model, tokenizer = base.encoder(), base.tokenizer
    framed = [base.profile.prompt_template.format(text=t) for t in texts]
    out = np.empty((len(texts), base.config.hidden_size), dtype=np.float32)
    for idx, batch in padded_batches(tokenizer, framed, base.max_length, batch_size, base.device):
        with torch.autocast(base.device.type, dtype=base.autocast_dtype, enabled=base.autocast_dtype is not None):
            hidden = model(**batch).last_hidden_state
        pooled = _pool(hidden, batch["attention_mask"], base.profile.pooling).float()
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        out[idx] = pooled.cpu().numpy()
    return out


class Embedder:
    """encode(texts) with the cache in front: only texts never seen with this model are computed.

    A cache hit is not free in a real deployment, so each one is charged at the measured encoding
    cost per text (`charged_seconds`): a run's train time stays honest however warm the cache is.
    """

    def __init__(self, base: BaseModel, cache: EmbeddingCache, batch_size: int = 64):
        self.base, self.cache, self.batch_size = base, cache, batch_size
        self.computed = 0  # texts actually run through the model
        self.seconds_per_text = 0.0
        self.charged_seconds = 0.0
        self._bypass = False

    def calibrate(self, texts: list[str]) -> float:
        """Measure the encoding cost per text on a sample, bypassing the cache."""
        sample = texts[:128]
        encode_texts(self.base, sample[:8], self.batch_size)  # first call pays one-off set-up; not a cost per text
        started = time.perf_counter()
        encode_texts(self.base, sample, self.batch_size)
        self.seconds_per_text = (time.perf_counter() - started) / max(1, len(sample))
        return self.seconds_per_text

    @contextmanager
    def uncached(self):
        """Inside this block every encode runs the model: for latency measurements."""
        self._bypass = True
        try:
            yield self
        finally:
            self._bypass = False

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._bypass:
            return encode_texts(self.base, texts, self.batch_size)
        keys = [_text_key(t) for t in texts]
        found = self.cache.get(self.base.fingerprint, list(dict.fromkeys(keys)))
        self.charged_seconds += sum(1 for k in keys if k in found) * self.seconds_per_text
        todo = {k: t for k, t in zip(keys, texts) if k not in found}
        if todo:
            vectors = encode_texts(self.base, list(todo.values()), self.batch_size)
            fresh = dict(zip(todo.keys(), vectors))
            self.cache.put(self.base.fingerprint, fresh)
            found.update(fresh)
            self.computed += len(todo)
        if not keys:
            return np.zeros((0, self.base.config.hidden_size), np.float32)
        return np.stack([found[k] for k in keys])
