"""The recommendation in words: the reasons under its headline, why options were ruled out, what would separate
tied options, and why the cheapest of a pool is cheapest. Each takes the scored candidates or one of their rows
(core.results.recommendation.score_candidates, ties marked by mark_ties) and returns sentences; recommend() puts
them under its headline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.results.costs import Constraints, updates_without_training
from core.results.text import LATENCY_ALONE, LATENCY_BATCHED, money, option_title, quality_words
from core.task.sizes import NO_TRAINING_DATA, size_label, size_order


def cost_words(choice, why: str, queries: int, quality: str = "accuracy") -> str:
    """Why `choice` is the cheapest of its pool, in words; `why` is what cheapest_and_why said of it."""
    if why == "same":
        return (f"they cost the same within the noise of the measurement (to train, label and store about "
                f"{money(choice.fixed_dollars)}, to serve about {money(choice.inference_dollars_per_1k)} per 1,000 "
                f"queries), so the higher {quality} estimate is named; either will do")
    if why == "fixed":
        return ("their serving costs differ by less than their noise, and it is the cheapest of them to train, label "
                f"and store ({money(choice.fixed_dollars)})")
    return f"it is the cheapest of them at {queries:,} queries"


def cost_parts_words(row, constraints: Constraints) -> str:
    """An option's total at the query volume and its parts, which add up to it: training (times its retrains,
    for every variant), labelling where it costs anything, storing its models over the period, and serving."""
    volume = f"{constraints.queries:,} queries"
    retrained = f" ({row.retrains:.0f} trainings)" if row.retrains > 1 else ""
    each = f" for {constraints.variants:,} task variants" if constraints.variants > 1 else ""
    parts = [f"{money(row.training_part)} to train{retrained}"]
    if row.labelling_part > 0:
        parts.append(f"{money(row.labelling_part)} to label its training examples")
    parts.append(f"{money(row.storage_part)} to store its models for {constraints.months} months")
    parts.append(f"{money(row.per_query_dollars * constraints.queries)} to answer the queries "
                 f"({money(row.inference_dollars_per_1k)} per 1,000)")
    return f"{money(row.total_dollars)} in total at {volume}{each}: " + ", ".join(parts[:-1]) + f" and {parts[-1]}"


def latency_words(row) -> str:
    """How fast an option answers, naming which time it is: one query alone (what the latency limit is on), and
    in batches (throughput) beside it; the batched time alone, said so, where one query alone was not measured."""
    batched = row.inference_seconds_per_1k  # seconds per 1,000 queries = ms per query
    if row.latency_alone:
        return (f"It answers {LATENCY_ALONE} in {row.latency_ms:.2f} ms ({LATENCY_BATCHED}, {batched:.2f} ms per "
                "query)")
    return f"It answers in {batched:.2f} ms per query {LATENCY_BATCHED} ({LATENCY_ALONE} was not measured)"


def latency_limit_words(row, limit: float) -> str:
    """The latency limit's sentence: the time it is held to, which time that is, and whether it is met."""
    side = "under" if row.meets_latency else "over"
    if row.latency_alone:
        return (f"Answering {LATENCY_ALONE} takes {row.latency_ms:.2f} ms, {side} the {limit:g} ms limit, which "
                f"is on {LATENCY_ALONE} ({LATENCY_BATCHED} it takes {row.inference_seconds_per_1k:.2f} ms per "
                "query).")
    return (f"It takes {row.latency_ms:.2f} ms per query {LATENCY_BATCHED}, {side} the {limit:g} ms limit "
            f"({LATENCY_ALONE} was not measured for it, so the limit is held to the batched time).")


# what a paired difference is, said once where the reasons use it
PAIRED_MEANS = ("a paired difference scores two options on the same test examples and seeds and takes the difference "
                "example by example, so the luck of which examples were drawn cancels out")


WHY_EXCLUDED = {"meets_accuracy": "below the {quality} floor", "meets_budget": "over budget",
                "meets_latency": "too slow"}


def why_excluded(row, quality: str) -> str:
    return " and ".join(w.format(quality=quality) for k, w in WHY_EXCLUDED.items() if not row[k])


def excluded_options(frame: pd.DataFrame, quality: str, unit: str) -> list[tuple[str, str]]:
    """Each option the constraints rule out, with its size, and why; most accurate first."""
    rows = frame[~frame.feasible].sort_values("accuracy", ascending=False)
    return [(option_title(row.method, row["size"], unit), why_excluded(row, quality)) for _, row in rows.iterrows()]


def what_would_decide(frame: pd.DataFrame, tied: pd.DataFrame, scored: pd.DataFrame | None, unit: str) -> list[str]:
    """What would separate the tied options: more seeds, more test examples, a larger training-set size."""
    steps, seeds_line = [], None
    if "seeds" in tied and tied.seeds.notna().any():
        trained = tied[tied["size"] != NO_TRAINING_DATA]
        counts = (trained if len(trained) else tied).seeds
        seeds_line = len(steps)
        steps.append(f"more seeds per option (the tied ones have {counts.min():.0f}"
                     + (f" to {counts.max():.0f}" if counts.max() != counts.min() else "") + ")")
    examples = None
    if scored is not None and len(scored):
        examples = int(np.size(scored.correct.iloc[0]))
    others = tied[~tied.best]
    # the difference the decision hangs on: the chosen option against the best, else the closest one to the best
    runner_up = others[others.chosen].iloc[0] if others.chosen.any() else others.iloc[0]
    gap = abs(runner_up["diff"]) if pd.notna(runner_up["diff"]) else np.nan
    if runner_up.paired and pd.notna(runner_up.diff_high):
        half = (runner_up.diff_high - runner_up.diff_low) / 2
    else:
        best = tied.iloc[0]
        half = (best.accuracy_high - best.accuracy_low) / 2
    now = f" (now {examples:,})" if examples else ""
    if seeds_line is not None and gap > 0 and half > 0 and pd.notna(runner_up.get("seeds")):
        # where seed-to-seed variation dominates, an interval narrows as one over the square root of the seeds
        have = int(min(tied.iloc[0].get("seeds") or runner_up.seeds, runner_up.seeds))
        needed = max(have + 1, int(np.ceil(have * (half / gap) ** 2)))
        steps[seeds_line] += (f"; if the spread is mostly between seeds, about {needed} seeds each would separate "
                              f"a difference of {gap:.3f}")
    if examples and gap > 0 and half > 0:
        needed = examples * (half / gap) ** 2
        steps.append(f"more test examples{now}: about {needed:,.0f} would separate a difference of {gap:.3f} "
                     f"between {option_title(tied.iloc[0].method, tied.iloc[0]['size'], unit)} and "
                     f"{option_title(runner_up.method, runner_up['size'], unit)}")
    else:
        steps.append(f"more test examples{now}")
    trained = tied[tied["size"] != NO_TRAINING_DATA]
    if len(trained):
        largest = max(frame["size"], key=size_order)
        steps.append(f"a larger training-set size than the largest run ({size_label(largest, unit)}), where the "
                     "options may pull apart")
    return steps


def reason_lines(choice, best, frame: pd.DataFrame, constraints: Constraints, unit: str, met: bool,
             quality: str = "accuracy", excluded: list[tuple[str, str]] = (), to_decide: list[str] = (),
             tie: tuple[object, str] = (None, "")) -> list[str]:
    """The reasons under the headline; `tie` is cheapest_and_why of the tied options (None when none is tied)."""
    volume = f"{constraints.queries:,} queries"
    where = option_title(choice.method, choice["size"], unit)
    reasons = [f"{where} reaches {choice.accuracy:.3f} {quality} (95% interval {choice.accuracy_low:.3f} to "
               f"{choice.accuracy_high:.3f}; {quality_words(choice.accuracy, quality)}) and costs "
               f"{cost_parts_words(choice, constraints)}. {latency_words(choice)}."]
    tied = frame[frame.tied & ~((frame.method == best.method) & (frame["size"] == best["size"]))]
    if met:
        best_words = "most accurate option" if quality == "accuracy" else f"option with the highest {quality}"
        best_where = option_title(best.method, best["size"], unit)
        if (choice.method, choice["size"]) != (best.method, best["size"]):
            if bool(choice.tied):
                how = difference_words(choice, quality)
                why = f"{where} is cheaper" if choice.total_dollars < best.total_dollars else \
                    f"{where} stays current as the data changes"
                reasons.append(f"The {best_words}, {best_where} at {best.accuracy:.3f}, is not measurably better "
                               f"({how}) and costs {money(best.total_dollars)}; {why}.")
            else:
                reasons.append(f"The {best_words}, {best_where} at {best.accuracy:.3f}, is measurably better and "
                               f"costs {money(best.total_dollars)}.")
        if len(tied):
            names = ", ".join(f"{option_title(r.method, r['size'], unit)} {r.accuracy:.3f}"
                              for _, r in tied.sort_values("accuracy", ascending=False).iterrows())
            paired = "paired differences over the same seeds and test examples" if tied.paired.all() else \
                "paired differences where predictions are stored, else the best's 95% interval" \
                if tied.paired.any() else "the best's 95% interval: no stored predictions to pair"
            rule = (f"Among tied options the cheapest at {volume} is chosen" + (
                f" ({cost_words(choice, tie[1], constraints.queries, quality)})." if tie[1] != "total" else "."))\
                if choice.name == tie[0] else \
                (f"{where} is not among them: see why below." if not bool(choice.tied) else
                 "The choice among them is not on cost: see why below.")
            means = f" ({PAIRED_MEANS})" if tied.paired.any() else ""
            reasons.append(f"Tied with the best, {best_where} at {best.accuracy:.3f} (the data cannot tell them "
                           f"apart; judged on {paired}{means}): {names}. {rule}")
            if to_decide:
                reasons.append(f"Inconclusive on {quality}: what would decide it: " + "; ".join(to_decide) + ".")
    if constraints.accuracy_floor is not None:
        if choice.meets_accuracy:
            sure = "its whole interval clears it too" if choice.accuracy_low >= constraints.accuracy_floor else \
                "but the lower end of its interval falls below it, so the floor is met on the estimate, not for sure"
            reasons.append(f"It meets the {quality} floor of {constraints.accuracy_floor:.3f}; {sure}.")
        else:
            reasons.append(f"It misses the {quality} floor of {constraints.accuracy_floor:.3f}: more training "
                           "data or a stronger base model is needed to reach it.")
    if constraints.budget_dollars is not None:
        verb = "is within" if choice.meets_budget else "exceeds"
        reasons.append(f"Its total cost {verb} the {money(constraints.budget_dollars)} budget at {volume}.")
    if constraints.latency_ms is not None:
        reasons.append(latency_limit_words(choice, constraints.latency_ms))
    if constraints.data_changes_often:
        reasons.append(changes_often_reason(choice, best, frame, constraints, unit, met, quality))
    hurts = choice.get("transfer_hurts")
    if pd.notna(hurts) and bool(hurts):
        reasons.append("Caution: at this size it is reliably worse than the from-scratch reference (negative "
                       "transfer); the reference itself may be the better choice.")
    if met and excluded:
        reasons.append("Ruled out by the constraints: " + "; ".join(f"{name}: {why}" for name, why in excluded) + ".")
    return reasons


def difference_words(row, quality: str) -> str:
    if row.paired:
        return (f"paired difference {row['diff']:+.3f}, 95% interval {row.diff_low:+.3f} to {row.diff_high:+.3f} "
                "over the same seeds and test examples")
    return f"this one's {quality} lies inside its 95% interval"


def changes_often_reason(choice, best, frame: pd.DataFrame, constraints: Constraints, unit: str, met: bool,
                   quality: str) -> str:
    """The data-changes-often reason, matching the choice: why the option that stays current was or was not taken."""
    where = option_title(choice.method, choice["size"], unit)
    stale = (f"a trained model goes stale between updates and pays its training again on each of "
             f"{constraints.retrains} (included in its total cost)")
    if updates_without_training(choice.method):
        tail = ""
        if met and (choice.method, choice["size"]) != (best.method, best["size"]) and not bool(choice.tied):
            tail = (f" That is why it is chosen over the more accurate "
                    f"{option_title(best.method, best['size'], unit)}: it meets every constraint and stays current.")
        return (f"The data changes often: {where} takes new data without training (RAG indexes new documents; a "
                f"prompt needs no data), so it stays current, while {stale}.{tail}")
    current = frame[frame.method.map(updates_without_training).astype(bool)]
    preferred = "options that take new data without training (RAG, prompt-only)"
    if current.empty:
        why = "none was run in this experiment"
    elif not current.feasible.any():
        why = "each is ruled out (" + "; ".join(
            f"{option_title(r.method, r['size'], unit)}: {why_excluded(r, quality)}"
            for _, r in current.sort_values("accuracy", ascending=False).iterrows()) + ")"
    else:
        top = current[current.feasible].sort_values("accuracy", ascending=False).iloc[0]
        why = (f"the best of them, {option_title(top.method, top['size'], unit)} at {top.accuracy:.3f}, is "
               f"measurably less accurate than {option_title(best.method, best['size'], unit)} at "
               f"{best.accuracy:.3f}, and "
               "without an accuracy floor only a tie would let it win")
    return (f"The data changes often, which favours {preferred}, but {why}. So {where} is "
            f"{'used' if met else 'named'}: {stale}.")
