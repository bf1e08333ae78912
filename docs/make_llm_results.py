"""Write the LLM sections of docs/RESULTS.md from stored runs of the built-in LLM demos.

    HF_HUB_OFFLINE=1 adaptlab demo geo-qa --quick                   # stored as demo-geo-qa-quick
    HF_HUB_OFFLINE=1 adaptlab demo fortunes --model smollm2 --quick # stored as demo-fortunes-smollm2-quick
    HF_HUB_OFFLINE=1 adaptlab demo kaomoji --model smollm2 --quick  # stored as demo-kaomoji-smollm2-quick
    python docs/make_llm_results.py [--experiments NAME[@STORE] ...] [--encoder-store STORE]

Only the block between the LLM markers of RESULTS.md is rewritten (docs/make_results.py keeps it), so
the encoder sections and these can be regenerated apart. Every number comes from the store.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.results.analysis import analyse  # noqa: E402
from core.results.knowledge import coverage_table, update_table  # noqa: E402
from core.results.store import SqlStore  # noqa: E402
from core.task.sizes import size_label  # noqa: E402

DOCS = ROOT / "docs"
START, END = "<!-- llm-results:start -->", "<!-- llm-results:end -->"
DEFAULT_EXPERIMENTS = ("demo-geo-qa-quick", "demo-fortunes-smollm2-quick", "demo-kaomoji-smollm2-quick")
# The shape Ovadia et al. report ("Fine-Tuning or Retrieval? Comparing Knowledge Injection in LLMs", EMNLP 2024),
# in words, not their figures: each line is set beside what our store shows.
ANCHOR = (
    ("RAG is far ahead of unsupervised (corpus) fine-tuning, for known and for new knowledge", "rag", "corpus_ft"),
    ("corpus fine-tuning is only slightly above the base model", "corpus_ft", "prompt"),
    ("fine-tuning plus RAG is not reliably better than RAG alone", "rag_lora", "rag"),
)


def fmt(value, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def mean_field(runs: pd.DataFrame, field: str) -> pd.Series:
    values = runs.record.map(lambda r: (r or {}).get(field)).astype(float)  # a missing field reads as NaN
    return values.groupby([runs.method, runs["size"]]).mean()


def machine(experiment: dict) -> str:
    env = experiment["task"].get("environment") or {}
    versions = env.get("versions") or {}
    return (f"{env.get('device', '?')}, {env.get('platform', '?')}, torch {versions.get('torch')}, transformers "
            f"{versions.get('transformers')}, precision {env.get('precision')}")


def main_table(store: SqlStore, name: str, quality: str) -> tuple[list[str], pd.DataFrame]:
    experiment = store.experiment(name)
    runs = store.runs_frame(name, with_predictions=True)
    runs = runs[runs.status == "finished"]
    table = analyse(runs, experiment["test_labels"], "scratch").summary
    unit = experiment["config"].get("size_unit", "per_class")
    extra = {field: mean_field(runs, field) for field in (
        "exact_match", "token_f1", "mc_accuracy", "retrieval_recall", "prompt_tokens_per_query",
        "generated_tokens_per_query",
        "latency_p50_ms", "generated_accuracy")}
    lines = [f"| method | size | {quality} [95% CI] | seeds | " +
             ("exact match | token F1 | options | recall@k | " if quality == "answer match"
              else "generated+parsed | ") +
             "train s | batch-1 latency ms (p50) | prompt tokens | $ per 1k queries |",
             "|---|---|---|---|" + ("---|---|---|---|" if quality == "answer match" else "---|") + "---|---|---|---|"]
    for row in table.itertuples():
        key = (row.method, row.size)
        get = {field: series.get(key, np.nan) for field, series in extra.items()}
        cells = [f"`{row.method}`", size_label(row.size, unit),
                 f"{row.accuracy:.3f} [{row.accuracy_low:.3f}, {row.accuracy_high:.3f}]", str(int(row.seeds))]
        if quality == "answer match":
            cells += [fmt(get["exact_match"]), fmt(get["token_f1"]), fmt(get["mc_accuracy"]),
                      fmt(get["retrieval_recall"])]
        else:
            cells += [fmt(get["generated_accuracy"])]
        cells += [f"{row.train_seconds:.0f}", fmt(get["latency_p50_ms"], 0), fmt(get["prompt_tokens_per_query"], 0),
                  f"{row.inference_dollars_per_1k:.5f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines, table


def regenerate(name: str) -> str:
    config = ROOT / "examples" / f"{name}.yaml"
    if config.is_file():
        run = f"`adaptlab run examples/{config.name}`"
    else:  # a demo: demo-SCENARIO[-quick]
        scenario = name.removeprefix("demo-").removesuffix("-quick")
        run = f"`adaptlab demo {scenario}{' --quick' if name.endswith('-quick') else ''}`"
    return f"{run}, then `python docs/make_llm_results.py --experiments {name}`"


def runs_line(experiment: dict, finished: pd.DataFrame, runs: pd.DataFrame) -> str:
    """How many runs finished, of those stored and of those the grid plans (a grid stopped early says so)."""
    from core.config import parse_config
    from core.running.grid import plan_runs

    config = parse_config(experiment["config"], source="stored config")
    planned = len(plan_runs(config, corpus_only_rag=config.rag.source == "corpus"))  # as the runner plans them
    stopped = f"; the grid plans {planned}: stopped early, run it again to resume" if planned > len(runs) else ""
    return f"- **Runs**: {len(finished)} finished of {len(runs)}{stopped}"


def qa_findings(table: pd.DataFrame, coverage: pd.DataFrame, update: pd.DataFrame, recall: pd.Series) -> list[str]:
    """Sentences computed from the store: what the numbers above say."""
    seeds = int(table.seeds.max()) if "seeds" in table else 1
    lines = ["### What the data shows", ""]
    if seeds < 3:
        lines.append(f"- {seeds} seed(s): the intervals above are over test questions only, conditional on the "
                     "seed run; a difference inside them is not a finding.")
    best = table.loc[table.accuracy.idxmax()]
    lines.append(f"- The best answer match is **{best.method}** ({best.accuracy:.3f}); zero-shot prompting gets "
                 f"{table.set_index('method').accuracy.get('prompt', np.nan):.3f}.")
    if not coverage.empty:
        wide = coverage.pivot_table(index="method", columns="group", values="answer_match", aggfunc="mean")
        if {"covered", "uncovered"} <= set(wide.columns):
            flat = [m for m, row in wide.iterrows() if m != "prompt" and row.uncovered >= row.covered - 0.05]
            if flat:
                lines.append(f"- {', '.join(f'`{m}`' for m in flat)}: no better on questions the corpus covers than "
                             "on those it does not, so what they gained is the shape of the answers (which "
                             "countries, kinds and code formats occur), not the facts.")
    for method, value in recall.dropna().items():
        covered = coverage[(coverage.method == method) & (coverage.group == "covered")].answer_match
        if len(covered):
            limit = ": reading, not retrieval, is the limit here" if covered.mean() < value - 0.2 else ""
            lines.append(f"- `{method}` retrieved the passage holding the answer for {value:.0%} of covered questions "
                         f"and answered {covered.mean():.0%} of them{limit}.")
    for row in update.itertuples():
        if row.how.startswith(("indexes", "trains")):
            lines.append(f"- New facts: `{row.method}` {row.how} in {row.update_seconds:.1f} s and went from "
                         f"{row.before:.3f} to {row.after:.3f} on them.")
    return lines + [""]


def qa_section(store: SqlStore, name: str) -> list[str]:
    experiment = store.experiment(name)
    runs = store.runs_frame(name, with_predictions=True)
    finished = runs[runs.status == "finished"]
    unit = experiment["config"].get("size_unit", "per_class")
    lines = [f"## Open-book QA on an LLM (`{name}`)", "",
             f"- **Model**: {experiment['config']['model']['name']} (built-in SmolLM2-135M-Instruct); retrieval "
             f"encoder {experiment['config'].get('llm', {}).get('retriever', 'default')}",
             f"- **Questions**: {len(experiment['test_labels'])} test questions (country, kind of subdivision, ISO "
             "code; several phrasings), half of their subdivisions covered by a corpus passage",
             runs_line(experiment, finished, runs) + "; sizes are training questions (total)",
             budget_line(experiment["config"]),
             f"- **Measured on**: {machine(experiment)}",
             f"- **Regenerate**: {regenerate(name)}", ""]
    table_lines, table = main_table(store, name, "answer match")
    lines += table_lines + [""]
    coverage = coverage_table(finished)
    if not coverage.empty:
        lines += ["### Covered against uncovered questions", "",
                  "Answer match where the corpus holds the answer's passage, and where nothing does; on uncovered "
                  "questions the honest answer is \"I don't know\", so *made up* is the share answered wrongly.", "",
                  "| method | size | covered: answer match | uncovered: answer match | uncovered: abstained | "
                  "uncovered: made up |",
                  "|---|---|---|---|---|---|"]
        wide = coverage.pivot_table(index=["method", "size"], columns="group",
                                    values=["answer_match", "abstention_rate", "wrong_answer_rate"], aggfunc="mean")
        for (method, size), row in wide.iterrows():
            lines.append(f"| `{method}` | {size_label(size, unit)} | {fmt(row.get(('answer_match', 'covered')))}"
                         f" | {fmt(row.get(('answer_match', 'uncovered')))} | "
                         f"{fmt(row.get(('abstention_rate', 'uncovered')))}"
                         f" | {fmt(row.get(('wrong_answer_rate', 'uncovered')))} |")
        lines.append("")
    update = update_table(finished)
    if not update.empty:
        lines += ["### When new facts arrive", "",
                  "New passages arrive after training; each method takes them in the way it can (retrieval indexes "
                  "them, a fine-tuned model trains again on them, a prompt cannot), and the time that takes is "
                  "measured.", "", "| method | size | before | after | how | seconds | dollars |",
                  "|---|---|---|---|---|---|---|"]
        for row in update.itertuples():
            lines.append(f"| `{row.method}` | {size_label(row.size, unit)} | {fmt(row.before)} | "
                         f"{fmt(row.after)} | {row.how} | {fmt(row.update_seconds, 1)} | "
                         f"{fmt(row.update_dollars, 5)} |")
        lines.append("")
    recall = mean_field(finished, "retrieval_recall").groupby(level=0).mean()
    lines += qa_findings(table, coverage, update, recall)
    lines += anchor_section(table)
    return lines


def anchor_section(table: pd.DataFrame) -> list[str]:
    best = table.sort_values("accuracy").groupby("method").accuracy.last()  # each method at its best size
    lines = ["### Beside Ovadia et al. (EMNLP 2024)", "",
             "Their finding, in shape, and what this store shows (each method at its best size; intervals in the "
             "table above). A 135M model on a CPU is far from their 7B models: read agreement in direction only.",
             "", "| their finding | here | agrees? |", "|---|---|---|"]
    for claim, first, second in ANCHOR:
        if first in best and second in best:
            difference = best[first] - best[second]
            here = f"{first} {best[first]:.3f} vs {second} {best[second]:.3f} ({difference * 100:+.1f} points)"
            if first == "rag_lora":
                agrees = "yes" if difference <= 0.02 else "no: RAG+LoRA is ahead here"
            elif first == "corpus_ft":
                agrees = "yes" if abs(difference) <= 0.05 else "no"
            else:
                agrees = "yes" if difference > 0.05 else "no"
        else:
            here, agrees = "not measured (method not in this grid)", "–"
        lines.append(f"| {claim} | {here} | {agrees} |")
    return lines + [""]


def budget_line(config: dict) -> str:
    """The training budget the runs had; a quick look's says what it costs."""
    budget = config.get("budget") or {}
    words = f"- **Budget**: at most {budget.get('max_epochs', 6)} epochs, at least {budget.get('min_steps', 50)} steps"
    batch = (config.get("training") or {}).get("batch_size", 16)
    words += f" of {batch} examples" if batch != 16 else ""
    if budget.get("min_steps", 50) < 50:
        words += (" (`--quick`'s shorter training: a first look that undertrains; on fortunes LoRA reached 0.65 at 32 "
                  "per class against 0.84 with the default budget, docs/BENCHMARKS.md row 10)")
    k = (config.get("rag") or {}).get("k", 8)
    words += f"; RAG puts the top {k} retrieved texts in the prompt" + (" (the default is 8)" if k != 8 else "")
    if config.get("forgetting") == "off":
        words += "; no forgetting probe"
    return words


def classification_section(store: SqlStore, name: str, encoders: SqlStore | None = None) -> list[str]:
    experiment = store.experiment(name)
    runs = store.runs_frame(name)
    finished = runs[runs.status == "finished"]
    config = experiment["config"]
    builtin = config["task"].get("builtin")
    lines = [f"## Classification on an LLM (`{name}`)", "",
             f"- **Task**: {builtin} on {config['model']['name']}; a label is scored by the likelihood of its words "
             "after the prompt; *generated+parsed* reads the generated answer instead (on up to 64 test texts)",
             runs_line(experiment, finished, runs) + f"; {len(experiment['test_labels'])} test texts",
             budget_line(config),
             f"- **Measured on**: {machine(experiment)}",
             f"- **Regenerate**: `adaptlab demo {builtin} --model smollm2 --quick`, then "
             "`python docs/make_llm_results.py`", ""]
    table_lines, table = main_table(store, name, "accuracy")
    return lines + table_lines + [""] + classification_findings(table, builtin, len(experiment["test_labels"]),
                                                                encoders, experiment["task"].get("tokenizer") or {})


def tokenizer_words(report: dict) -> str:
    collisions = report.get("collisions") or {}
    return (f"{report.get('unknown_rate', float('nan')):.1%} of training tokens unknown, "
            f"{collisions.get('colliding', 0)} of {collisions.get('test_texts', 0)} test texts reading exactly like "
            "one with another label")


def classification_findings(table: pd.DataFrame, builtin: str, tests: int, encoders: SqlStore | None,
                            tokenizer: dict) -> list[str]:
    """What the LLM table says, and the encoder's figures on the same scenario at the same sizes beside it."""
    lines = ["### What the data shows", ""]
    seeds = int(table.seeds.max())
    if seeds < 3:
        lines.append(f"- {seeds} seed(s): the intervals are over test texts only, conditional on the seed run.")
    best = table.loc[table.accuracy.idxmax()]
    prompt = table[table.method == "prompt"].accuracy
    lines.append(f"- The most accurate option is **{best.method}** at {size_label(best['size'], 'per_class')} "
                 f"({best.accuracy:.3f} "
                 f"[{best.accuracy_low:.3f}, {best.accuracy_high:.3f}])" +
                 (f"; zero-shot prompting gets {prompt.iloc[0]:.3f}." if len(prompt) else "."))
    demo = f"demo-{builtin}"
    stored = encoders is not None and not encoders.experiments().empty and demo in set(encoders.experiments().name)
    if not stored:
        return lines + [f"- The encoder's `{demo}` is not in the store given: run `adaptlab demo {builtin}` and pass "
                        "`--encoder-store` to set them side by side.", ""]
    experiment = encoders.experiment(demo)
    encoder = analyse(encoders.runs_frame(demo, with_predictions=True).query("status == 'finished'"),
                      experiment["test_labels"],
                      "scratch").summary
    here = table.assign(size=table["size"].astype(str))
    there = encoder.assign(size=encoder["size"].astype(str))
    both = here.merge(there, on=["method", "size"], suffixes=("_llm", "_encoder"))
    encoder_budget = experiment["config"].get("budget") or {}
    lines += ["", f"Beside the default encoder (all-MiniLM-L6-v2, `{demo}`, {len(experiment['test_labels'])} test "
              f"texts against {tests} here: the LLM demo samples fewer texts per class, so the test sets differ and "
              "the columns compare the methods, not the same predictions; the encoder ran "
              f"{len(experiment['config'].get('seeds', []))} seeds at up to {encoder_budget.get('max_epochs', 6)} "
              f"epochs and at least {encoder_budget.get('min_steps', 50)} steps, the LLM what its budget line says):",
              "",
              "| method | size | SmolLM2 [95% CI] | encoder [95% CI] | SmolLM2 train s | encoder train s |",
              "|---|---|---|---|---|---|"]
    for row in both.itertuples():
        lines.append(f"| `{row.method}` | {size_label(row.size, 'per_class')} | {row.accuracy_llm:.3f} "
                     f"[{row.accuracy_low_llm:.3f}, "
                     f"{row.accuracy_high_llm:.3f}] | {row.accuracy_encoder:.3f} [{row.accuracy_low_encoder:.3f}, "
                     f"{row.accuracy_high_encoder:.3f}] | {row.train_seconds_llm:.0f} | "
                     f"{row.train_seconds_encoder:.1f} |")
    apart = [f"`{r.method}` at {size_label(r.size, 'per_class')} "
             f"({'LLM' if r.accuracy_llm > r.accuracy_encoder else 'encoder'} ahead)"
             for r in both.itertuples()
             if r.accuracy_low_llm > r.accuracy_high_encoder or r.accuracy_low_encoder > r.accuracy_high_llm]
    lines += ["", "- Intervals that do not overlap: " + (", ".join(apart) if apart else "none") + "."]
    if tokenizer and (experiment["task"].get("tokenizer") or {}):
        lines.append(f"- How each model reads the texts: SmolLM2's tokenizer {tokenizer_words(tokenizer)}; the "
                     f"encoder's {tokenizer_words(experiment['task']['tokenizer'])}.")
    best_encoder = there.loc[there.accuracy.idxmax()]
    lines.append(f"- The encoder's best option on the whole grid is `{best_encoder.method}` at "
                 f"{size_label(best_encoder['size'], 'per_class')} ({best_encoder.accuracy:.3f}).")
    return lines + [""]


PARAPHRASES = ("geo-qa-paraphrases-1", "geo-qa-paraphrases-4")  # examples/: one wording of each fact, then four


def paraphrase_section(store: SqlStore, names: tuple[str, str] = PARAPHRASES) -> list[str]:
    """Corpus fine-tuning on one wording of each fact against several: Ovadia et al.'s decisive variable, on the
    same test questions (checked), paired question by question."""
    from core.results.analysis import with_correctness
    from core.results.recommendation import paired_difference

    stored = set(store.experiments().name) if not store.experiments().empty else set()
    missing = [name for name in names if name not in stored]
    lines = ["## Corpus fine-tuning with one wording of each fact, or four", ""]
    if missing:
        return lines + ["Not yet measured: run " + " and ".join(f"`adaptlab run examples/{n}.yaml`" for n in missing)
                        + ", then this script.", ""]
    experiments = [store.experiment(name) for name in names]
    if experiments[0]["test_labels"] != experiments[1]["test_labels"]:
        return lines + [f"`{names[0]}` and `{names[1]}` were asked different test questions: not comparable.", ""]
    labels = experiments[0]["test_labels"]
    rows, scored = [], {}
    for name, experiment in zip(names, experiments):
        runs = store.runs_frame(name, with_predictions=True)
        runs = runs[runs.status == "finished"]
        wordings = experiment["config"]["task"]["builtin_options"].get("paraphrases", 1)
        table = analyse(runs, labels, None).summary
        coverage = coverage_table(runs)
        for row in table.itertuples():
            group = coverage[coverage.method == row.method].set_index("group").answer_match
            options = mean_field(runs, "mc_accuracy").get((row.method, row.size), np.nan)
            steps = runs[runs.method == row.method].record.map(lambda r: ((r or {}).get("details") or {}).get("steps"))
            rows.append((row.method, wordings, row, group.get("covered", np.nan), group.get("uncovered", np.nan),
                         options, steps.dropna().mean() if steps.notna().any() else np.nan))
        scored[wordings] = with_correctness(runs[runs.method == "corpus_ft"], labels)
    lines += [f"`{names[0]}` against `{names[1]}` (examples/): the same {len(labels)} test questions and budget (3 "
              "epochs over the corpus in both, so more wordings mean more steps, as in the paper; distractor "
              "passages are worded once); the corpus words each fact once, or four ways. *prompt* is the base model "
              "beside them, as a check that the questions are the same.", "",
              "| method | wordings per fact | answer match [95% CI] | covered | uncovered | options | steps | train "
              "s |",
              "|---|---|---|---|---|---|---|---|"]
    for method, wordings, row, covered, uncovered, options, steps in rows:
        lines.append(f"| `{method}` | {wordings} | {row.accuracy:.3f} [{row.accuracy_low:.3f}, "
                     f"{row.accuracy_high:.3f}] | {fmt(covered)} | {fmt(uncovered)} | {fmt(options)} | "
                     f"{fmt(steps, 0)} | {row.train_seconds:.0f} |")
    one, four = sorted(scored)
    paired = paired_difference(scored[four], scored[one])
    if paired is not None:
        mean, low, high = paired
        verdict = "more wordings help" if low > 0 else "more wordings hurt" if high < 0 else \
            "the data cannot tell them apart"
        lines += ["", f"- Four wordings minus one, paired over the same questions: {mean * 100:+.1f} points of answer "
                  f"match [{low * 100:+.1f}, {high * 100:+.1f}]: {verdict}. Ovadia et al. found paraphrases decisive "
                  "for unsupervised fine-tuning to take facts in; "
                  + ("this agrees." if low > 0 else "this does not reproduce it at this model's size and budget.")]
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="*", default=list(DEFAULT_EXPERIMENTS),
                        help="experiment names, each NAME or NAME@STORE (a results database; default: ADAPTLAB_HOME's)")
    parser.add_argument("--encoder-store", default=None,
                        help="the results database holding the encoder demos (demo-fortunes...) to set beside the LLM "
                             "classification sections; default: ADAPTLAB_HOME's")
    args = parser.parse_args()
    encoders = SqlStore(args.encoder_store)
    stores: dict[str, SqlStore] = {}
    block = [START, "", "# LLM results", "",
             f"Generated by `python docs/make_llm_results.py` on {dt.date.today().isoformat()} from runs stored by "
             "`adaptlab demo ... --model smollm2` and `adaptlab demo geo-qa`. *Answer match* is the quality axis of "
             "QA: "
             "an accepted answer (any alias) appears in the reply after SQuAD normalisation, as PopQA scores it; "
             "strict exact match is in the run records beside it. Its interval is a 95% bootstrap over "
             "questions and seeds. *options*: multiple-choice accuracy by option likelihood; *recall@k*: the share "
             "of covered questions whose passage was retrieved.", ""]
    for item in args.experiments:
        name, _, location = item.partition("@")
        store = stores.setdefault(location, SqlStore(location or None))
        stored = set(store.experiments().name) if not store.experiments().empty else set()
        if name not in stored:
            block += [f"`{name}`: not yet measured (run its demo, then this script).", ""]
            continue
        kind = store.experiment(name)["task"].get("kind", "classification")
        block += qa_section(store, name) if kind == "qa" else classification_section(store, name, encoders)
    paraphrase_store = stores.get("") or SqlStore()
    block += paraphrase_section(paraphrase_store)
    block.append(END)
    print(f"wrote the LLM sections of {write_block(block)}")


def write_block(block: list[str], path: Path = DOCS / "RESULTS.md") -> Path:
    """Put `block` (its first and last lines are its markers) in place of the same markers' block in `path`, or
    at its end: every other line of the file stays as it is."""
    start, end = block[0], block[-1]
    text = path.read_text(encoding="utf-8")
    if start in text:
        text = text[:text.index(start)] + "\n".join(block) + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(block) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
