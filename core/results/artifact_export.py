"""The chosen option exported: what it takes to serve it, in the formats its tools load directly, with a model card.

    adaptlab export NAME --option lora@32 -o folder/ [--merged] [--force]

One run of the option is exported (the seed whose accuracy is closest to the option's mean over seeds), from the
artifacts the run kept (`keep_artifacts: true`). The folder holds the method's own files (a peft adapter, a
transformers folder, a scikit-learn model), `adaptlab.json` (what a loader must do as adaptlab did: labels in
order, max_length, the base model), `load.py` (a few lines using the library alone) and `README.md`, a Hugging
Face model card carrying the evidence (core/results/model_card.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.backbone.models import HUB_NAMES
from core.errors import AdaptlabError
from core.results import decoder_export, export_loaders
from core.task.sizes import size_label

# what each exportable method's folder holds, and the library that loads it (the card's library_name)
LIBRARIES = {"lora": "peft", "full": "transformers", "scratch": "transformers", "probe": "sentence-transformers",
             "setfit": "sentence-transformers", "prompt": "sentence-transformers", "tfidf": "sklearn",
             "rag": "sentence-transformers"}


@dataclass
class ExportedOption:
    folder: Path
    option: str  # "lora@32"
    run_key: str
    files: list[str]

    def summary(self) -> str:
        return f"exported {self.option} (run {self.run_key}) to {self.folder}: {', '.join(self.files)}"


def export_option(store, name: str, option: str, out: Path, merged: bool = False, force: bool = False,
                  verdict: str | None = None) -> ExportedOption:
    """Write the option's serving folder to `out`; every refusal is one sentence and leaves `out` as it was.

    verdict: the decision report's headline as the user saw it (the dashboard passes its own); None: the report's
    under default constraints."""
    check_folder(out, force)
    experiment = store.experiment(name)
    runs = store.runs_frame(name, with_predictions=True)
    method, size = parse_option(option, runs, name)
    run = chosen_run(runs, method, size)
    kept = kept_folder(run, option, name)
    decoder = (kept / "prompt.json").is_file()  # what an LLM's predictor saves (core/methods/decoder/predictors.py)
    if not decoder and method not in WRITERS:
        raise AdaptlabError(f"exporting {method} on a sentence encoder is not supported yet; the options that export "
                            f"there are those of {', '.join(WRITERS)}")
    if merged and decoder and method in decoder_export.QUANTISED:
        raise AdaptlabError(f"--merged is not offered for {option}: its adapter was trained on a 4-bit base, and "
                            "merging it into full-precision weights would not answer as the run did; export it "
                            "without --merged")
    if merged and method not in (decoder_export.ADAPTERS if decoder else ("lora",)):
        raise AdaptlabError(f"--merged merges a LoRA adapter into its base model; {option} is not a LoRA option")
    settings = serving_settings(experiment, run)
    if decoder:  # refusals (a similarity-chosen shot list, a reranker) come before anything is written
        settings = decoder_export.decoder_settings(experiment, run, kept, settings)
    elif method == "rag":
        settings["retrieval"] = encoder_retrieval(run)
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        (decoder_export.write_decoder if decoder else WRITERS[method])(kept, partial, settings, merged)
        (partial / "adaptlab.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False), encoding="utf-8")
        if not decoder:  # an LLM option's load.py is core/results/decoder_load.py, copied by write_decoder
            (partial / "load.py").write_text(export_loaders.loader(method), encoding="utf-8")
        from core.results.model_card import model_card

        library = ("peft" if settings["weights"] == "adapter" else "transformers") if decoder else LIBRARIES[method]
        card = model_card(experiment, runs, run, option, settings, library, merged, verdict)
        (partial / "README.md").write_text(card, encoding="utf-8")
        if out.exists():  # --force: the old folder goes only once the new one is complete
            shutil.rmtree(out)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    files = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    return ExportedOption(out, option, run.run_key, files)


def check_folder(out: Path, force: bool) -> None:
    """Refuse, before anything is read, a folder that exists (unless --force) or that has nowhere to go."""
    if out.exists() and not force:
        raise AdaptlabError(f"{out} already exists; add --force to replace it, or choose another folder with -o")
    if out.exists() and not out.is_dir():
        raise AdaptlabError(f"{out} is a file; give a folder to write the option into with -o")
    if not out.parent.is_dir():
        raise AdaptlabError(f"cannot write {out}: the folder {out.parent} does not exist; create it or choose "
                            "another -o")


def parse_option(option: str, runs: pd.DataFrame, name: str) -> tuple[str, str]:
    """("lora", "32") from "lora@32", refused in words unless the experiment has a finished run of it."""
    method, at, size = option.strip().partition("@")
    finished = runs[runs.status == "finished"] if not runs.empty else runs
    options = sorted({f"{m}@{s}" for m, s in zip(finished.get("method", []), finished.get("size", []))})
    if not at or not method or not size:
        raise AdaptlabError(f"--option {option!r}: give METHOD@SIZE as the results table names it, e.g. "
                            f"{options[0] if options else 'lora@32'}")
    if f"{method}@{size}" not in options:
        raise AdaptlabError(f"'{name}' has no finished run of {method}@{size}; its options are "
                            f"{', '.join(options) or 'none yet (run it first)'}")
    if method not in WRITERS and method not in decoder_export.METHODS:
        raise AdaptlabError(f"exporting {method} is not supported yet; the options that export are those of "
                            f"{', '.join(dict.fromkeys([*WRITERS, *decoder_export.METHODS]))}")
    return method, size


def chosen_run(runs: pd.DataFrame, method: str, size: str) -> pd.Series:
    """The option's representative run: the seed whose accuracy is closest to the option's mean over seeds (the
    lower seed on a tie), so the exported weights are typical of the evidence, not its luckiest draw."""
    cell = runs[(runs.method == method) & (runs["size"] == size) & (runs.status == "finished")]
    distance = (cell.accuracy - cell.accuracy.mean()).abs()
    return cell.assign(_distance=distance).sort_values(["_distance", "seed"]).iloc[0]


def kept_folder(run: pd.Series, option: str, name: str) -> Path:
    folder = (run.record or {}).get("artifacts") if isinstance(run.record, dict) else None
    if not folder:
        raise AdaptlabError(f"run {run.run_key} of '{name}' kept no weights (keep_artifacts was off when it ran), so "
                            f"{option} cannot be exported; run the config again with keep_artifacts: true under a new "
                            "experiment name (finished runs are not run again)")
    if not Path(folder).is_dir():
        raise AdaptlabError(f"the weights run {run.run_key} kept are gone from {folder}; run the config again with "
                            f"keep_artifacts: true under a new experiment name to export {option}")
    return Path(folder)


def serving_settings(experiment: dict, run: pd.Series) -> dict:
    """What a loader needs to predict as adaptlab did (written as adaptlab.json)."""
    from core.backbone.models import resolve_model

    config = experiment["config"]
    model = config.get("model") or {}
    name = model.get("name", "default")
    environment = (run.record or {}).get("environment") or {}
    return {"labels": list(experiment["labels"]), "max_length": int(model.get("max_length", 128)),
            "base_model": str(resolve_model(name)[1]), "base_model_name": HUB_NAMES.get(name, name),
            "method": run.method, "size": run["size"], "size_in_words": size_label(run["size"],
                                                                                 config.get("size_unit", "per_class")),
            "seed": int(run.seed), "run_key": run.run_key, "device": run.get("device") or environment.get("device")}


def _copy(kept: Path, out: Path, *names: str) -> None:
    for file in names:
        shutil.copy2(kept / file, out / file)


def _with_labels(folder: Path, labels: list[str]) -> None:
    """The label names in a transformers config, so a pipeline says "fortunes", not "LABEL_3"."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["id2label"] = {str(i): label for i, label in enumerate(labels)}
    config["label2id"] = {label: i for i, label in enumerate(labels)}
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def _tokenizer(base_path: str, out: Path, max_length: int) -> None:
    """The base model's tokenizer, truncating at the length adaptlab trained and predicted with."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_path, trust_remote_code=False)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(out)


def write_lora(kept: Path, out: Path, settings: dict, merged: bool) -> None:
    """The peft adapter as the run saved it (its classification head included); --merged: the merged model too."""
    from core.methods.lora import ADAPTER_WEIGHTS

    _copy(kept, out, "adapter_config.json", ADAPTER_WEIGHTS)
    adapter_config = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    adapter_config["base_model_name_or_path"] = settings["base_model"]
    (out / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2), encoding="utf-8")
    _tokenizer(settings["base_model"], out, settings["max_length"])
    if merged:
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification

        from core.backbone.models import _quiet_transformers

        _quiet_transformers()  # no load report for the classifier head the adapter brings
        base = AutoModelForSequenceClassification.from_pretrained(
            settings["base_model"], num_labels=len(settings["labels"]), use_safetensors=True, trust_remote_code=False)
        model = PeftModel.from_pretrained(base, out).merge_and_unload()
        model.save_pretrained(out / "merged", safe_serialization=True)
        _with_labels(out / "merged", settings["labels"])
        _tokenizer(settings["base_model"], out / "merged", settings["max_length"])


def write_model(kept: Path, out: Path, settings: dict, merged: bool) -> None:
    """Full fine-tuning and from scratch: a transformers folder (config, safetensors, tokenizer)."""
    _copy(kept, out, "config.json", *(path.name for path in kept.glob("*.safetensors")))
    _with_labels(out, settings["labels"])
    _tokenizer(settings["base_model"], out, settings["max_length"])


def write_probe(kept: Path, out: Path, settings: dict, merged: bool) -> None:
    _copy(kept, out, "probe.npz")


def write_prompt(kept: Path, out: Path, settings: dict, merged: bool) -> None:
    """Zero-shot on an encoder: each label's text (the exact prompt, one a line) and its unit-length embedding."""
    _copy(kept, out, "prompts.txt", "label_vectors.npy")


def write_setfit(kept: Path, out: Path, settings: dict, merged: bool) -> None:
    """The fine-tuned sentence-transformers body and its logistic-regression head as arrays (no pickle)."""
    from core.methods.setfit import BODY_FOLDER, HEAD_FILE

    shutil.copytree(kept / BODY_FOLDER, out / BODY_FOLDER)
    _copy(kept, out, HEAD_FILE)


def encoder_retrieval(run: pd.Series) -> dict:
    """How RAG on a sentence encoder voted (core/methods/rag.py): the k nearest entries of index.faiss, each voting
    with its row of votes.npy weighted by softmax(similarity / vote_temperature)."""
    from core.methods.rag import VOTE_TEMPERATURE

    details = (run.record or {}).get("details") or {}
    return {"k": int(details["k"]), "vote_temperature": VOTE_TEMPERATURE, "entries": int(details.get("entries", 0)),
            "sources": list(details.get("sources", []))}


def write_rag(kept: Path, out: Path, settings: dict, merged: bool) -> None:
    """The FAISS index, what each entry votes for, and the entries' texts (runs kept before they were saved have
    no entries.jsonl: the index and the votes alone predict)."""
    from core.methods.rag import ENTRIES_FILE

    _copy(kept, out, "index.faiss", "votes.npy", *([ENTRIES_FILE] if (kept / ENTRIES_FILE).is_file() else []))


def write_tfidf(kept: Path, out: Path, settings: dict, merged: bool) -> None:
    _copy(kept, out, "tfidf.joblib")


WRITERS = {"lora": write_lora, "full": write_model, "scratch": write_model, "probe": write_probe,
           "setfit": write_setfit, "prompt": write_prompt, "tfidf": write_tfidf, "rag": write_rag}


def exports_folder(name: str, option: str) -> Path:
    """Where the dashboard writes an option: ADAPTLAB_HOME/exports/NAME-METHOD-SIZE (never a path a browser typed,
    so a shared dashboard cannot be made to write anywhere else on the server)."""
    from core.paths import adaptlab_home

    folder = adaptlab_home() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{option.replace('@', '-')}".replace("/", "-")


def zipped(folder: Path) -> bytes:
    """The exported folder as one zip file, for a browser to download."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return buffer.getvalue()
