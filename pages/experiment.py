"""Experiment: model, methods, sizes, seeds, budget and prices; a measured estimate; then launch (queued).

The methods offered are those that run on the chosen model (a sentence encoder or a decoder LLM) for the task's
kind (classification, or questions answered in words, which only an LLM can do)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from core.backbone.prompts import ABSTAIN_CLAUSE, CLASSIFY_INSTRUCTION, QA_INSTRUCTION
from core.config import ExperimentConfig
from core.errors import AdaptlabError
from core.methods import default_methods, learning_rates, references
from core.paths import ray_address
from core.results.text import markdown_text, money
from dashboard import checks, first_look, state, ui
from dashboard.first_look import DEFAULTS

KEY = "experiment"
KEEP = "session"  # widget values survive a visit to another page
OTHER = "other"  # the backbone choice that opens a free model field
BACKBONES = {"default": "all-MiniLM-L6-v2 (built-in encoder)", "smollm2": "SmolLM2-135M-Instruct (built-in LLM)",
             OTHER: "Another model (a folder or Hub id)"}


def render() -> None:
    st.title("Experiment")
    spec = _data()
    settings = _settings(spec, state.task_kind(spec))
    if settings is None:
        return
    config, problems = checks.validated(settings)  # each problem a sentence naming its field as labelled here
    model = state.model_problem(settings["model"]["name"])
    problems += [model] if model else []
    for problem in problems:
        st.error(markdown_text(problem), icon=":material/error:")  # values typed or read from a file
    data_ok = config is not None and _check_data(spec, config)
    if config is not None and not data_ok:
        problems.append("The data check above found problems: fix the data or the training-set sizes.")
    if config is not None and not model:
        _estimate(config, data_ok)
    _launch(config, problems)


def _data() -> dict:
    spec = st.session_state.get(ui.SHARED_TASK)
    if not spec:
        spec = {"builtin": state.scenarios()[0]["name"], "builtin_options": {}}
    if "builtin" in spec:
        options = ", ".join(f"{k} {v}" for k, v in spec.get("builtin_options", {}).items())
        described = f"built-in scenario **{spec['builtin']}**" + (f" ({options})" if options else "")
    elif spec.get("kind") == "qa":
        described = (f"your questions (question column **{markdown_text(spec.get('question_column', 'question'))}**, "
                     f"answer column **{markdown_text(spec.get('answer_column', 'answer'))}**)")
        if spec.get("documents"):
            described += ", answered from your documents"
    else:
        described = (f"your file (text column **{markdown_text(spec.get('text_column', 'text'))}**, label column "
                     f"**{markdown_text(spec.get('label_column', 'label'))}**)")
    left, right = st.columns([4, 1])
    left.markdown(f"Data: {described}")
    with right:
        ui.link("data", "Change data")
    return spec


def _default_name(spec: dict) -> str:
    """The data's own name and the time: the scenario, the uploaded file, or the documents the questions came from."""
    base = spec.get("builtin") or _documents_name(spec) or st.session_state.get("data.stored.file", {}).get("name")
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(base or "my-data").stem).strip("-._") or "experiment"
    return f"{base}-{datetime.now():%Y%m%d-%H%M}"


def _documents_name(spec: dict) -> str | None:
    """Questions written from uploaded documents: named after the document (or the first of several)."""
    folder = Path(spec.get("documents", {}).get("path", "")) if isinstance(spec.get("documents"), dict) else None
    if folder is None or not folder.is_dir():
        return None
    names = sorted(path.stem for path in folder.iterdir() if path.is_file())
    return None if not names else names[0] if len(names) == 1 else f"{names[0]}-and-{len(names) - 1}-more"


def _name_follows_data(spec: dict) -> None:
    """A new default name when the data changes, unless the user typed a name of their own."""
    name_key, default_key = f"{KEY}.name", f"{KEY}.name_default"
    data = json.dumps(spec, sort_keys=True)
    made_for = st.session_state.get(f"{KEY}.name_data")
    if name_key in st.session_state and made_for == data:
        return
    if name_key not in st.session_state or st.session_state[name_key] == st.session_state.get(default_key):
        st.session_state[name_key] = st.session_state[default_key] = _default_name(spec)
    st.session_state[f"{KEY}.name_data"] = data


def _settings(spec: dict, kind: str) -> dict | None:
    """Every setting as a config dict; None (with the reason on screen) when the model cannot do this task."""
    _name_follows_data(spec)
    name = st.text_input("Experiment name", key=f"{KEY}.name", persist_state=KEEP,
                         help="Results are stored under this name. Letters, digits, dots, dashes, underscores.")
    model = _backbone(spec, kind)
    family = state.model_family(model)
    if kind == "qa" and family == "encoder":
        st.error("This data is questions answered in words, and a sentence encoder cannot write answers: choose "
                 "SmolLM2-135M-Instruct (the built-in LLM) or another decoder LLM.", icon=":material/error:")
        return None
    has_corpus = state.task_has_corpus(spec)
    first_look = _first_look(spec, model, family, kind, has_corpus)
    methods = _methods(family, kind, has_corpus)
    if first_look:
        st.caption("An LLM on this machine's CPU: the settings start as the quick look's (`adaptlab demo --quick`): "
                   f"{first_look}. Estimate before you launch; add seeds and sizes once you have seen a first result.")
    left, middle, right = st.columns(3)
    sizes_text = left.text_input("Training-set sizes", value="8, 32", key=f"{KEY}.sizes", persist_state=KEEP,
                                 help="Comma-separated numbers, or 'all'. Subsets are nested, so curves are paired.")
    settings = {"name": name, "task": {**spec, "kind": kind} if kind == "qa" else spec, "methods": methods,
                "sizes": _parse_sizes(sizes_text)}
    if kind == "qa":  # a question has no class to count per: sizes count training questions
        middle.caption("Sizes count training questions (questions have no classes).")
    else:
        settings["size_unit"] = middle.radio("Size counts", ["per_class", "total"], key=f"{KEY}.unit",
                                             horizontal=True, format_func=lambda u: u.replace("_", " "),
                                             persist_state=KEEP)
    seeds = right.number_input("Seeds", value=2, step=1, key=f"{KEY}.seeds", persist_state=KEEP,
                               help="Repeats with different random draws; more seeds, tighter intervals.")
    settings["seeds"] = list(range(int(seeds)))
    llm = _llm_settings(kind) if family == "decoder" else None
    settings |= _model_and_budget(model, family, kind)
    settings |= _advanced(family)
    settings["tuning"] = right.checkbox("Tune every method", key=f"{KEY}.tuning", persist_state=KEEP,
                                        help="The same number of validation-scored trials for every method over its "
                                             "own settings (learning rate, C, shots, k and retriever); the search "
                                             "counts as training.")
    if llm is not None:
        settings["llm"] = {**llm, "learning_rates": settings.pop("llm_learning_rates")}
    settings["prices"] = _prices()
    return settings


def _first_look(spec: dict, model: str, family: str, kind: str, has_corpus: bool) -> str | None:
    """The settings to start from, set again when the data or the model changes: on a CPU, an LLM starts from the
    quick look (one seed, the quick sizes, methods and training budget), since its full grid takes hours there; any
    other choice from the page's defaults. Returns what the quick look set, in words (None: the page's defaults)."""
    chosen = json.dumps([spec, model], sort_keys=True)
    if st.session_state.get(f"{KEY}.first_look_for") == chosen:
        return st.session_state.get(f"{KEY}.first_look")
    st.session_state[f"{KEY}.first_look_for"] = chosen
    quick = family == "decoder" and state.device()["kind"] == "cpu"
    offered = state.methods_offered(family, kind)
    look = (first_look.quick_look(spec, model, family, kind, has_corpus, offered) if quick
            else first_look.page_defaults(family, kind, has_corpus))
    widgets = {"seeds": look["seeds"], "sizes": ", ".join(str(size) for size in look["sizes"]),
               "epochs": look["budget"]["max_epochs"], "min_steps": look["budget"]["min_steps"],
               "batch": look["training"]["batch_size"], "rag_k": look["rag"]["k"], "llm_shots": look["max_shots"],
               "latency_queries": look["latency_queries"]}
    widgets |= {f"method.{m}": m in look["methods"] for m in offered}
    for name, value in widgets.items():
        st.session_state[f"{KEY}.{name}"] = value
    words = (f"{look['seeds']} seed, sizes {widgets['sizes']}, {len(look['methods'])} methods, at most "
             f"{look['budget']['max_epochs']} epochs") if quick else None
    st.session_state[f"{KEY}.first_look"] = words
    return words


def _backbone(spec: dict, kind: str) -> str:
    """The model to adapt: the built-in encoder, the built-in LLM, or a folder or Hub id typed in."""
    choice_key = f"{KEY}.backbone"
    if kind == "qa" and st.session_state.get(f"{KEY}.backbone_kind") != "qa":
        st.session_state[choice_key] = "smollm2"  # questions answered in words need an LLM: choose the built-in one
    st.session_state[f"{KEY}.backbone_kind"] = kind
    if kind == "qa":
        scenario = f"**{spec['builtin']}**" if "builtin" in spec else "This data"
        st.info(f"{scenario} is a question-answering task: only an LLM can answer in words, so the built-in LLM "
                "is chosen.", icon=":material/info:")
    choice = st.radio("Base model", list(BACKBONES), format_func=BACKBONES.get, key=choice_key, horizontal=True,
                      persist_state=KEEP, help="The encoder classifies texts (fast); the LLM also answers questions in "
                                               "words and runs the LLM methods (few-shot, corpus fine-tuning, RAG + "
                                               "LoRA, QLoRA).")
    model = choice
    if choice == OTHER:
        left, right = st.columns([3, 2])
        model = left.text_input("Model folder or Hub id", key=f"{KEY}.model_name", persist_state=KEEP,
                                placeholder="/models/Qwen2.5-0.5B-Instruct or an id in the Hugging Face cache",
                                help="A local folder inside the allowed model folders (ADAPTLAB_MODEL_ROOTS), a "
                                     "cached Hub id, or a .gguf file. Safetensors only; no model code is run.")
        model = model.strip() or "default"
        right.caption(f"Read as {'an LLM' if state.model_family(model) == 'decoder' else 'a sentence encoder'} "
                      "(from its config.json).")
    st.session_state[ui.SHARED_MODEL] = model  # the Data page measures this model's tokenizer
    return model


def _methods(family: str, kind: str, has_corpus: bool) -> list[str]:
    """A checkbox per method that runs on this model for this task; the backbone's usual grid is ticked (the
    one a config without `methods` runs: on an LLM with documents, corpus fine-tuning and RAG + LoRA join)."""
    offered = state.methods_offered(family, kind)
    usual = set(default_methods(family, kind, has_corpus))
    st.markdown("**Methods**" + (" on the LLM" if family == "decoder" else ""))
    titles = state.method_titles()
    cols = st.columns(4)
    return [m for i, m in enumerate(offered)
            if cols[i % 4].checkbox(m, value=m in usual, key=f"{KEY}.method.{m}", help=titles.get(m),
                                    persist_state=KEEP)]


def _parse_sizes(text: str) -> list:
    sizes = []
    for part in re.split(r"[,\s]+", text.strip()):
        if part:
            sizes.append("all" if part.lower() == "all" else int(part) if part.isdigit() else part)
    return sizes  # anything else (a typo) is refused by the config's validation, with the field named


def _model_and_budget(model: str, family: str, kind: str) -> dict:
    # No bounds on the number fields (here and below): a browser keeps an out-of-range value on screen while the
    # page goes on with the last valid one, and Launch would send that. The config's own bounds check every value
    # instead, and the error names the field (dashboard/checks.py), with Launch off until it is fixed.
    budget = DEFAULTS.budget
    with st.expander("Device and budget", expanded=False):
        left, middle, right, _ = st.columns(4)  # under the four budget fields below
        device = left.selectbox("Device", ["auto", "cuda", "mps", "cpu"], key=f"{KEY}.device", persist_state=KEEP)
        precision = right.selectbox("Precision", ["auto", "bf16", "fp32"], key=f"{KEY}.precision", persist_state=KEEP,
                                    help="auto: bf16 autocast where the hardware computes it natively (CUDA GPUs, "
                                         "CPUs with AVX512-BF16 or AMX), otherwise fp32.")
        max_length = middle.number_input("Max length (tokens)", value=DEFAULTS.model.max_length,
                                         key=f"{KEY}.max_length", persist_state=KEEP,
                                         help="Longer texts are cut to this many tokens" + (
                                             " (on the LLM: each question; the whole prompt is the context "
                                             "length under LLM settings)." if family == "decoder" else "."))
        cols = st.columns(4)
        epochs = cols[0].number_input("Max epochs", value=budget.max_epochs, key=f"{KEY}.epochs", persist_state=KEEP)
        min_steps = cols[1].number_input("Min steps", value=budget.min_steps, key=f"{KEY}.min_steps",
                                         persist_state=KEEP, help="Few-shot sets still get this many optimiser steps.")
        patience = cols[2].number_input("Patience", value=budget.patience, key=f"{KEY}.patience", persist_state=KEEP,
                                        help="Validation checks without improvement before stopping early.")
        seconds = cols[3].number_input("Max seconds per run", value=float(budget.max_train_seconds),
                                       key=f"{KEY}.max_seconds", persist_state=KEEP)
        left, right = st.columns([3, 1])
        references_here = [r for r in references() if r in state.methods_offered(family, kind)]
        reference = left.radio("Negative transfer against", references_here, key=f"{KEY}.reference",
                               horizontal=True, persist_state=KEEP,
                               help="The from-scratch reference every method is compared with.")
        parallel = right.number_input("Runs at once", value=DEFAULTS.parallel_runs, key=f"{KEY}.parallel",
                                      persist_state=KEEP,
                                      help="Pack this many runs onto the device at once, each with its share of it: "
                                           "keeps a big GPU busy with a small model. Each run then takes longer, "
                                           "the grid less.")
        cluster = ray_address()
        executor = "local"
        if cluster:  # a Ray cluster is configured for this server (ADAPTLAB_RAY_ADDRESS)
            executor = st.radio("Run on", ["local", "ray"], key=f"{KEY}.executor", horizontal=True,
                                persist_state=KEEP, format_func={"local": "this server",
                                                                 "ray": f"the Ray cluster at {cluster}"}.get,
                                help="On the cluster each run is a Ray task on whichever node has a free CPU or GPU "
                                     "share; results come back here and are stored once (docs/DEPLOY.md).")
    return {"model": {"name": model, "device": device, "max_length": int(max_length), "precision": precision},
            "reference": reference, "parallel_runs": int(parallel), "executor": executor,
            "budget": {"max_epochs": int(epochs), "min_steps": int(min_steps), "patience": int(patience),
                       "max_train_seconds": float(seconds)}}


def _llm_settings(kind: str) -> dict:
    """What shapes an LLM's answers: its instruction, answer length, examples shown, and whether it may abstain."""
    llm = DEFAULTS.llm
    with st.expander("LLM settings"):
        abstains = st.session_state.get(f"{KEY}.llm_abstain", llm.allow_abstain)  # the box below, as last set
        default = "adaptlab's: " + (QA_INSTRUCTION + (ABSTAIN_CLAUSE if abstains else "") if kind == "qa"
                                    else CLASSIFY_INSTRUCTION)
        instruction = st.text_area("Instruction", key=f"{KEY}.llm_instruction", persist_state=KEEP, height=80,
                                   placeholder=default, max_chars=4000,
                                   help="What the LLM is told before every question (the system turn). Empty: "
                                        "adaptlab's instruction, shown greyed. {labels} becomes the label list.")
        cols = st.columns(4)
        new_tokens = cols[0].number_input("Max new tokens", value=llm.max_new_tokens, key=f"{KEY}.llm_new_tokens",
                                          persist_state=KEEP, help="The longest answer generated; answers are short "
                                                                   "(a name, a label, a code).")
        shots = cols[1].number_input("Max shots (few-shot)", value=llm.max_shots, key=f"{KEY}.llm_shots",
                                     persist_state=KEEP, help="Training examples shown in the prompt at most; the "
                                                              "context length may cut more.")
        context = cols[2].number_input("Context length (tokens)", value=llm.context_length,
                                       key=f"{KEY}.llm_context", persist_state=KEEP,
                                       help="Prompt plus answer. Longer prompts lose passages first, then examples.")
        abstain = cols[3].checkbox("Allow \"I don't know\"", value=llm.allow_abstain, key=f"{KEY}.llm_abstain",
                                   persist_state=KEEP, disabled=kind != "qa",
                                   help="Questions only: the instruction lets the LLM say \"I don't know\", counted "
                                        "as abstaining, not as a made-up answer.")
        selection = st.selectbox("Few-shot examples", ["balanced", "similar"], key=f"{KEY}.llm_shot_selection",
                                 persist_state=KEEP, format_func=SHOT_SELECTIONS.get,
                                 help="Which training examples each question is shown (llm.shot_selection).")
    return {"instruction": instruction.strip() or None, "max_new_tokens": int(new_tokens), "max_shots": int(shots),
            "context_length": int(context), "allow_abstain": bool(abstain), "shot_selection": selection}


SHOT_SELECTIONS = {"balanced": "the same for every question, classes taking turns",
                   "similar": "per question, the most similar training examples"}


def _advanced(family: str) -> dict:
    training, lora, rag = DEFAULTS.training, DEFAULTS.lora, DEFAULTS.rag
    # an LLM fine-tunes with its own learning rates (llm.learning_rates), smaller than an encoder's
    prefix, defaults = "llm_lr" if family == "decoder" else "lr", learning_rates(family)
    with st.expander("Hyperparameters (advanced)"):
        cols = st.columns(4)  # the batch size, then a learning rate per method that trains (its spec's default)
        batch = cols[0].number_input("Batch size", value=training.batch_size, key=f"{KEY}.batch", persist_state=KEEP)
        slots = [*cols[1:], *(c for _ in range(len(defaults) // 4 + 1) for c in st.columns(4))]
        rates = {m: slots[i].number_input(f"Learning rate: {m}", value=lr, format="%.0e", step=1e-5,
                                          key=f"{KEY}.{prefix}.{m}", persist_state=KEEP)
                 for i, (m, lr) in enumerate(defaults.items())}
        cols = st.columns(4)
        r = cols[0].number_input("LoRA rank r", value=lora.r, key=f"{KEY}.lora_r", persist_state=KEEP)
        alpha = cols[1].number_input("LoRA alpha", value=lora.alpha, key=f"{KEY}.lora_alpha", persist_state=KEEP)
        k = cols[2].number_input("RAG neighbours k", value=rag.k, key=f"{KEY}.rag_k", persist_state=KEEP)
        source = cols[3].selectbox("RAG searches", ["auto", "corpus", "train", "both"], key=f"{KEY}.rag_source",
                                   persist_state=KEEP)
        latency = st.columns(4)[0].number_input(
            "Latency queries", value=DEFAULTS.latency_queries, min_value=1, step=1, key=f"{KEY}.latency_queries",
            persist_state=KEEP, help="Questions each run answers one at a time for its latency (median and 95th "
                                     "percentile): fewer is quicker, with a noisier 95th percentile.")
        if family == "decoder":  # an LLM is prompted by its instruction (LLM settings), not a label template
            return {"training": {"batch_size": int(batch)}, "llm_learning_rates": rates,
                    "lora": {"r": int(r), "alpha": int(alpha)}, "rag": {"k": int(k), "source": source},
                    "latency_queries": int(latency)}
        template = st.text_input("Prompt template (prompt-only)", value=DEFAULTS.prompt.template,
                                 key=f"{KEY}.template", persist_state=KEEP,
                                 help="How a label becomes the text each input is compared with; must contain {label}.")
    return {"training": {"batch_size": int(batch), "learning_rates": rates},
            "lora": {"r": int(r), "alpha": int(alpha)}, "rag": {"k": int(k), "source": source},
            "prompt": {"template": template}, "latency_queries": int(latency)}


def _prices() -> dict:
    with st.expander("Prices (dollars per device hour)"):
        st.caption("Keyed by device kind (cpu, cuda, mps) or a GPU name such as H100 (a name match wins).")
        saved = st.session_state.get(f"{KEY}.prices", DEFAULTS.prices)
        table = pd.DataFrame({"device": list(saved), "dollars_per_hour": list(saved.values())})
        edited = st.data_editor(table, num_rows="dynamic", hide_index=True, key=f"{KEY}.prices_editor",
                                column_config={"dollars_per_hour": st.column_config.NumberColumn(
                                    "$ per hour", format="%.2f")})
    prices = {str(d).strip(): float(p) for d, p in zip(edited.device, edited.dollars_per_hour)
              if isinstance(d, str) and d.strip() and pd.notna(p)}
    st.session_state[f"{KEY}.prices"] = prices
    return prices


def _check_data(spec: dict, config: ExperimentConfig) -> bool:
    """The same checks the worker makes, against these sizes; False (with the reasons shown) if any fails."""
    try:
        # a question's prompt is measured against the LLM's context; a text against the encoder's max length
        max_length = config.llm.context_length if config.task.kind == "qa" else config.model.max_length
        report = state.validation(json.dumps(spec, sort_keys=True), tuple(config.sizes), config.size_unit,
                                  max_length)
    except Exception as problem:  # a data file that cannot be read: words, never a traceback
        ui.error(problem)
        return False
    for problem in report["errors"]:
        st.error(markdown_text(problem), icon=":material/error:")  # labels and columns from the file
    if config.name in set(state.experiments(state.store_url()).name):
        st.warning(f"An experiment named '{config.name}' exists. Launching adds the runs it lacks if only methods, "
                   "sizes or seeds changed; with other changes the worker will refuse it. Rename to start afresh.",
                   icon=":material/warning:")
    return not report["errors"]


def _estimate(config: ExperimentConfig, data_ok: bool) -> None:
    config_json = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    left, right = st.columns([1, 3])
    llm = state.model_family(config.model.name) == "decoder"
    asked = left.button("Estimate time and cost", key=f"{KEY}.estimate", disabled=not data_ok,
                        icon=":material/timer:", help="Measures on this device (in a separate process): on an LLM "
                        "one question answered alone and one batch of questions, and two training steps on a batch "
                        "per kind of fine-tuning (adapters, every weight), scaled to each method's own prompts and "
                        "examples; on an encoder a few real training steps per method and texts encoded. Then counts "
                        "the grid's steps and questions.")
    took = ("a minute or two on a CPU for an LLM (questions answered alone and in a batch, two training steps per "
            "kind of fine-tuning), seconds on a GPU." if llm else "about a minute on a CPU, seconds on a GPU.")
    right.caption("A measurement on this machine, not a rule of thumb: " + took
                  + (" A job is running now and shares the device, so this estimate will read high."
                     if (state.queue().jobs(limit=20).status == "running").any() else ""))
    if asked:
        try:
            st.session_state[f"{KEY}.estimate_result"] = (config_json, state.estimate(config_json, state.store_url()))
        except AdaptlabError as problem:
            ui.error(problem)
            return
    saved = st.session_state.get(f"{KEY}.estimate_result")
    if not saved:
        return
    if saved[0] != config_json:
        st.caption("The settings changed since the last estimate; estimate again for current numbers.")
    estimate = saved[1]
    cols = st.columns(4)
    cols[0].metric("Estimated time", ui.seconds(estimate.total_seconds),
                   help="Measured on this device for the runs still to do; the notes below say what it extrapolates "
                   "and which way it may err.")
    cols[1].metric("Estimated cost", money(estimate.total_dollars),
                   help=f"At ${estimate.price_per_hour:g} per hour on this device.")
    cols[2].metric("Runs to do", len(estimate.runs))
    cols[3].metric("Device", estimate.device_kind.upper(), help=estimate.device)
    st.dataframe(estimate_rows(estimate), hide_index=True, width="stretch", key=f"{KEY}.estimate_table")
    for note in estimate.notes:
        st.caption(note)


def estimate_rows(estimate) -> pd.DataFrame:
    """The estimate per method, then the one-off setup (the model loaded, texts encoded: once per grid) and the
    total, so the rows add up to the estimated time and cost above."""
    table = estimate.by_method()
    once = ("one-off setup (load the LLM, encode the passages, the passes before and after the grid)"
            if estimate.measured.get("family") == "decoder" else "one-off setup (load the model, encode the texts)")
    setup = pd.DataFrame({"method": [once], "runs": [None],
                          "seconds": [estimate.fixed_seconds],
                          "dollars": [estimate.fixed_seconds / 3600 * estimate.price_per_hour]})
    total = pd.DataFrame({"method": ["total"], "runs": [int(table.runs.sum()) if len(table) else 0],
                          "seconds": [estimate.total_seconds], "dollars": [estimate.total_dollars]})
    rows = pd.concat([table, setup, total], ignore_index=True)
    return pd.DataFrame({"method": rows.method, "runs": rows.runs.map(lambda n: "" if pd.isna(n) else f"{n:.0f}"),
                         "time": rows.seconds.map(ui.seconds), "cost": rows.dollars.map(money)})


LONG_LAUNCH_SECONDS = 3600  # a grid the estimate puts over an hour asks before it is queued


def _launch(config: ExperimentConfig | None, problems: list[str]) -> None:
    """The Launch button: disabled, with the reasons listed under it, while any setting or the data has a problem;
    a grid the estimate puts over an hour asks to confirm first."""
    asking = f"{KEY}.confirm"
    config_json = None if config is None else json.dumps(config.model_dump(mode="json"), sort_keys=True)
    long = _long_estimate(config_json)
    if st.button("Launch", type="primary", key=f"{KEY}.launch", disabled=bool(problems) or config is None,
                 icon=":material/rocket_launch:"):
        if long is None:
            _submit(config)
            return
        st.session_state[asking] = config_json
    if long is not None and st.session_state.get(asking) == config_json and not problems:
        st.warning(f"The estimate puts this grid at about {ui.seconds(long.total_seconds)} and "
                   f"{money(long.total_dollars)} on {long.device} ({len(long.runs)} runs). Launch it anyway, or "
                   "fewer seeds, sizes or methods first?", icon=":material/schedule:")
        yes, no = st.columns([1, 3])
        if yes.button(f"Launch: about {ui.seconds(long.total_seconds)}", key=f"{KEY}.launch_long",
                      icon=":material/rocket_launch:"):
            _submit(config)
            return
        if no.button("Not now: change the settings", key=f"{KEY}.launch_not_now"):
            del st.session_state[asking]
            st.rerun()
    if problems:
        st.caption("Launch is off until " + ("this is" if len(problems) == 1 else f"these {len(problems)} are")
                   + " fixed: " + " ".join(problems))
    else:
        st.caption("The run happens in a worker process, not in this page: you can close the tab and come back.")


def _long_estimate(config_json: str | None):
    """The estimate of exactly these settings when it is over an hour; None otherwise (or when there is none)."""
    saved = st.session_state.get(f"{KEY}.estimate_result")
    if config_json is None or not saved or saved[0] != config_json:
        return None
    return saved[1] if saved[1].total_seconds > LONG_LAUNCH_SECONDS else None


def _submit(config: ExperimentConfig) -> None:
    try:
        job = state.queue().submit(config)
    except AdaptlabError as problem:
        ui.error(problem)
        return
    state.keep_worker_alive()
    st.session_state[ui.SHARED_EXPERIMENT] = config.name
    st.session_state[f"{KEY}.launched"] = job
    st.session_state.pop(f"{KEY}.confirm", None)
    del st.session_state[f"{KEY}.name"]  # the next experiment gets a fresh default name
    ui.go("runs")
