"""scanner: ingest scanned files, find each page's marks, align it, identify it from its QR code.

Public entry points (images are uint8 greyscale numpy (row, col); geometry (x, y), x = column):

- ``scanner.ingest``: ``discover(paths)``, ``ScanReader`` (the one guard every file and page is read
  behind: ``page_count``, ``read_page``, ``pages``), ``page_count(path)``, ``iter_pages(path, settings=...)``
  yielding ``PageImage`` or, for a page that cannot be decoded, ``PageError`` (with its reason code);
  a file that cannot be opened raises ``InputFileError`` (``.reason``). ``scanner.limits`` checks sizes
  from headers before decoding; ``scanner.problems`` names the reasons and writes the clerk's message.
- ``scanner.identify.identify_page(page, editions=..., secret=..., settings=..., canonical_dpi=...)``
  -> ``ScannedPage`` (identity or reason, alignment, page number, upright canonical image).
- ``scanner.align``: ``find_alignment``, ``warp_to_layout``, ``mm_to_px``, ``px_to_mm``.
- ``scanner.qr.decode(image)``: zxing-cpp, then WeChat, then zbar; ``benchmarks/qr_corpus.py``.
"""
