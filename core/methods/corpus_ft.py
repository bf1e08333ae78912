"""Corpus fine-tuning: continued pre-training of LoRA adapters on the corpus passages, then closed-book.

"Teach it the documents", as people try it (the unsupervised fine-tuning of Ovadia et al., EMNLP 2024).
It uses no labelled examples, so one run serves every training-set size. Decoder LLMs only.
"""

from __future__ import annotations

from core.methods.base import MethodSpec
from core.methods.decoder.fits import fit_corpus_ft

SPEC = MethodSpec("corpus_ft", "Corpus fine-tuning (documents into the weights)", None, uses_training_data=False,
                  trains_network=True, decoder_fit=fit_corpus_ft, task_kinds=("classification", "qa"),
                  changes_base_weights=True,
                  shares_base_model=True)
