"""Decoder LLMs as a backbone: load (GGUF converted once), prompt, score, generate, fine-tune.

- `gguf`: the built-in SmolLM2 and any GGUF file, converted once to safetensors under ADAPTLAB_HOME.
- `prompts`: chat-template prompts (instruction, shots, passages, question) cut to fit the context.
- `lm`: batched log-likelihood of continuations and batched greedy generation (lm-evaluation-harness style).
- `sft`: supervised fine-tuning with the loss on the answer tokens only (LoRA, full, from scratch).
- `predictors`: what a fitted decoder method returns: label likelihoods, answers, option scores.
- `methods`: the decoder fit of each adaptation method (prompt, few-shot, RAG, LoRA, full, scratch...).
"""
