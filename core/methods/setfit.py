"""SetFit: contrastive fine-tuning of the sentence encoder on pairs of the labelled examples, then a
logistic-regression head on the fine-tuned embeddings (the `setfit` package, Tunstall et al. 2022).

Pairs of examples with the same label are pulled together (target cosine 1), pairs with different labels
pushed apart (target 0), with SetFit's own defaults: "oversampling" pairs (as many positive as negative
pairs), batch 16, one epoch, body learning rate 2e-5. The pairs grow with the square of the training set,
so they are capped (MAX_PAIRS) and drawn from at most MAX_PAIR_TEXTS examples; the head still fits on all.
The whole body is fine-tuned, so a deployment stores a whole model (safetensors) plus the head (.npz).

torch, setfit, sentence-transformers and datasets load inside fit(): importing this module stays light.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.methods.base import FitContext, MethodSpec, in_label_order

BATCH_SIZE = 16  # SetFit's default for the contrastive phase
NUM_EPOCHS = 1  # SetFit's default
BODY_LEARNING_RATE = 2e-5  # SetFit's default
MAX_PAIRS = 4096  # at most 256 steps of 16 pairs: "all" on thousands of examples stays bounded
# setfit enumerates every pair of the texts it is given (n(n+1)/2 index pairs in memory) before it stops at
# MAX_PAIRS; 2000 texts is 2 million pairs (tens of MB), and more texts than that add nothing to 4096 pairs
MAX_PAIR_TEXTS = 2000
BODY_FOLDER = "body"  # the fine-tuned sentence-transformers model, model.safetensors and its configs
HEAD_FILE = "head.npz"


def oversampled_pairs(labels: np.ndarray) -> int:
    """How many pairs setfit's default "oversampling" builds: twice the larger of the positive and negative
    pair counts, over all pairs with replacement (a text with itself counts as a positive pair)."""
    counts = np.unique(labels, return_counts=True)[1].astype(np.int64)
    n = int(counts.sum())
    positive = int((counts * (counts + 1) // 2).sum())
    return 2 * max(positive, n * (n + 1) // 2 - positive)


def planned_steps(examples: int, config=None) -> int:
    """The contrastive steps of a run on this many examples with classes of about equal size (the estimate's)."""
    counts = np.full(5, examples // 5) if examples >= 5 else np.ones(max(examples, 1))
    return plan_pairs(np.repeat(np.arange(len(counts)), counts.astype(int)), 0)[1]


def plan_pairs(labels: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
    """(the examples pairs are drawn from, the contrastive steps). At most MAX_PAIR_TEXTS examples (drawn with
    the seed; the head still fits on all of them) and MAX_PAIRS pairs; below both, SetFit's own epoch."""
    rows = np.arange(len(labels))
    if len(rows) > MAX_PAIR_TEXTS:
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), MAX_PAIR_TEXTS, replace=False))
    pairs = min(oversampled_pairs(labels[rows]) * NUM_EPOCHS, MAX_PAIRS)
    return rows, math.ceil(pairs / BATCH_SIZE)


@dataclass
class SetFitClassifier:
    setfit_model: object  # setfit.SetFitModel: the fine-tuned body and a scikit-learn LogisticRegression head
    num_labels: int
    template: str = "{text}"
    batch_size: int = 64
    trainable_parameters: int = 0
    total_parameters: int = 0
    details: dict = field(default_factory=dict)

    @property
    def model(self):
        """The fine-tuned transformers model inside the body, as LoRA's and full's `model`: the forgetting probe
        (core/evaluation/forgetting.py) reads its hidden states."""
        return self.setfit_model.model_body[0].auto_model

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        head = self.setfit_model.model_head
        if not texts:
            return np.zeros((0, self.num_labels), dtype=np.float32)
        probs = self.setfit_model.predict_proba([self.template.format(text=t) for t in texts],
                                                batch_size=self.batch_size, as_numpy=True, show_progress_bar=False)
        return in_label_order(np.asarray(probs), head.classes_, self.num_labels)

    def save(self, folder: Path) -> None:
        # safetensors for the body; the head as arrays, not setfit's own joblib pickle (model_head.pkl)
        self.setfit_model.model_body.save(str(folder / BODY_FOLDER), create_model_card=False, safe_serialization=True)
        head = self.setfit_model.model_head
        np.savez(folder / HEAD_FILE, coef=head.coef_, intercept=head.intercept_, classes=head.classes_)


def _quiet() -> None:
    import datasets
    from setfit import logging as setfit_logging

    setfit_logging.set_verbosity_warning()  # setfit sets itself to info on import: "***** Running training *****"
    setfit_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def fit(ctx: FitContext) -> SetFitClassifier:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.linear_model import LogisticRegression
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    _quiet()
    started = time.perf_counter()
    budget = ctx.config.budget.max_train_seconds
    learning_rate = ctx.learning_rate("setfit")
    template = ctx.base.profile.prompt_template
    texts = [template.format(text=t) for t in ctx.train_texts]
    labels = np.asarray(ctx.train_labels, dtype=np.int64)

    pair_rows, max_steps = plan_pairs(labels, ctx.seed)
    if ctx.max_steps is not None:
        max_steps = min(max_steps, ctx.max_steps)

    # a fresh copy of the base weights (the shared frozen encoder is not touched), loaded from its folder only
    body = SentenceTransformer(str(ctx.base.path), device=str(ctx.base.device), local_files_only=True,
                               trust_remote_code=False, model_kwargs={"use_safetensors": True})
    body.max_seq_length = ctx.base.max_length
    model = SetFitModel(model_body=body, model_head=LogisticRegression(max_iter=1000, random_state=ctx.seed))

    state = {"loss": None, "stopped_by_budget": False}

    class Budget(TrainerCallback):
        def on_log(self, args, train_state, control, logs=None, **kwargs):
            losses = [value for key, value in (logs or {}).items() if key.endswith("loss")]
            if losses:
                state["loss"] = float(losses[0])

        def on_step_end(self, args, train_state, control, **kwargs):
            known = {"loss": state["loss"]} if state["loss"] is not None else {}  # logged every few steps
            ctx.progress(0.95 * train_state.global_step / max(1, train_state.max_steps),
                         {**known, "step": train_state.global_step})
            if time.perf_counter() - started > budget:
                state["stopped_by_budget"] = True
                control.should_training_stop = True

    with tempfile.TemporaryDirectory(prefix="adaptlab-setfit-") as scratch:
        args = TrainingArguments(output_dir=scratch, batch_size=BATCH_SIZE, num_epochs=NUM_EPOCHS,
                                 body_learning_rate=learning_rate, max_steps=max_steps, seed=ctx.seed,
                                 report_to="none", save_strategy="no", show_progress_bar=False)
        trainer = Trainer(model=model, args=args, callbacks=[Budget()],
                          train_dataset=Dataset.from_dict({"text": texts, "label": labels.tolist()}))
        for noisy in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(noisy)
        trainer.st_trainer.args.dataloader_pin_memory = ctx.base.device.type == "cuda"
        trainer.train_embeddings([texts[i] for i in pair_rows], labels[pair_rows].tolist(), args=args)
        contrastive_seconds = time.perf_counter() - started
        steps = int(trainer.st_trainer.state.global_step)
        pairs = len(trainer.st_trainer.train_dataset)
        trainer.train_classifier(texts, labels.tolist(), args=args)

    head = model.model_head
    body_parameters = sum(p.numel() for p in body.parameters())
    head_parameters = int(head.coef_.size + head.intercept_.size)
    seconds = time.perf_counter() - started
    ctx.progress(1.0, {**({"loss": state["loss"]} if state["loss"] is not None else {}), "step": steps})
    details = {"pairs": pairs, "pair_examples": len(pair_rows), "steps": steps, "epochs": NUM_EPOCHS,
               "batch_size": BATCH_SIZE, "body_learning_rate": learning_rate, "last_loss": state["loss"],
               "stopped_by_budget": state["stopped_by_budget"], "contrastive_seconds": round(contrastive_seconds, 2),
               "seconds": round(seconds, 2)}
    return SetFitClassifier(model, len(ctx.labels), template, ctx.config.training.eval_batch_size,
                            body_parameters + head_parameters, body_parameters + head_parameters, details)


SPEC = MethodSpec("setfit", "SetFit (contrastive fine-tuning, then a head)", colour="#2CA02C", fits={"encoder": fit},
                  learning_rates={"encoder": BODY_LEARNING_RATE}, trains_network=True,
                  changes_base_weights=True, stores_whole_model=True, steps=planned_steps,
                  search={"learning_rate_x": (0.5, 1.0, 2.0)})
