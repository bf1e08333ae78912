"""The README.md of an exported option: a Hugging Face model card (YAML header: base model, library, task,
metrics) whose body states the evidence the option was chosen on (core/results/artifact_export.py writes it)."""

from __future__ import annotations

from importlib import metadata

import pandas as pd
import yaml

from core.paths import now
from core.results.text import markdown_text


def model_card(experiment: dict, runs: pd.DataFrame, run: pd.Series, option: str, settings: dict, library: str,
               merged: bool, verdict: str | None) -> str:
    summary, headline = _evidence(experiment, runs, verdict)
    row = summary[(summary.method == run.method) & (summary["size"] == run["size"])].iloc[0]
    return "\n".join([_header(experiment, row, settings, library), *_body(experiment, summary, row, run, option,
                                                                           settings, merged, headline)])


def _evidence(experiment: dict, runs: pd.DataFrame, verdict: str | None) -> tuple[pd.DataFrame, str]:
    """The results table and the decision report's verdict (under default constraints unless one is given)."""
    from core.methods import DEFAULT_REFERENCE
    from core.results.analysis import analyse
    from core.results.recommendation import recommend
    from core.results.text import quality_name

    config = experiment["config"]
    summary = analyse(runs, experiment["test_labels"], config.get("reference", DEFAULT_REFERENCE)).summary
    if verdict is None:
        kind = (experiment.get("task") or {}).get("kind", "classification")
        choice = recommend(summary, None, config.get("size_unit", "per_class"), quality_name(kind), runs=runs,
                           test_labels=experiment["test_labels"])
        verdict = f"{choice.headline} (under default constraints: no accuracy floor, budget or latency limit)"
    return summary, verdict


def _header(experiment: dict, row: pd.Series, settings: dict, library: str) -> str:
    metrics = [{"type": "accuracy", "value": round(float(row.accuracy), 4),
                "name": f"accuracy (mean over {int(row.seeds)} seed(s); 95% interval "
                        f"{row.accuracy_low:.3f}-{row.accuracy_high:.3f})"},
               {"type": "f1", "value": round(float(row.macro_f1), 4), "name": "macro-F1",
                "args": {"average": "macro"}}]
    header = {"base_model": settings["base_model_name"], "library_name": library,
              "pipeline_tag": "text-generation" if "prompt" in settings else "text-classification",
              "tags": ["adaptlab", settings["method"]],
              "model-index": [{"name": f"{experiment['name']}-{settings['method']}@{settings['size']}",
                               "results": [{"task": {"type": "text-classification"},
                                            "dataset": {"name": _task_name(experiment), "type": "custom"},
                                            "metrics": metrics}]}]}
    return f"---\n{yaml.safe_dump(header, sort_keys=False, allow_unicode=True)}---\n"


def _body(experiment: dict, summary: pd.DataFrame, row: pd.Series, run: pd.Series, option: str, settings: dict,
          merged: bool, headline: str) -> list[str]:
    record = run.record if isinstance(run.record, dict) else {}
    lines = [f"# {markdown_text(experiment['name'])}: {option}", "",
             f"Exported by adaptlab {_version()} on {now()} from experiment **{markdown_text(experiment['name'])}**, "
             f"run `{run.run_key}` (seed {int(run.seed)}): of the option's {int(row.seeds)} seed(s), the one whose "
             "accuracy is closest to the option's mean, so these weights are typical of the evidence below.", "",
             "## Evidence", "",
             f"- **Task**: {markdown_text(_task_name(experiment))}, {len(settings['labels'])} labels "
             f"({markdown_text(', '.join(settings['labels']))}); {_sizes(experiment)}",
             f"- **Training data**: {settings['size_in_words']} ({int(record.get('train_examples', 0))} labelled "
             f"examples, {int(record.get('validation_examples', 0))} of them for early stopping where it applies)",
             f"- **Accuracy on the test set**: {row.accuracy:.3f} (95% interval {row.accuracy_low:.3f}-"
             f"{row.accuracy_high:.3f} over test examples and {int(row.seeds)} seed(s)); macro-F1 {row.macro_f1:.3f}; "
             f"this run: {float(run.accuracy):.3f}",
             f"- **Costs** (mean over seeds, on {markdown_text(str(settings.get('device') or 'the experiment device'))}"
             f"): {_costs(row)}",
             f"- **Decision report's verdict**: {markdown_text(headline)}", "",
             "## Compared with", "", "| option | accuracy (95% interval) | seeds | train seconds |",
             "|---|---|---|---|"]
    for other in summary.itertuples():
        name = f"{other.method}@{other.size}"
        shown = f"**{name}** (exported)" if name == option else name
        lines.append(f"| {shown} | {other.accuracy:.3f} ({other.accuracy_low:.3f}-{other.accuracy_high:.3f}) | "
                     f"{int(other.seeds)} | {_number(getattr(other, 'train_seconds', None), '{:.1f}')} |")
    return lines + ["", *_how_to_load(settings, merged)]


def _how_to_load(settings: dict, merged: bool) -> list[str]:
    if "prompt" in settings:  # an LLM option (core/results/decoder_export.py)
        return _how_to_load_llm(settings, merged)
    method = settings["method"]
    direct = {
        "lora": ["from peft import PeftModel", "from transformers import AutoModelForSequenceClassification",
                 f"base = AutoModelForSequenceClassification.from_pretrained(\"{settings['base_model_name']}\", "
                 f"num_labels={len(settings['labels'])})", "model = PeftModel.from_pretrained(base, \"THIS_FOLDER\")"],
        "full": ["from transformers import pipeline",
                 "classify = pipeline(\"text-classification\", model=\"THIS_FOLDER\")"],
        "probe": ["from sentence_transformers import SentenceTransformer",
                  f"encoder = SentenceTransformer(\"{settings['base_model_name']}\"); "
                  f"encoder.max_seq_length = {settings['max_length']}",
                  "# probe.npz: coef, intercept, classes of a scikit-learn LogisticRegression on the unit-length "
                  "embeddings"],
        "prompt": ["from sentence_transformers import SentenceTransformer",
                   f"encoder = SentenceTransformer(\"{settings['base_model_name']}\"); encoder.max_seq_length = "
                   f"{settings['max_length']}",
                   "# prompts.txt: each label's text; label_vectors.npy: their embeddings (the nearest label wins)"],
        "setfit": ["from sentence_transformers import SentenceTransformer",
                   f"encoder = SentenceTransformer(\"THIS_FOLDER/body\"); encoder.max_seq_length = "
                   f"{settings['max_length']}",
                   "# head.npz: coef, intercept, classes of a scikit-learn LogisticRegression on its embeddings"],
        "tfidf": ["import joblib", "pipeline = joblib.load(\"THIS_FOLDER/tfidf.joblib\")  # a scikit-learn Pipeline; "
                  "predict() gives label indices"],
    }
    if "retrieval" in settings:  # RAG: its entries vote
        retrieval = settings["retrieval"]
        direct["rag"] = ["import faiss, numpy as np", "from sentence_transformers import SentenceTransformer",
                         f"encoder = SentenceTransformer(\"{settings['base_model_name']}\"); "
                         f"encoder.max_seq_length = {settings['max_length']}",
                         "index, votes = faiss.read_index(\"THIS_FOLDER/index.faiss\"), "
                         "np.load(\"THIS_FOLDER/votes.npy\")",
                         f"# the {retrieval['k']} nearest of the {retrieval['entries']} entries (entries.jsonl, line i "
                         "is row i) vote with their row of votes.npy, weighted by softmax(cosine similarity / "
                         f"{retrieval['vote_temperature']})"]
    direct["scratch"] = direct["full"]
    lines = ["## How to load it", "",
             "`load.py` in this folder loads it with the library alone (no adaptlab) and predicts as adaptlab did "
             f"(inputs truncated at {settings['max_length']} tokens, labels in the order of `adaptlab.json`): "
             "`python load.py \"a text\"`, or `from load import predict`. In short:", "", "```python",
             *direct[method], "```"]
    if merged:
        lines += ["", "`merged/` is the adapter merged into its base model: a plain transformers folder "
                  "(`pipeline(\"text-classification\", model=\"THIS_FOLDER/merged\")`)."]
    return lines


def _how_to_load_llm(settings: dict, merged: bool) -> list[str]:
    """An LLM option: its weights, how it was asked (adaptlab.json) and, for RAG, where its passages are."""
    base = settings["base_model_name"]
    weights = {"adapter": ["from peft import PeftModel", "from transformers import AutoModelForCausalLM",
                           f"base = AutoModelForCausalLM.from_pretrained(\"{base}\")",
                           "model = PeftModel.from_pretrained(base, \"THIS_FOLDER\")"],
               "model": ["from transformers import AutoModelForCausalLM",
                         "model = AutoModelForCausalLM.from_pretrained(\"THIS_FOLDER\")"],
               "base": ["from transformers import AutoModelForCausalLM",
                        f"model = AutoModelForCausalLM.from_pretrained(\"{base}\")  # the base model, unchanged"]}
    prompt, generation = settings["prompt"], settings["generation"]
    layout = "the tokenizer's chat template" if prompt["chat"] else "a plain Question/Answer layout"
    chosen = settings.get("shot_selection")
    shots = (f"the instruction in `adaptlab.json`'s `prompt` and each question's {chosen['count']} nearest training "
             f"examples of the {len(prompt['shot_pool'])} in its `shot_pool` (cosine similarity of "
             f"`{chosen['encoder_name']}` embeddings, searched in `shots.faiss`; the nearest last)" if chosen else
             f"the instruction and {len(prompt['shots'])} shot(s) in `adaptlab.json`'s `prompt`")
    asked = (f"The prompt ({layout}): {shots}, questions cut to "
             f"{prompt['max_input_tokens']} tokens, the whole prompt to {prompt['budget']} (passages go first, then "
             f"the oldest shots). Answers: greedy, at most {generation['max_new_tokens']} new tokens, stopped at the "
             "end of the turn; " + ("a label is the one whose words are most likely after the prompt."
                                     if settings["kind"] == "classification" else "the reply's first line."))
    lines = ["## How to load it", "",
             "`load.py` in this folder loads it with the libraries alone (no adaptlab) and answers as adaptlab did: "
             "`python load.py \"a question\"`, or `from load import predict`. In short:", "", "```python",
             *weights[settings["weights"]], "```", "", asked]
    retrieval = settings.get("retrieval")
    if retrieval:
        found = {"dense": "`index.faiss` (FAISS, inner product over unit vectors) embedded with "
                          f"`{retrieval['encoder_name']}` (sentence-transformers, mean pooling, "
                          f"{retrieval['encoder_max_length']} tokens)",
                 "bm25": "BM25 over `bm25/` (bm25s's arrays and vocabulary; English stopwords, Snowball stems)"}
        kinds = [found["dense"], found["bm25"]] if retrieval["kind"] == "hybrid" else [found[retrieval["kind"]]]
        lines += ["", f"Retrieval: the top {retrieval['k']} of the {retrieval['passages']} passages in "
                  f"`passages.jsonl` (line i is the index's row i) by {' and by '.join(kinds)}"
                  + (f", fused by reciprocal rank (1/({retrieval['fusion_constant']} + rank) over each one's top "
                     f"{retrieval['fusion_depth']}k)" if retrieval["kind"] == "hybrid" else "")
                  + (f", then reranked by the cross-encoder `{retrieval['reranker']['name']}` in `reranker/` (the "
                     f"first stage's top {retrieval['reranker']['width']}k rescored, the best k kept)"
                     if retrieval.get("reranker") else "")
                  + "; they open the question's turn, most relevant first."]
    if settings.get("precision") == "bf16":
        held = ("its weights in fp32" if settings["weights"] == "model" else
                "the base model's linear layers in 4 bits (NF4), its other weights and the adapter's in fp32"
                if settings.get("quantization") else
                "the base model's weights in bf16" + (" (the adapter's in fp32)" if settings["weights"] == "adapter"
                                                       else ""))
        lines += ["", f"Precision: the run computed in bf16, {held}, every forward pass under bf16 autocast; "
                  "`load.py` does the same (in fp32 the answers can differ slightly)."]
    if settings.get("quantization"):
        lines += ["", "QLoRA: the adapter answers over the base loaded in 4 bits, as the run loaded it "
                  "(`BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\", "
                  "bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)` as `quantization_config`), "
                  "which needs a CUDA GPU and bitsandbytes; without them `load.py` says so in one sentence."]
    if settings.get("loaded_from"):
        lines += ["", f"The base model was loaded from {settings['loaded_from']}."]
    if merged:
        lines += ["", "`merged/` is the adapter merged into its base model: a plain transformers folder "
                  "(`AutoModelForCausalLM.from_pretrained(\"THIS_FOLDER/merged\")`)."]
    return lines


def _costs(row: pd.Series) -> str:
    parts = [("training", row.get("train_seconds"), "{:.1f} s"), ("training cost", row.get("train_dollars"), "${:.4f}"),
             ("inference", row.get("inference_seconds_per_1k"), "{:.2f} s per 1,000 queries"),
             ("latency p50", row.get("latency_p50_ms"), "{:.1f} ms"),
             ("peak memory", row.get("peak_memory_mb"), "{:.0f} MB"),
             ("stored", row.get("bytes_stored"), "{:,.0f} bytes")]
    return "; ".join(f"{name} {_number(value, form)}" for name, value, form in parts if pd.notna(value))


def _number(value, form: str) -> str:
    return form.format(value) if value is not None and pd.notna(value) else "?"


def _task_name(experiment: dict) -> str:
    task = experiment["config"].get("task") or {}
    return str(task.get("builtin") or task.get("path") or experiment["name"])


def _sizes(experiment: dict) -> str:
    """"130 train, 20 validation, 50 test examples" (the task's splits before any subset was drawn)."""
    rows = ((experiment.get("task") or {}).get("stats") or {}).get("rows") or {}
    shown = [f"{count:,} {split}" for split, count in rows.items() if isinstance(count, int)]
    return f"{', '.join(shown)} examples" if shown else f"{len(experiment['test_labels'])} test examples"


def _version() -> str:
    try:
        return metadata.version("adaptlab")
    except metadata.PackageNotFoundError:
        return "unknown"
