"""Training: the one fine-tuning loop of encoders (loop.py: budget, early stopping, length-grouped batches,
the out-of-memory fallback), supervised fine-tuning of decoders (sft.py), and throughput figures."""
