"""A tiny QA task for the known-facts tests on the tiny random Llama: twelve training, two validation and six test
questions about cities, written as a QA file."""

from __future__ import annotations

import json

CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Rome", "Doha", "Baku", "Riga", "Bern", "Kiev", "Nice", "Ufa"]


def qa_file(path, answers: dict[str, str] | None = None):
    """Twelve training, two validation and six test questions; answers: question -> answer, instead of the city."""
    answers = answers or {}
    rows = []
    for i, city in enumerate(CITIES + CITIES[:8]):
        split = "train" if i < 12 else "validation" if i < 14 else "test"
        question = f"Question {i} about {city}?"
        rows.append({"question": question, "answer": answers.get(question, city), "split": split})
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path
