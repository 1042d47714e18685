"""A base64 PDF's pages are counted a chunk at a time: a 20 MB PDF (the body limit's size) no
longer decodes whole beside its base64 (46 MB traced at the peak before, ~5 MB now), and a page
mark that straddles a chunk seam is still counted once."""

from __future__ import annotations

import base64
import tracemalloc

from arbiter import media


def _pdf(pages: int, filler: int) -> bytes:
    page = b"1 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" + b"x" * filler + b"\n"
    return b"%PDF-1.7\n<< /Type /Pages /Count 1 >>\n" + page * pages


def test_a_20_mb_pdf_is_counted_without_decoding_it_whole() -> None:
    data = base64.b64encode(_pdf(330, 60_000)).decode()  # 19.8 MB, 26 M base64 characters
    tracemalloc.start()
    try:
        pages = media.pdf_pages(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pages == 330
    assert peak < 8_000_000, f"{peak / 1e6:.1f} MB traced at the peak"


def test_marks_across_chunk_seams_count_once() -> None:
    chunk = media.PDF_CHUNK_CHARS * 3 // 4  # the decoded bytes of one chunk
    for shift in range(0, 13):
        head = b"%PDF-1.7\n<< /Type /Pages /Count 2 >>\n"
        pad = b"y" * (chunk - len(head) - shift)  # the second page's mark starts `shift` early
        pdf = head + pad + b"/Type /Page >>" + b"z" * 100 + b"/Type/Page >>" + b"w" * 50
        assert media.pdf_pages(base64.b64encode(pdf).decode()) == 2, shift
    spaced = base64.encodebytes(_pdf(3, 400_000)).decode()  # MIME base64: a newline every 76
    assert media.pdf_pages(spaced) == 3
