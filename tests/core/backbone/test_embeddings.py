import numpy as np

from core.backbone.embeddings import Embedder, EmbeddingCache, encode_texts

TEXTS = ["A short one.", "A much longer sentence about fortune cookies and what they say about us all.",
         "Murphy's law: anything that can go wrong will go wrong."]


def test_embeddings_match_sentence_transformers(base_model):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(base_model.path), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = encode_texts(base_model, TEXTS)
    assert ours.shape == reference.shape
    assert np.allclose((ours * reference).sum(axis=1), 1.0, atol=1e-3)  # same direction: same pooling


def test_embeddings_do_not_depend_on_how_texts_are_batched(base_model, monkeypatch):
    import dataclasses

    import core.backbone.batching as batching

    base = dataclasses.replace(base_model, precision="fp32")
    texts = TEXTS * 7  # 21 texts of three lengths
    monkeypatch.setitem(batching.INFERENCE_TOKENS, "cpu", None)  # batches of 64, as on a GPU
    whole = encode_texts(base, texts)
    monkeypatch.setitem(batching.INFERENCE_TOKENS, "cpu", 60)  # a few texts a call
    assert np.allclose(whole, encode_texts(base, texts), atol=1e-5)
    assert np.allclose(whole[0], whole[3], atol=1e-5)  # the same text in another batch: the same vector


def test_each_text_is_encoded_once_and_cache_hits_are_charged(base_model, tmp_path):
    cache_path = tmp_path / "emb.db"
    embedder = Embedder(base_model, EmbeddingCache(cache_path))
    embedder.calibrate(TEXTS)
    first = embedder.encode(TEXTS + TEXTS[:1])
    assert embedder.computed == 3
    assert embedder.charged_seconds == 0  # nothing came from the cache yet
    again = Embedder(base_model, EmbeddingCache(cache_path))  # a new process reads the same file
    again.seconds_per_text = 0.01
    assert np.allclose(again.encode(TEXTS[::-1]), first[:3][::-1])
    assert again.computed == 0 and again.charged_seconds == 0.03
    with again.uncached():
        again.encode(TEXTS)
    assert again.computed == 0  # bypass computes without touching the counters or the cache


def test_order_and_empty_input_are_kept(base_model, tmp_path):
    embedder = Embedder(base_model, EmbeddingCache(None))
    assert embedder.encode([]).shape == (0, 384)
    by_length = embedder.encode(sorted(TEXTS, key=len))
    assert np.allclose(by_length[0], embedder.encode([min(TEXTS, key=len)])[0], atol=1e-5)


def test_the_vectors_a_process_holds_can_be_shipped_to_another_and_seed_its_cache(tmp_path):
    from core.backbone.embeddings import EmbeddingCache

    here = EmbeddingCache(tmp_path / "here.db")
    vector = np.arange(4, dtype=np.float32)
    here.put("model-a", {b"k1": vector})
    here.put("model-b", {b"k2": vector * 2})
    shipped = here.held("model-a")
    assert list(shipped) == [b"k1"] and here.held("nobody") == {}
    there = EmbeddingCache(tmp_path / "there.db")  # another node's cache, seeded with what was shipped
    there.put("model-a", shipped)
    assert np.array_equal(there.get("model-a", [b"k1"])[b"k1"], vector)
