"""recognition: read the boxes, marks and handwriting regions of an aligned page.

Public API (pure functions over numpy arrays; no I/O, no storage):

- ``recognition.page.read_page(aligned, blank, page_layout, layout, *, dpi, settings, ocr=True) -> PageReading``
- ``recognition.marks.prepare_blank(blank, *, dpi, settings) -> BlankMaster`` (once per edition page)
- ``recognition.marks.measure_boxes(aligned, blank, page, *, dpi, settings) -> list[BoxMeasure]``
- ``recognition.rules.answers_for_page(measures, page, layout, *, settings, thresholds=None)``
- ``recognition.handwriting.read_regions(aligned, readout, page, *, dpi, settings, ocr=True, ...)``
"""
