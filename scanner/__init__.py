"""scanner: ingest scanned files, find each page's marks, align it, identify it from its QR code."""
