"""The verdict card: the recommendation as a stakeholder reads it, the same on Compare and in the Decision report.

The choice, its quality in words, why (against the most accurate option, and against the constraints), and the
options tied with it, in method titles and plain words. Built once from a Recommendation (core/results/
recommendation.py); dashboard/verdict.py draws it, core/results/report_render.py writes it::

    card = verdict_card(recommend(summary, constraints), constraints)
    card.headline, card.quality, card.why, card.tied, card.judged
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from core.results.costs import Constraints, updates_without_training
from core.results.reasons import latency_words
from core.results.recommendation import Recommendation
from core.results.text import LATENCY_ALONE, LATENCY_BATCHED, money, option_title, quality_words

# what "tied" means, said once where the card lists them: as the ties were judged (recommendation.mark_ties)
TIED_PAIRED = ("the data cannot tell them apart: the 95% interval of their difference, measured on the same test "
               "examples and seeds, includes no difference at all")
TIED_UNPAIRED = ("the data cannot tell them apart: each one's {quality} lies inside the 95% interval of the best "
                 "option's (no stored predictions to compare them example by example)")


@dataclass
class VerdictCard:
    met: bool  # False: nothing meets every constraint (or nothing to recommend); the closest option is named
    headline: str  # "Use TF-IDF + logistic regression (32 per class)."
    quality: str = ""  # its figure with the words beside it
    why: list[str] = field(default_factory=list)  # against the most accurate option, then against the constraints
    tied: list[str] = field(default_factory=list)  # the options tied with the best, each with its figure in words
    ruled_out: list[str] = field(default_factory=list)  # more accurate options the constraints rule out, and why
    tied_means: str = TIED_PAIRED  # what tied means here, as the ties were judged
    judged: str = ""  # the constraints and the query volume it was judged with

    def lines(self) -> list[str]:
        """The lines under the headline, as every page and report shows them: why, the options tied with it (what
        tied means, said here), the more accurate ones the constraints rule out."""
        lines = list(self.why)
        if self.tied:
            lines.append(f"Tied with it ({self.tied_means}): " + "; ".join(self.tied) + ".")
        if self.ruled_out:
            lines.append("More accurate, but ruled out by your constraints: " + "; ".join(self.ruled_out) + ".")
        return lines


def verdict_card(rec: Recommendation, constraints: Constraints) -> VerdictCard:
    """The card for a recommendation made under `constraints` (the same ones recommend() was given)."""
    frame = rec.candidates
    if rec.method is None or frame is None or frame.empty:
        return VerdictCard(False, rec.headline, judged=judged_words(constraints, rec.quality))
    choice = frame[frame.chosen].iloc[0]
    quality = (f"{choice.accuracy:.3f} {rec.quality} (95% interval {choice.accuracy_low:.3f} to "
               f"{choice.accuracy_high:.3f}): it {quality_words(choice.accuracy, rec.quality)}.")
    why = [against_the_best(rec, frame, choice, constraints)] if rec.met else []
    against = constraint_words(rec, choice, constraints)
    why += [against] if against else []
    tied = frame[frame.tied & ~frame.chosen].sort_values("accuracy", ascending=False) if rec.met else frame.iloc[0:0]
    better = frame[~frame.feasible & (frame.accuracy > choice.accuracy)].sort_values("accuracy", ascending=False)
    return VerdictCard(
        rec.met, rec.choice_line, quality, why=[w for w in why if w],
        tied=[f"{option_title(r.method, r['size'], rec.unit)}: {r.accuracy:.3f}, "
              f"{quality_words(r.accuracy, rec.quality)}" for _, r in tied.iterrows()],
        ruled_out=[f"{option_title(r.method, r['size'], rec.unit)} at {r.accuracy:.3f}: "
                   f"{misses_words(r, constraints, rec.quality)}" for _, r in better.head(RULED_OUT).iterrows()],
        judged=judged_words(constraints, rec.quality),
        tied_means=TIED_PAIRED if frame[frame.tied & ~frame.best].paired.all() else
        TIED_UNPAIRED.format(quality=rec.quality))


RULED_OUT = 3  # more accurate options the card says were ruled out; the report's reasons name every one


def against_the_best(rec: Recommendation, frame: pd.DataFrame, choice, constraints: Constraints) -> str:
    """Why the choice and not the most accurate option: it is the most accurate, or the data cannot tell them apart
    and it costs less (or stays current), or the data changes often and it stays current."""
    volume = f"{constraints.queries:,} queries"
    best = frame[frame.best].iloc[0]
    title = option_title(choice.method, choice["size"], rec.unit)
    best_title = option_title(best.method, best["size"], rec.unit)
    meeting = " that meets your constraints" if any_constraint(constraints) else ""
    cost = f"{money(choice.total_dollars)} in total at {volume}"
    if choice.name == best.name:
        others = int(frame.tied.sum()) - 1
        tail = (f"; the data cannot tell it apart from {others} other option{'s' if others > 1 else ''}, and none "
                f"of them costs less" if others else "") + f" ({cost})"
        return f"It is the most accurate option{meeting}{tail}."
    lead = f"The most accurate option{meeting}, {best_title} at {best.accuracy:.3f}"
    stays = updates_without_training(choice.method) and constraints.data_changes_often
    if bool(choice.tied):
        gain = f"{title} costs less: {cost} against {money(best.total_dollars)}" if \
            choice.total_dollars < best.total_dollars else f"{title} stays current as the data changes"
        return f"{lead}, is not measurably better: the data cannot tell the two apart, and {gain}."
    reason = "it takes new data without training, so it stays current as the data changes" if stays else \
        "see the reasons below"
    return f"{lead}, is more accurate, but {title} is chosen: {reason} ({cost})."


def constraint_words(rec: Recommendation, choice, constraints: Constraints) -> str:
    """What the choice does against each constraint set, naming the time a latency limit is held to."""
    parts = []
    if constraints.accuracy_floor is not None:
        verb = "meets" if choice.meets_accuracy else "misses"
        parts.append(f"{verb} your {rec.quality} floor of {constraints.accuracy_floor:.3f}")
    if constraints.budget_dollars is not None:
        verb = "stays within" if choice.meets_budget else "goes over"
        parts.append(f"{verb} your {money(constraints.budget_dollars)} budget ({money(choice.total_dollars)})")
    if constraints.latency_ms is not None:
        verb = "meets" if choice.meets_latency else "misses"
        held = f"which is on {LATENCY_ALONE}" if choice.latency_alone else "held to the batched time"
        said = latency_words(choice)
        parts.append(f"{verb} your {constraints.latency_ms:g} ms latency limit, {held}: "
                     f"{said[0].lower()}{said[1:]}")
    if not parts:
        return ""
    return "It " + "; it ".join(parts) + "."


def misses_words(row, constraints: Constraints, quality: str) -> str:
    """Why the constraints rule an option out, each limit it misses with its own figure."""
    misses = []
    if not row.meets_accuracy:
        misses.append(f"below the {quality} floor of {constraints.accuracy_floor:.3f}")
    if not row.meets_budget:
        misses.append(f"{money(row.total_dollars)} in total, over the {money(constraints.budget_dollars)} budget")
    if not row.meets_latency:
        limit = f"over the {constraints.latency_ms:g} ms limit"
        misses.append(f"it answers {LATENCY_ALONE} in {row.latency_ms:.2f} ms, {limit} ({LATENCY_BATCHED} it takes "
                      f"{row.inference_seconds_per_1k:.2f} ms per query, but the limit is on {LATENCY_ALONE})"
                      if row.latency_alone else
                      f"it takes {row.latency_ms:.2f} ms per query {LATENCY_BATCHED}, {limit} ({LATENCY_ALONE} was "
                      "not measured)")
    return "; ".join(misses)


def any_constraint(constraints: Constraints) -> bool:
    return any(v is not None for v in (constraints.accuracy_floor, constraints.budget_dollars, constraints.latency_ms))


def judged_words(constraints: Constraints, quality: str = "accuracy") -> str:
    """The constraints the verdict was judged with, in one line."""
    limits = [f"{quality} floor {constraints.accuracy_floor:.3f}" if constraints.accuracy_floor is not None else "",
              f"budget {money(constraints.budget_dollars)}" if constraints.budget_dollars is not None else "",
              f"latency limit {constraints.latency_ms:g} ms for {LATENCY_ALONE}" if constraints.latency_ms is not None
              else ""]
    limits = [limit for limit in limits if limit]
    said = ("your constraints: " + ", ".join(limits)) if limits else \
        f"no constraints (no {quality} floor, budget or latency limit)"
    changes = f"; new data arrives {constraints.retrains} times" if constraints.data_changes_often else ""
    return f"Judged with {said}; {constraints.queries:,} queries over {constraints.months} months{changes}."
