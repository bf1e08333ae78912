"""The backbone: the pretrained model a method adapts. models.py loads it safely (safetensors only, allowed
folders, no remote code) as a sentence encoder or a decoder LLM; architectures.py knows each family's layers;
embeddings.py encodes texts once and caches them; gguf.py converts the built-in GGUF LLM; lm.py scores and
generates with a decoder; prompts.py lays out its prompts within the context."""
