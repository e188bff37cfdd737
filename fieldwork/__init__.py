"""fieldwork: the sample frame, a sheet's life in the field, and where things stand.

frame (units of any depth, quotas, households, enumerators; frame files read by tables) · lifecycle
(statuses and the rules between them) · printing (print by frame) · manifest (enumerators' manifests
and allowance lists, filled manifests) · transmittal (batches handed over, reconciliation) ·
verification (phúc tra) · counters (visitors, the quota rule) · posters · plan (a survey's rules and
dates) · operations (the operations table) · chart (its picture) · workbook (XLSX) · checkin (what the
check-in desk reads) · pdf (printed documents). Persists through storage; never imports review_ui.
See docs/fieldwork.md.
"""
