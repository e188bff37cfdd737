"""recognition: read the boxes, marks and handwriting regions of an aligned page."""
