"""The `load.py` an exported option carries: a few lines that load it with its library alone and predict.

Each predicts exactly as adaptlab did: the same truncation (adaptlab.json's max_length), the same labels in the
same order, the same pooling for embeddings. tests/core/results/test_artifact_export.py runs each in a fresh
process, without adaptlab, and compares its predictions with the run's stored ones.
"""

from __future__ import annotations

HEADER = '''"""Load this exported option and predict: python load.py "a text" "another text"  (or import predict).

Uses its library alone (no adaptlab); adaptlab.json says what adaptlab did: labels in order, max_length."""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = json.loads((HERE / "adaptlab.json").read_text(encoding="utf-8"))
LABELS = SETTINGS["labels"]
'''

# a transformers sequence classifier, one text at a time (no padding), truncated at adaptlab's max_length
CLASSIFY = '''

def classify(tokenizer, model, texts):
    import torch

    predicted = []
    with torch.inference_mode():
        for text in texts:
            batch = tokenizer(text, truncation=True, max_length=SETTINGS["max_length"], return_tensors="pt")
            predicted.append(LABELS[int(model(**batch).logits.argmax(-1))])
    return predicted
'''

LOADERS = {
    "lora": '''

def load(merged=False, base=SETTINGS["base_model"]):
    """The adapter on its base model (peft), or with merged=True the merged model (transformers alone)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if merged:
        folder = HERE / "merged"
        return AutoTokenizer.from_pretrained(folder), AutoModelForSequenceClassification.from_pretrained(folder).eval()
    from peft import PeftModel

    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(LABELS))
    return AutoTokenizer.from_pretrained(HERE), PeftModel.from_pretrained(model, HERE).eval()


def predict(texts, merged=False):
    return classify(*load(merged), texts)
''' + CLASSIFY,
    "model": '''

def load():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoTokenizer.from_pretrained(HERE), AutoModelForSequenceClassification.from_pretrained(HERE).eval()


def predict(texts):
    return classify(*load(), texts)
''' + CLASSIFY,
    "probe": '''

def predict(texts, base=SETTINGS["base_model"]):
    """Mean-pooled, unit-length sentence embeddings of the base model, then the logistic regression."""
    import numpy as np
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    encoder = SentenceTransformer(base, device="cpu")
    encoder.max_seq_length = SETTINGS["max_length"]
    features = encoder.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
    weights = np.load(HERE / "probe.npz")
    probe = LogisticRegression()
    probe.coef_, probe.intercept_, probe.classes_ = weights["coef"], weights["intercept"], weights["classes"]
    return [LABELS[int(index)] for index in probe.predict(features)]
''',
    "prompt": '''

def predict(texts, base=SETTINGS["base_model"]):
    """Zero-shot: each text goes to the label whose text (prompts.txt, one a line, in label order) its unit-length
    mean-pooled embedding is closest to (label_vectors.npy holds those labels' embeddings)."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(base, device="cpu")
    encoder.max_seq_length = SETTINGS["max_length"]
    features = encoder.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
    similarities = features @ np.load(HERE / "label_vectors.npy").T
    return [LABELS[int(index)] for index in similarities.argmax(axis=1)]
''',
    "setfit": '''

def predict(texts):
    """SetFit's fine-tuned sentence-transformers body (its embeddings not normalised, as SetFit's), then the
    logistic-regression head stored as arrays in head.npz."""
    import numpy as np
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    encoder = SentenceTransformer(str(HERE / "body"), device="cpu")
    encoder.max_seq_length = SETTINGS["max_length"]
    features = encoder.encode(list(texts), convert_to_numpy=True)
    weights = np.load(HERE / "head.npz")
    head = LogisticRegression()
    head.coef_, head.intercept_, head.classes_ = weights["coef"], weights["intercept"], weights["classes"]
    return [LABELS[int(index)] for index in head.predict(features)]
''',
    "rag": '''

def predict(texts, base=SETTINGS["base_model"]):
    """RAG on a sentence encoder: the k nearest entries of index.faiss (inner product of unit-length mean-pooled
    embeddings) vote, entry i with row i of votes.npy (its label, or for an unlabelled document its zero-shot label
    distribution), weighted by softmax(similarity / vote_temperature); entries.jsonl holds their texts."""
    import faiss
    import numpy as np
    from sentence_transformers import SentenceTransformer

    retrieval = SETTINGS["retrieval"]
    encoder = SentenceTransformer(base, device="cpu")
    encoder.max_seq_length = SETTINGS["max_length"]
    features = encoder.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
    index, votes = faiss.read_index(str(HERE / "index.faiss")), np.load(HERE / "votes.npy")
    scores, ids = index.search(features, min(retrieval["k"], index.ntotal))
    weights = np.exp((scores - scores.max(axis=1, keepdims=True)) / retrieval["vote_temperature"])[..., None]
    valid = (ids >= 0)[..., None]  # an approximate index pads with -1 when it finds fewer than k
    tally = (votes[np.where(ids >= 0, ids, 0)] * weights * valid).sum(axis=1)
    totals = tally.sum(axis=1, keepdims=True)
    shares = np.where(totals > 0, tally / np.where(totals > 0, totals, 1), 1.0 / tally.shape[1])
    return [LABELS[int(index)] for index in shares.argmax(axis=1)]
''',
    "tfidf": '''

def predict(texts):
    """The scikit-learn pipeline (TF-IDF features, logistic regression). joblib files are pickles: load only
    ones you trust, such as this one you exported yourself."""
    import joblib

    pipeline = joblib.load(HERE / "tfidf.joblib")
    return [LABELS[int(index)] for index in pipeline.predict(list(texts))]
''',
}

MAIN = '''

if __name__ == "__main__":
    print(json.dumps(predict(sys.argv[1:])))
'''

KIND = {"lora": "lora", "full": "model", "scratch": "model", "probe": "probe", "setfit": "setfit", "prompt": "prompt",
        "tfidf": "tfidf", "rag": "rag"}


def loader(method: str) -> str:
    """The text of load.py for an exported option of `method`."""
    return HEADER + LOADERS[KIND[method]] + MAIN
