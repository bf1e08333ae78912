"""Corpus fine-tuning: continued pre-training of LoRA adapters on the corpus passages, then closed-book.

"Teach it the documents", as people try it (the unsupervised fine-tuning of Ovadia et al., EMNLP 2024).
It uses no labelled examples, so one run serves every training-set size. Decoder LLMs only.
"""

from __future__ import annotations

from core.methods.base import MethodSpec

SPEC = MethodSpec("corpus_ft", "Corpus fine-tuning (documents into the weights)", None, "#E377C2", uses_training_data=False,
                  trains_network=True, early_stops=True, decoder_fit="core.methods.decoder.fits:fit_corpus_ft", task_kinds=("classification", "qa"),
                  changes_base_weights=True,
                  shares_base_model=True, default_with_corpus=True, llm_learning_rate=1e-3, dash="dash")
