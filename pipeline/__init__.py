"""The scan pipeline: files in, pages decoded, identified, aligned and read by workers, stored by one writer.

Modules, read in this order:

- ``run``: ``scan_paths`` and the run loop (the parent: walks files, records results, one transaction per page);
- ``worker``: ``PageWorker`` (decode + identify + read one page; owns its caches and the open file);
  ``outcome``: the page record, assembled once;
- ``executor``: inline or a pool of worker processes (``forkserver``), that die with their parent
  and stay within their memory (``lifeline``);
- ``rerun``: reading stored pages again (a person helped; a survey registered since);
- ``recovery``: closing the batches of runs that died; ``watch``: the hot folder and its quarantine;
- ``jobs``: the job interface the web application hands uploads and re-reads to, and its local
  runner (one background process; the seam where a distributed queue plugs in).

Imports only ``core``, ``formgen``, ``scanner``, ``recognition`` and ``storage``; never the shell
(``phieu``) or the web application (tests/test_architecture.py).
"""
