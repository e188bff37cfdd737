"""fieldwork: the sample frame, a sheet's life in the field, and where things stand.

frame (units, quotas, households, enumerators; frame files) · lifecycle (statuses and their rules)
· printing (print by frame) · manifest (enumerators' manifests, allowance lists, filled manifests)
· transmittal (batches handed over, reconciliation) · verification (phúc tra) · counters (visitors,
the quota rule) · posters · operations (the operations table) · chart · checkin (the check-in
screen's reading of a typed code). Uses storage for persistence; never imports review_ui.
See docs/fieldwork.md.
"""
