"""The decision report's content: recommendation, reasons, the options at the user's query volume, break-even
volumes, the Pareto front, results, data provenance, settings and environment, gathered from a stored experiment.

Pure: a stored experiment, its summary and a recommendation in, a DecisionReport (tables of strings and lines of
text) out. core/results/report_render.py writes it as Markdown or HTML; core/results/figures.py draws its charts::

    report = build_report(store.experiment(name), summary, recommend(summary, constraints), constraints)
    Path("decision.md").write_text(to_markdown(report))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.methods import DEFAULT_REFERENCE, METHODS
from core.paths import now
from core.results.analysis import compared_reference
from core.results.completeness import Completeness, planned_runs, run_states
from core.results.costs import Constraints, break_even_queries, same_serving_cost, updates_without_training
from core.results.known_facts import known_facts_view
from core.results.recommendation import Recommendation
from core.results.results_table import results_rows, titled_rows
from core.results.text import LATENCY_ALONE, LATENCY_BATCHED, money, option_title, quality_name
from core.results.tuning import tuning_lines, tuning_table
from core.results.verdict import VerdictCard, verdict_card
from core.task.sizes import size_order
from core.task.uploads import upload_info

QUESTION = ("For this task and data, should we prompt, retrieve (RAG), train a LoRA adapter, fully fine-tune, "
            "or train from scratch, and what does each cost?")


@dataclass
class DecisionReport:
    experiment: str
    recommendation: Recommendation
    constraints: Constraints
    results: pd.DataFrame  # display-ready results table (strings)
    provenance: list[dict]  # one per data source: source, file, sha256, rows, licence
    data_rows: dict  # rows per split, classes, corpus documents
    settings: dict  # what was run: model, methods, sizes, seeds, budget, prices
    environment: dict  # python, platform, device, package versions
    warnings: list[str] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    generated_at: str = field(default_factory=now)
    quality: str = "accuracy"  # what the accuracy column measures (core.results.text.quality_name)
    incomplete: list[str] = field(default_factory=list)  # runs finished of planned, cells short of seeds: at the top
    options: pd.DataFrame = field(default_factory=pd.DataFrame)  # every option at the query volume (strings)
    cost_lines: list[str] = field(default_factory=list)  # break-even volumes, options that cost the same to serve
    pareto: pd.DataFrame = field(default_factory=pd.DataFrame)  # the front of quality against total cost (strings)
    pareto_note: str = ""  # where the chosen option sits relative to the front
    known_facts: object = None  # QA: core.results.known_facts.KnownFactsView (None: classification, or no runs given)
    facts_lines: list[str] = field(default_factory=list)  # a QA task with a knowledge update: when facts change
    tuning_lines: list[str] = field(default_factory=list)  # how each option was tuned (core/results/tuning.py)
    verdict: VerdictCard | None = None  # the card on top, the same as Compare's (core/results/verdict.py)


def provenance_rows(task_info: dict) -> list[dict]:
    """Where the data came from, with the user's own file names and licences for uploads."""
    provenance = task_info.get("provenance", {})
    scenario = provenance.get("scenario")
    if scenario:
        return [{"source": f"built-in scenario '{scenario.get('name')}': {scenario.get('title', '')}",
                 "file": scenario.get("source", ""), "sha256": provenance.get("sha256", ""),
                 "rows": sum(task_info.get("stats", {}).get("rows", {}).values()) or None,
                 "licence": scenario.get("licence") or "not stated"}]
    rows = []
    for source in provenance.get("sources", []):
        info = upload_info(source.get("sha256", "")) or {}
        rows.append({"source": source.get("split", "all splits"),
                     "file": info.get("original_name") or source.get("file"),
                     "sha256": source.get("sha256", ""), "rows": source.get("rows"),
                     "licence": info.get("licence") or "not stated"})
    return rows


def build_report(experiment: dict, summary: pd.DataFrame, recommendation: Recommendation,
                 constraints: Constraints, failed_runs: list[str] = (), runs: pd.DataFrame | None = None,
                 progress: Completeness | None = None) -> DecisionReport:
    """Gather everything the report shows from a stored experiment (SqlStore.experiment) and its summary.

    `runs` (SqlStore.runs_frame) counts finished runs exactly against the planned grid; without it the
    summary's seeds per option stand in. `progress` (core.results.missing.completeness_of: its runs, latest job and
    run claims) says why a run is missing; without it a missing run is only "not finished"."""
    config, task_info = experiment["config"], experiment.get("task", {})
    unit, configured = config.get("size_unit", "per_class"), config.get("reference", DEFAULT_REFERENCE)
    # the reference the summary's differences are to: its own where it carries them, else the one that ran
    reference = configured if summary.empty or f"vs_{configured}" in summary else \
        compared_reference(summary.method, configured)
    kind = task_info.get("kind", "classification")
    stats = task_info.get("stats", {})
    settings = {"model": config.get("model", {}).get("name", "default"),
                "max length (tokens)": config.get("model", {}).get("max_length"),
                "methods": ", ".join(config.get("methods", [])),
                "training-set sizes": (", ".join(str(s) for s in config.get("sizes", []))
                                       + f" ({unit.replace('_', ' ')})"),
                "seeds": ", ".join(str(s) for s in config.get("seeds", [])),
                "reference": reference_setting(configured, reference),
                "budget": ", ".join(f"{k} {v}" for k, v in config.get("budget", {}).items()),
                "prices ($ per device hour)": ", ".join(f"{k} {v}" for k, v in config.get("prices", {}).items())}
    planned = planned_seeds(config)
    results = results_rows(summary, reference, unit, kind)
    if len(results) and planned:
        results["seeds"] = [seeds_text(n, len(planned.get((m, z), ()))) for m, z, n in
                            zip(summary.method, summary["size"], summary.seeds)]
    results = titled_rows(results, reference)  # each method by its title, as the reasons and the options name it
    quality = quality_name(kind)
    pareto, pareto_note = pareto_rows(recommendation, constraints)
    facts = facts_lines(runs, constraints) if runs is not None else []
    known = known_facts_view(experiment, runs) if runs is not None else None  # QA: split by known facts
    tuning = tuning_table(runs, config) if runs is not None else pd.DataFrame()
    tuned = tuning_lines(tuning, config) if len(tuning) else []
    return DecisionReport(facts_lines=facts, known_facts=known, tuning_lines=tuned,
        verdict=verdict_card(recommendation, constraints),
        experiment=experiment["name"], recommendation=recommendation, constraints=constraints,
        results=results, provenance=provenance_rows(task_info),
        data_rows={**stats.get("rows", {}), "classes": stats.get("classes"),
                   "corpus documents": stats.get("corpus_documents", 0)},
        settings=settings, environment=task_info.get("environment", {}),
        warnings=list(task_info.get("warnings", [])), failed_runs=list(failed_runs), quality=quality,
        incomplete=completeness(planned, summary, runs, unit,
                                progress or (None if runs is None else run_states(config, runs))),
        options=options_rows(recommendation, constraints, planned),
        cost_lines=cost_lines(recommendation, constraints), pareto=pareto, pareto_note=pareto_note)


def reference_setting(configured: str, compared: str | None) -> str:
    """The reference setting as the report states it, with the one the differences were taken to where that one did
    not run."""
    if compared == configured:
        return configured
    return f"{configured}, which did not run: " + (f"differences are to {compared}" if compared else
                                                    "no reference ran, so no differences are shown")


# -- how complete the experiment is ----------------------------------------------------------------------------
def planned_seeds(config: dict) -> dict[tuple[str, str], list[int]]:
    """The seeds planned per (method, size) by the experiment's grid (core.results.completeness.planned_runs)."""
    cells: dict[tuple[str, str], list[int]] = {}
    for spec in planned_runs(config):
        cells.setdefault((spec.method, spec.size), []).append(spec.seed)
    return cells


def seeds_text(finished, planned: int) -> str:
    """Seeds behind an option: "2", or "1 of 2" where fewer finished than planned."""
    if pd.isna(finished):
        return ""
    return f"{finished:.0f} of {planned}" if planned and finished < planned else f"{finished:.0f}"


def completeness(planned: dict, summary: pd.DataFrame, runs: pd.DataFrame | None, unit: str,
                 progress: Completeness | None = None) -> list[str]:
    """Lines for the top of a report on an incomplete experiment: runs finished of planned and why the rest are
    missing (core/results/completeness.py), options with fewer seeds than planned, options not finished at all.
    Empty when every planned run finished."""
    if not planned:
        return []
    total = sum(len(seeds) for seeds in planned.values())
    if runs is not None and len(runs) and "run_key" in runs:
        finished_keys = set(runs.run_key[runs.status == "finished"])
        done = {(m, z): len({f"{m}|{z}|{seed}" for seed in seeds} & finished_keys) for (m, z), seeds in planned.items()}
    else:
        counts = {(m, z): n for m, z, n in zip(summary.method, summary["size"], summary.seeds)} \
            if len(summary) and "seeds" in summary else {}
        done = {cell: min(int(counts.get(cell, 0)), len(seeds)) for cell, seeds in planned.items()}
    finished = sum(done.values())
    if finished >= total:
        return []
    if progress is not None:  # the reasons, and whether anything runs the rest: only what is known is said
        lines = [f"{progress.headline()}. {progress.outlook()}"]
    else:
        lines = [f"Incomplete experiment: {finished} of {total} planned runs finished. The results and the "
                 "recommendation are provisional until the rest finish."]
    cells = sorted(planned, key=lambda c: (size_order(c[1]), list(METHODS).index(c[0]) if c[0] in METHODS else 99))
    short = [f"{option_title(m, z, unit)} {done[(m, z)]} of {len(planned[(m, z)])}" for m, z in cells
             if 0 < done[(m, z)] < len(planned[(m, z)])]
    missing = [option_title(m, z, unit) for m, z in cells if done[(m, z)] == 0]
    if short:
        lines.append("Options with fewer seeds than planned: " + "; ".join(short) + ".")
    if missing:
        lines.append("Options with no finished run (not in the results): " + ", ".join(missing) + ".")
    return lines


# -- the options at the user's query volume: the cost that decides -------------------------------------------------
def options_rows(rec: Recommendation, constraints: Constraints, planned: dict | None = None) -> pd.DataFrame:
    """Every option as the decision sees it: quality, seeds, training (times its retrains), cost per 1,000
    queries and total cost at the query volume, latency, and its status (chosen, tied with the best, on the
    Pareto front, ruled out and why). Most accurate first."""
    frame = rec.candidates
    if frame is None or frame.empty:
        return pd.DataFrame()
    frame = frame.sort_values(["accuracy", "total_dollars"], ascending=[False, True])
    planned = planned or {}
    why = {"meets_accuracy": f"below the {rec.quality} floor", "meets_budget": "over budget",
           "meets_latency": "too slow"}

    def status(row) -> str:
        words = []
        if row.get("chosen"):
            words.append("chosen")
        if row.get("tied") and rec.met:
            words.append("tied with the best")
        if not row.feasible:
            words.append("ruled out: " + ", ".join(w for k, w in why.items() if not row[k]))
        if row.get("pareto"):
            words.append("Pareto front")
        return "; ".join(words)

    seeds = frame.seeds if "seeds" in frame else pd.Series(np.nan, index=frame.index)
    return pd.DataFrame({
        "option": [option_title(m, z, rec.unit) for m, z in zip(frame.method, frame["size"])],
        f"{rec.quality} [95% interval]": [f"{a:.3f} [{lo:.3f}, {hi:.3f}]" for a, lo, hi in
                                          zip(frame.accuracy, frame.accuracy_low, frame.accuracy_high)],
        "seeds": [seeds_text(n, len(planned.get((m, z), ()))) for m, z, n in zip(frame.method, frame["size"], seeds)],
        "to train": [money(t * r * constraints.variants) + (f" ({r:.0f}×)" if r > 1 else "") for t, r in
                     zip(frame.train_dollars, frame.retrains)],
        # labelling and storing its models, every variant, over the period (costs.fixed_parts)
        "labels + storage": (frame.labelling_part + frame.storage_part).map(money),
        "per 1,000 queries": frame.inference_dollars_per_1k.map(money),
        f"total at {constraints.queries:,} queries": frame.total_dollars.map(money),
        # the time a latency limit is held to: one query alone, or the batched time (said so) where not measured
        f"ms, {LATENCY_ALONE}": [("" if pd.isna(v) else f"{v:.2f}" if alone else f"{v:.2f} ({LATENCY_BATCHED})")
                                 for v, alone in zip(frame.latency_ms, frame.latency_alone)],
        "status": [status(row) for _, row in frame.iterrows()],
    })


def contenders(rec: Recommendation, ruled_out: bool = False) -> pd.DataFrame:
    """The options the cost comparison shows: the chosen one and, per other method, its most accurate option
    that meets every constraint (any option when nothing meets them all). ruled_out: methods with no option
    that meets them are shown too, by their most accurate option."""
    frame = rec.candidates
    if frame is None or frame.empty or rec.method is None:
        return pd.DataFrame()
    picked = [frame[frame.chosen].iloc[0]]
    for _, group in frame[frame.method != rec.method].groupby("method", sort=False):
        pool = group[group.feasible] if rec.met else group
        if pool.empty and ruled_out:
            pool = group
        if len(pool):
            picked.append(pool.sort_values(["accuracy", "total_dollars"], ascending=[False, True]).iloc[0])
    return pd.DataFrame(picked).reset_index(drop=True)


def cost_lines(rec: Recommendation, constraints: Constraints) -> list[str]:
    """Break-even volumes between the chosen option and the others, where their per-query costs differ by more
    than their noise; the options that cost the same to serve as it, where they do not."""
    table = contenders(rec)
    if table.empty:
        return []
    chosen = option_title(rec.method, rec.size, rec.unit)
    retrains = constraints.retrains_counted
    mine = lambda m, z: (m, z) == (rec.method, rec.size)  # noqa: E731
    points = break_even_queries(table, retrains, constraints=constraints)
    points = points[[mine(a, b) or mine(c, d) for a, b, c, d in zip(
        points.cheaper_first, points.cheaper_first_size, points.cheaper_after, points.cheaper_after_size)]]
    lines = [f"Beyond {row.queries:,.0f} queries, {option_title(row.cheaper_after, row.cheaper_after_size, rec.unit)} "
             f"costs less in total than {option_title(row.cheaper_first, row.cheaper_first_size, rec.unit)} "
             f"(both {money(row.total_dollars)} there)." for row in points.itertuples()]
    same = same_serving_cost(table)
    for row in same.itertuples():
        if mine(row.method, row.size) or mine(row.other, row.other_size):
            other = option_title(row.other, row.other_size, rec.unit) if mine(row.method, row.size) else \
                option_title(row.method, row.size, rec.unit)
            lines.append(f"{chosen} and {other} cost the same to serve ({money(row.dollars_per_1k)} and "
                         f"{money(row.other_dollars_per_1k)} per 1,000 queries, within the noise of the measurement):"
                         " no query volume changes which is cheaper; training decides.")
    if not lines:
        lines.append(f"No break-even volume with {chosen}: against each other option shown, the same one is cheaper "
                     "in total at every query volume.")
    if retrains > 1:
        lines.append(f"Totals include {retrains} trainings for options that train (the data changes often).")
    return lines


# what the Pareto front is, said where the report shows it
PARETO_MEANS = ("The Pareto front: the options no other option beats on both {quality} and total cost at the query "
                "volume. For any option off the front, one on it does at least as well for less.")  # .format(quality=)


def pareto_rows(rec: Recommendation, constraints: Constraints) -> tuple[pd.DataFrame, str]:
    """The Pareto front of quality against total cost at the query volume (nothing cheaper is as good), the
    chosen option marked; and a sentence on where the chosen option sits."""
    frame = rec.candidates
    if frame is None or frame.empty or "pareto" not in frame:
        return pd.DataFrame(), ""
    shown = frame[frame.pareto | frame.chosen].sort_values("total_dollars")
    table = pd.DataFrame({
        "option": [option_title(m, z, rec.unit) + (" ← chosen" if c else "") for m, z, c in
                   zip(shown.method, shown["size"], shown.chosen)],
        rec.quality: shown.accuracy.map("{:.3f}".format),
        f"total at {constraints.queries:,} queries": shown.total_dollars.map(money),
        "on the front": ["yes" if p else "no" for p in shown.pareto],
        "meets the constraints": ["yes" if f else "no" for f in shown.feasible]})
    chosen = frame[frame.chosen]
    if chosen.empty:
        return table, ""
    row = chosen.iloc[0]
    where = option_title(row.method, row["size"], rec.unit)
    if row.pareto:
        note = f"{where} is on the front: no option is both cheaper at {constraints.queries:,} queries and better."
    else:
        better = frame[(frame.total_dollars <= row.total_dollars) & (frame.accuracy >= row.accuracy) & ~frame.chosen]
        names = ", ".join(option_title(m, z, rec.unit) for m, z in zip(better.method, better["size"]))
        if len(better) and not better.feasible.any():
            note = (f"{where} is not on the front: {names} cost less and do as well, but are ruled out by the "
                    "constraints.")
        else:
            stays = " (it stays current as the data changes)" if constraints.data_changes_often and \
                updates_without_training(row.method) else ""
            note = (f"{where} is not on the front: {names} cost less at {constraints.queries:,} queries and measure "
                    f"as well or better; it is chosen for the reasons above{stays}.")
    return table, note


def facts_lines(runs: pd.DataFrame, constraints: Constraints) -> list[str]:
    """For an experiment whose runs took new facts in (a knowledge update): the main fact of the knowledge view and
    which method to use when the facts change (`retrains` times over the period, monthly for a year by default)."""
    from core.results.knowledge import at_size, changing_facts_choice, coverage_table, knowledge_fact, update_table

    if "record" not in runs:  # runs without their records (a summary's source only): nothing to say
        return []
    update = at_size(update_table(runs))
    if update.empty:
        return []
    return [knowledge_fact(at_size(coverage_table(runs)), update),
            changing_facts_choice(update, constraints.retrains, constraints.months)]


def constraint_lines(constraints: Constraints, quality: str = "accuracy") -> list[str]:
    lines = [f"{quality} floor: {constraints.accuracy_floor:.3f}" if constraints.accuracy_floor is not None
             else f"{quality} floor: none",
             f"budget: {money(constraints.budget_dollars)}" if constraints.budget_dollars is not None
             else "budget: none",
             f"latency limit: {constraints.latency_ms:g} ms for {LATENCY_ALONE}" if constraints.latency_ms is not None
             else "latency limit: none",
             f"expected queries: {constraints.queries:,} over {constraints.months} months",
             f"task variants: {constraints.variants:,} (each labelled, trained and stored)",
             f"labelling: {money(constraints.dollars_per_label)} per example",
             f"storage: {money(constraints.storage_dollars_per_gb_month)} per GB-month"]
    if constraints.data_changes_often:
        lines.append(f"data changes often: trained methods retrain {constraints.retrains} times over the "
                     f"{constraints.months} months")
    return lines


def environment_lines(environment: dict) -> list[str]:
    lines = [f"device: {environment.get('device', 'unknown')}", f"python: {environment.get('python', 'unknown')}",
             f"platform: {environment.get('platform', 'unknown')}"]
    versions = environment.get("versions", {})
    return lines + [f"{package}: {version or 'not installed'}" for package, version in versions.items()]
