"""Reading the user's documents: every format, and every bad document named in one line, never a crash."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from core.config import parse_config
from core.errors import ConfigError, DataError
from core.task.documents import DocumentsSpec, read_documents
from tests.core.document_files import encrypted_pdf, pdf_with_text, pdf_without_text, zip_bytes

HTML = """<!doctype html><html><head><title>T</title><style>body {color: red}</style>
<script>var tracking = "SECRET_SCRIPT";</script></head>
<body><nav><a href="/">Home</a> | <a href="/x">NAVIGATION_LINK</a></nav>
<header>SITE_HEADER</header>
<h1>Returns   policy</h1>
<p>Items can be returned
   within <b>30 days</b>.</p><p>Refunds take 5 days.</p>
<h2>Exceptions</h2><ul><li>Gift cards</li><li>Sale items</li></ul>
<aside>RELATED_ASIDE</aside><noscript>NOSCRIPT_TEXT</noscript><footer>FOOTER_TEXT</footer></body></html>"""


def _read(path, **settings):
    return read_documents(DocumentsSpec(path=path, **settings))


def test_a_folder_of_every_format_keeps_each_documents_name(tmp_path):
    folder = tmp_path / "handbook"
    (folder / "guides").mkdir(parents=True)
    (folder / "intro.md").write_text("# Intro\n\nWelcome to the handbook.\n")
    (folder / "guides" / "setup.rst").write_text("Setup\n=====\n\nInstall the agent.\n")
    (folder / "notes.txt").write_text("\ufeffPlain notes, with a byte-order mark.\n")
    (folder / "policy.html").write_text(HTML)
    (folder / "manual.pdf").write_bytes(pdf_with_text(["The pump runs at 40 bar.", "Service it yearly."]))
    pd.DataFrame({"text": ["Ticket one text.", "Ticket two text."], "title": ["t1", "t2"]}).to_parquet(
        folder / "tickets.parquet")
    (folder / "faq.jsonl").write_text('{"text": "How do I log in?"}\n{"text": "Where is the VPN?"}\n')
    (folder / "kb.csv").write_text("text\nCSV article one\n")

    docs = _read(folder)

    assert docs.skipped == []
    texts = dict(zip(docs.frame.document, docs.frame.text))
    assert set(texts) == {"intro.md", "guides/setup.rst", "notes.txt", "policy.html", "manual.pdf",
                          "tickets.parquet#1", "tickets.parquet#2", "faq.jsonl#1", "faq.jsonl#2", "kb.csv#1"}
    assert texts["notes.txt"] == "Plain notes, with a byte-order mark."
    assert texts["manual.pdf"] == "The pump runs at 40 bar.\n\nService it yearly."
    assert texts["policy.html"] == ("# Returns policy\n\nItems can be returned within 30 days.\n\nRefunds take 5 days."
                                    "\n\n## Exceptions\n\nGift cards\n\nSale items")
    by_title = read_documents(DocumentsSpec(path=folder / "tickets.parquet", name_column="title")).frame
    assert by_title.document.tolist() == ["t1", "t2"]


def test_html_keeps_only_what_a_reader_sees(tmp_path):
    (tmp_path / "page.htm").write_text(HTML)
    text = _read(tmp_path / "page.htm").frame.text[0]
    for hidden in ("SECRET_SCRIPT", "color: red", "NAVIGATION_LINK", "SITE_HEADER", "RELATED_ASIDE", "NOSCRIPT_TEXT",
                   "FOOTER_TEXT"):
        assert hidden not in text


def test_bad_documents_are_named_one_line_each_and_the_rest_is_read(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text("A good document about pumps.")
    (folder / "z-copy.md").write_text("a GOOD   document about pumps.\n")  # the same text, spaced and cased anew
    (folder / "blank.txt").write_text("  \n\n ")
    (folder / "scan.pdf").write_bytes(pdf_without_text())
    (folder / "locked.pdf").write_bytes(encrypted_pdf("The vault code is 1234."))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf at all")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "latin1.md").write_bytes("Caf\xe9 menu".encode("latin-1"))
    (folder / "sheet.xlsx").write_bytes(b"PK\x03\x04 not read")
    (folder / "table.csv").write_text("body\nno text column here\n")
    (folder / "broken.jsonl").write_text("{not json\n")

    docs = _read(folder)

    assert docs.frame.document.tolist() == ["good.md"]
    reasons = dict(docs.skipped)
    assert len(docs.skipped) == 10
    assert reasons["z-copy.md"] == "duplicate: the same text as good.md"
    assert reasons["blank.txt"].startswith("empty")
    assert "without a text layer" in reasons["scan.pdf"]
    assert "encrypted" in reasons["locked.pdf"]
    assert "not a readable PDF" in reasons["broken.pdf"]
    assert "binary" in reasons["image.txt"]
    assert "not UTF-8" in reasons["latin1.md"]
    assert "not a document type" in reasons["sheet.xlsx"]
    assert "no text column 'text'" in reasons["table.csv"]
    assert "line 1 is not valid JSON" in reasons["broken.jsonl"]
    summary = docs.summary()
    assert summary["documents"] == 1 and summary["skipped"] == 10 and summary["characters"] == 28
    assert len(docs.notes) == 1 and "10 document(s) skipped" in docs.notes[0]


def test_nothing_usable_is_one_sentence(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(pdf_without_text())
    with pytest.raises(DataError, match="no usable documents in scan.pdf: 1 document.*without a text layer"):
        _read(tmp_path / "scan.pdf")


def test_limits_name_the_file(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"d{i}.txt").write_text(f"document number {i} " * 10)
    (folder / "big.txt").write_text("x" * 5000)
    docs = _read(folder, max_file_bytes=1000)
    assert dict(docs.skipped)["big.txt"].startswith("5,000 bytes, more than the 1,000 a document may have")
    # read in name order: big.txt (5,000 bytes), d0.txt (180), d1.txt, d2.txt
    with pytest.raises(DataError, match=r"d1.txt: more than 2 documents \(documents.max_documents\)"):
        _read(folder, max_documents=2)
    with pytest.raises(DataError, match=r"d0.txt: reading it takes the documents past 5,100 bytes"):
        _read(folder, max_total_bytes=5100)


def test_a_list_of_files_and_a_zip(tmp_path):
    (tmp_path / "a.md").write_text("Alpha text.")
    (tmp_path / "b.zip").write_bytes(zip_bytes({"inner/c.txt": b"Gamma text.", ".DS_Store": b"\x00\x01",
                                                "__MACOSX/._c.txt": b"\x00"}))
    docs = _read([tmp_path / "a.md", tmp_path / "b.zip"])
    assert docs.frame.document.tolist() == ["a.md", "b.zip/inner/c.txt"]
    assert _read(tmp_path / "b.zip").frame.document.tolist() == ["inner/c.txt"]
    folder = tmp_path / "folder"  # as the dashboard stores an upload of several files, a zip among them
    folder.mkdir()
    (tmp_path / "b.zip").rename(folder / "b.zip")
    assert _read(folder).frame.document.tolist() == ["b.zip/inner/c.txt"]


def test_a_zip_cannot_escape_link_or_nest(tmp_path):
    archive = tmp_path / "docs.zip"
    archive.write_bytes(zip_bytes(
        {"ok.md": b"Fine text.", "../escape.md": b"Escaped.", "/etc/passwd.txt": b"Absolute.",
         "a/../../up.txt": b"Up.", "C:/windows.txt": b"Drive.", "inner.zip": zip_bytes({"x.txt": b"Nested."})},
        symlinks={"link.txt": "/etc/passwd"}))
    docs = _read(archive)
    assert docs.frame.document.tolist() == ["ok.md"]
    reasons = dict(docs.skipped)
    for name in ("../escape.md", "/etc/passwd.txt", "a/../../up.txt", "C:/windows.txt"):
        assert "leaves the archive" in reasons[f"docs.zip:{name}"]
    assert "symbolic link" in reasons["docs.zip:link.txt"]
    assert "nested archives are not opened" in reasons["docs.zip:inner.zip"]
    assert not (tmp_path / "escape.md").exists()


def test_a_folder_link_leading_outside_is_not_followed(tmp_path):
    (tmp_path / "secret.txt").write_text("Outside the folder.")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "in.txt").write_text("Inside.")
    (folder / "out.txt").symlink_to(tmp_path / "secret.txt")
    docs = _read(folder)
    assert docs.frame.document.tolist() == ["in.txt"] and "outside the folder" in dict(docs.skipped)["out.txt"]


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bytes({"readme.md": b"Hello.", "bomb.txt": b"0" * 20_000_000}))
    assert archive.stat().st_size < 100_000  # a few kilobytes that expand to 20 MB
    with pytest.raises(DataError, match=r"bomb.zip: the archive expands to 20,000,006 bytes, more than the "
                                        r"10,000,000 allowed \(documents.max_zip_expanded_bytes\)"):
        _read(archive, max_zip_expanded_bytes=10_000_000)


def test_a_zip_lying_about_its_size_is_stopped_while_reading(tmp_path):
    archive = tmp_path / "liar.zip"
    archive.write_bytes(_understated(zip_bytes({"a.md": b"Fine.", "bomb.txt": b"0" * 5_000_000}), "bomb.txt", 100))
    with zipfile.ZipFile(archive) as check:  # the archive now claims 105 bytes in all
        assert sum(info.file_size for info in check.infolist()) == 105
    docs = _read(archive, max_zip_expanded_bytes=1_000_000, max_file_bytes=1_000)
    assert docs.frame.document.tolist() == ["a.md"]
    assert "damaged" in dict(docs.skipped)["liar.zip:bomb.txt"]


def _understated(raw: bytes, name: str, size: int) -> bytes:
    """The zip with `name`'s uncompressed size rewritten to `size` in both its headers (a forged archive)."""
    data = bytearray(raw)
    encoded = name.encode()
    local = data.find(b"PK\x03\x04")
    while local != -1:
        if data[local + 30:local + 30 + len(encoded)] == encoded:
            data[local + 22:local + 26] = size.to_bytes(4, "little")
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        if data[central + 46:central + 46 + len(encoded)] == encoded:
            data[central + 24:central + 28] = size.to_bytes(4, "little")
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


def test_the_config_takes_documents_for_a_qa_task_only(tmp_path):
    config = parse_config({"name": "d", "task": {"kind": "qa", "path": "q.jsonl", "documents": {"path": "handbook"}}},
                          base_dir=tmp_path)
    assert config.task.documents.path == tmp_path / "handbook"
    listed = parse_config({"name": "d", "task": {"kind": "qa", "path": "q.jsonl",
                                                 "documents": {"path": ["a.md", "/abs/b.pdf"]}}}, base_dir=tmp_path)
    assert listed.task.documents.path == [tmp_path / "a.md", Path("/abs/b.pdf")]
    with pytest.raises(ConfigError, match="set `kind: qa`"):
        parse_config({"name": "d", "task": {"path": "t.csv", "documents": {"path": "handbook"}}})
    with pytest.raises(ConfigError, match="chunk_overlap .32. must be smaller than chunk_tokens .32."):
        parse_config({"name": "d", "task": {"kind": "qa", "path": "q.jsonl",
                                            "documents": {"path": "h", "chunk_tokens": 32, "chunk_overlap": 32}}})
