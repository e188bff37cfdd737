"""The shared ground of every stage: errors with exit codes, the one settings model, and the values
that pass between stages (a page's identity, alignment, reading and outcome).

Leaf package: it imports nothing of ours and no heavy library (numpy only), so formgen, scanner,
recognition, storage, the pipeline, the web application and the shell may all import it.
"""
