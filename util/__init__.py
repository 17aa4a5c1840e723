"""Helpers shared by the entry points: errors, image I/O, HTML pages and the training visualiser."""
