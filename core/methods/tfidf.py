"""Classical from-scratch reference: TF-IDF over word and character n-grams, logistic regression.

No pretrained knowledge at all, and cheap: the bar any adapted model has to clear to be worth it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.methods.base import FitContext, MethodSpec, in_label_order


@dataclass
class TfidfClassifier:
    pipeline: object
    num_labels: int
    trainable_parameters: int = 0
    total_parameters: int = 0
    details: dict = field(default_factory=dict)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return in_label_order(self.pipeline.predict_proba(texts), self.pipeline.classes_, self.num_labels)

    def save(self, folder: Path) -> None:
        import joblib

        joblib.dump(self.pipeline, folder / "tfidf.joblib")  # size measurement; never loaded from user paths


def fit(ctx: FitContext) -> TfidfClassifier:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        # char_wb n-grams carry subword signal: they are what lets TF-IDF read kaomoji or typos
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1),
    )
    classifier = LogisticRegression(max_iter=2000, C=ctx.hyper.get("C", 10.0), random_state=ctx.seed)
    pipeline = make_pipeline(features, classifier)
    pipeline.fit(ctx.train_texts, ctx.train_labels)
    head = pipeline[-1]
    parameters = head.coef_.size + head.intercept_.size
    vocabulary = sum(len(v.vocabulary_) for _, v in pipeline[0].transformer_list)
    return TfidfClassifier(pipeline, len(ctx.labels), parameters, parameters, details={"features": vocabulary})


# no backbone at all: the same classical baseline beside an encoder or a decoder
# the same fit on either backbone: it reads the texts, never the model
SPEC = MethodSpec("tfidf", "TF-IDF + logistic regression (classical)", colour="#A5A80F",
                  fits={"encoder": fit, "decoder": fit}, default_on=("encoder",), is_reference=True,
                  fit_time_per_example=True, search={"C": (1.0, 10.0, 100.0)})
