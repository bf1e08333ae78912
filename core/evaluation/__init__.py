"""Evaluation: metrics with intervals (metrics.py), the costs of a run (measure.py: time, memory, latency,
bytes, dollars), forgetting of encoders and LLMs, and the scoring of answered questions (qa.py)."""
