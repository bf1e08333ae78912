"""An option run on a decoder LLM, exported: its weights as transformers or peft load them, its prompt and its
retrieval as plain files, and core/results/decoder_load.py as its load.py.

    prompt, fewshot           the base model's name; the instruction and shots in adaptlab.json (similar shots: the
                              training pool there, shots.faiss the index each question's nearest are found in)
    lora, corpus_ft           a peft adapter folder (PeftModel.from_pretrained(base, folder)); --merged: merged/ too
    qlora                     the same on the base loaded in 4 bits (adaptlab.json's quantization: BitsAndBytesConfig)
    full, scratch             a transformers folder (AutoModelForCausalLM.from_pretrained(folder))
    rag, rag_bm25, rag_hybrid passages.jsonl (the chunk store), index.faiss and/or bm25/ (bm25s's arrays and
                              vocabulary), reranker/ (the cross-encoder, when rag.reranker named one)
    rag_lora                  both: the adapter and the retrieval files

Every folder holds the base model's tokenizer (its chat template included) and adaptlab.json: the prompt (instruction,
shots, layout, budgets), the generation settings (greedy, max_new_tokens, stop tokens) and, for RAG, the retriever
(the sentence encoder's name, k, how rankings are fused).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.errors import AdaptlabError

ADAPTERS = ("lora", "corpus_ft", "rag_lora")  # peft adapters on the frozen base (--merged merges them)
QUANTISED = ("qlora",)  # a peft adapter on the base quantised to 4 bits (core/methods/qlora.py), CUDA only
WHOLE = ("full", "scratch")  # every weight saved
PROMPTED = ("prompt", "fewshot", "rag", "rag_bm25", "rag_hybrid")  # the base as it is
METHODS = (*PROMPTED, *ADAPTERS, *QUANTISED, *WHOLE)
RERANKER_FOLDER = "reranker"  # the cross-encoder an option reranked with (rag.reranker), as sentence-transformers saves


def decoder_settings(experiment: dict, run, kept: Path, settings: dict) -> dict:
    """adaptlab.json for an LLM option: the encoder settings' names and labels, plus how it was asked and answered."""
    from core.backbone.lm import LanguageModel
    from core.backbone.prompts import PASSAGE_HEADER
    from core.backbone.retrieval import FUSION_DEPTH, RERANK_WIDTH, RRF_CONSTANT
    from core.methods.fewshot import SHOT_INDEX

    if run.method not in METHODS:
        raise AdaptlabError(f"exporting {run.method} on an LLM is not supported yet; the LLM options that export are "
                            f"those of {', '.join(METHODS)}")
    config, saved = experiment["config"], json.loads((kept / "prompt.json").read_text(encoding="utf-8"))
    if "shot_pool" in saved and not (kept / SHOT_INDEX).is_file():
        raise AdaptlabError(f"{run.method}@{run['size']} chose each question's shots by similarity and was kept before "
                            "runs saved the index it chose them with; run the config again under a new experiment "
                            "name to export it")
    record = run.record if isinstance(run.record, dict) else {}
    details, llm = record.get("details") or {}, config.get("llm") or {}
    tokenizer = _base_tokenizer(settings["base_model"])
    context = int(llm.get("context_length", 2048))
    new_tokens = int(llm.get("max_new_tokens", 32))
    settings.update(
        kind=(experiment.get("task") or {}).get("kind", "classification"),
        weights="adapter" if run.method in (*ADAPTERS, *QUANTISED) else "model" if run.method in WHOLE else "base",
        precision=(record.get("environment") or {}).get("precision", "fp32"),
        loaded_from=_loaded_from((config.get("model") or {}).get("name", "")),
        prompt={"instruction": saved["instruction"], "shots": saved["shots"], "chat": bool(tokenizer.chat_template),
                **({"shot_pool": saved["shot_pool"]} if "shot_pool" in saved else {}),
                "passage_header": PASSAGE_HEADER, "budget": context - new_tokens,
                "max_input_tokens": int((config.get("model") or {}).get("max_length", 128))},
        generation={"do_sample": False, "max_new_tokens": new_tokens,
                    "stop_token_ids": LanguageModel(None, tokenizer, None, None).stop_ids()})
    settings.pop("max_length")  # an encoder's truncation: here max_input_tokens and the budget say it
    if run.method in QUANTISED:  # how the base was loaded: load.py loads it the same way
        from core.methods.qlora import QUANTIZATION

        settings["quantization"] = dict(QUANTIZATION)
    if "shot_pool" in saved:  # llm.shot_selection: similar, each question's nearest training examples
        settings["shot_selection"] = {"count": int(saved["shot_count"]), **_encoder(llm)}
    dense, lexical = (kept / "index.faiss").is_file(), (kept / "bm25").is_dir()
    if dense or lexical:
        settings["retrieval"] = {
            "kind": "hybrid" if dense and lexical else "dense" if dense else "bm25", "k": int(details["k"]),
            "passages": int(details.get("passages_indexed", 0)), **_encoder(llm),
            "fusion_depth": FUSION_DEPTH, "fusion_constant": RRF_CONSTANT}
        if details.get("reranker"):  # a cross-encoder rescored the first stage's top (width x k): reranker/ holds it
            settings["retrieval"]["reranker"] = {"name": _hub_name(details["reranker"]), "folder": RERANKER_FOLDER,
                                                 "width": RERANK_WIDTH, "from": details["reranker"]}
    return settings


def _encoder(llm: dict) -> dict:
    """The retrieval encoder (llm.retriever) as sentence-transformers loads it: what RAG and similar shots embed
    with, mean-pooled, unit length, cut where adaptlab cut it."""
    from core.backbone.models import resolve_model
    from core.running.run import RETRIEVER_MAX_LENGTH

    encoder = llm.get("retriever", "default")
    return {"encoder": str(resolve_model(encoder)[1]), "encoder_name": _hub_name(encoder), "encoder_template": "{text}",
            "encoder_max_length": RETRIEVER_MAX_LENGTH}


def write_decoder(kept: Path, out: Path, settings: dict, merged: bool) -> None:
    """The weights the option needs, the base's tokenizer, the retrieval files and load.py."""
    weights = settings["weights"]
    if weights == "adapter":
        _copy_adapter(kept, out, settings["base_model"])
    elif weights == "model":
        for path in [kept / "config.json", kept / "generation_config.json", *kept.glob("*.safetensors")]:
            if path.is_file():
                shutil.copy2(path, out / path.name)
    _base_tokenizer(settings["base_model"]).save_pretrained(out)
    if "shot_selection" in settings:
        from core.methods.fewshot import SHOT_INDEX

        shutil.copy2(kept / SHOT_INDEX, out / SHOT_INDEX)
    if "retrieval" in settings:
        _chunk_store(kept, out)
        if (kept / "index.faiss").is_file():
            shutil.copy2(kept / "index.faiss", out / "index.faiss")
        if (kept / "bm25").is_dir():
            shutil.copytree(kept / "bm25", out / "bm25")
        if "reranker" in settings["retrieval"]:  # "from": where it was on this machine, not for adaptlab.json
            _reranker(settings["retrieval"]["reranker"].pop("from"), out / RERANKER_FOLDER)
    if merged:
        _merged(out, settings)
    shutil.copy2(Path(__file__).with_name("decoder_load.py"), out / "load.py")


def _reranker(name: str, out: Path) -> None:
    """The cross-encoder the run reranked with: its folder copied as it is, or one from the Hub cache saved."""
    if Path(name).is_dir():
        shutil.copytree(name, out)
    else:
        from core.backbone.retrieval import load_reranker

        load_reranker(name, "cpu").save(str(out))


def _copy_adapter(kept: Path, out: Path, base: str) -> None:
    for path in [kept / "adapter_config.json", *kept.glob("adapter_model*.safetensors")]:
        shutil.copy2(path, out / path.name)
    config = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base  # the folder the run loaded, not a name peft might fetch
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def _merged(out: Path, settings: dict) -> None:
    """The adapter merged into its base: a plain transformers folder (merged/), no peft needed to load it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(settings["base_model"], use_safetensors=True, trust_remote_code=False)
    PeftModel.from_pretrained(base, out).merge_and_unload().save_pretrained(out / "merged", safe_serialization=True)
    _base_tokenizer(settings["base_model"]).save_pretrained(out / "merged")


def _chunk_store(kept: Path, out: Path) -> None:
    """passages.jsonl: one {"id", "text"} a line, in index order (row i of the index is line i)."""
    import pandas as pd

    frame = pd.read_parquet(kept / "passages.parquet")
    with open(out / "passages.jsonl", "w", encoding="utf-8") as lines:
        for passage_id, text in zip(frame["id"], frame["text"]):
            lines.write(json.dumps({"id": str(passage_id), "text": text}, ensure_ascii=False) + "\n")


def _base_tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)


def _hub_name(name: str) -> str:
    from core.backbone.models import HUB_NAMES

    return HUB_NAMES.get(name, name)


def _loaded_from(name: str) -> str | None:
    """How a GGUF base became the folder the run loaded (None for a transformers folder or Hub id)."""
    from core.backbone import gguf

    if name in gguf.BUILTIN_LLMS:
        file = gguf.BUILTIN_LLMS[name][1]
    elif name.strip().lower().endswith(".gguf"):
        file = Path(name).name
    else:
        return None
    return (f"the GGUF file {file}, dequantised by transformers' GGUF reader (gguf package) and saved once as "
            "safetensors: base_model is that folder")
