"""The knowledge update is fair: every method takes the new facts in the way it can, and what that costs is kept."""

from __future__ import annotations

from core.config import parse_config
from core.running.runner import run_experiment


def test_every_method_takes_new_facts_in_its_own_way_at_a_measured_cost():
    config = parse_config({"name": "geo-update", "task": {"builtin": "geo-knowledge", "builtin_options":
                                                          {"per_class": 40}},
                           "model": {"max_length": 32}, "methods": ["prompt", "rag", "probe", "tfidf"],
                           "sizes": [8], "seeds": [0]})
    runs = run_experiment(config).runs.set_index("method")
    update = {method: record["knowledge_update"] for method, record in runs.record.items()}
    assert update["prompt"]["updatable"] is False and update["prompt"]["update_seconds"] is None
    assert update["rag"]["how"] == "indexed the new documents"
    for method in ("probe", "tfidf"):  # learn from labelled examples: fitted again with the new documents
        assert update[method]["how"] == "fitted again with the new labelled documents"
        assert update[method]["update_seconds"] > 0 and update[method]["update_dollars"] >= 0
    assert update["tfidf"]["accuracy_after"] > update["tfidf"]["accuracy_before"]
    assert update["rag"]["accuracy_after"] > update["rag"]["accuracy_before"] + 0.1  # no retraining needed
    # the corpus covers half the test subdivisions: retrieval helps there, and cannot help on the rest
    coverage = {method: record["by_coverage"] for method, record in runs.record.items()}
    assert set(coverage["rag"]) == {"covered", "uncovered"}
    assert coverage["rag"]["covered"]["accuracy"] > coverage["rag"]["uncovered"]["accuracy"] + 0.2
    assert coverage["probe"]["covered"]["examples"] > 0 and coverage["probe"]["uncovered"]["examples"] > 0
