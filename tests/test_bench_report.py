"""bench/report.py rewrites docs/BENCHMARKS.md from the records and keeps every section written by hand."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import report  # noqa: E402


def test_a_rewrite_keeps_hand_written_sections_in_their_place():
    generated = "# Benchmarks\n\nintro\n\n## 12. Dashboard\n\nfrom a record\n\n## 13. BM25\n\nfrom a record\n"
    by_hand = ("<!-- section 13 (issue 26): BM25; begin -->\n## 13. BM25\n\nmeasured by hand: 1.02x\n"
               "<!-- section 13: end -->")
    extra = "<!-- section 14 (issue 26): ingest; begin -->\n## 14. Ingest\n\n174.5 s\n<!-- section 14: end -->"
    earlier = "<!-- section 9 (x): y; begin -->\n## 9. Nine\n\nby hand\n<!-- section 9: end -->"
    kept = report.kept_sections(f"old text\n\n{extra}\n\n{by_hand}\n\n{earlier}\n")
    assert sorted(kept) == [9, 13, 14]
    page = report.with_kept(generated, kept)
    assert "from a record\n\n## 13" not in page and page.count("## 13. BM25") == 1  # the hand's version replaces it
    assert page.index("## 9. Nine") < page.index("## 12. Dashboard") < page.index("1.02x") < page.index("174.5 s")
    assert report.with_kept(generated, report.kept_sections(page)) == page  # a second rewrite changes nothing


def test_the_page_on_disk_is_what_a_rewrite_writes():
    """Running `python bench/report.py` now would lose or change nothing in docs/BENCHMARKS.md: every figure on it
    comes from a record in bench/results/ or from a section kept between marks."""
    on_disk = (Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert report.with_kept(report.page(report._records()), report.kept_sections(on_disk)) == on_disk
