"""Audience signals: online counts and likes (the ``tally`` interface, its ``memory`` and
``redis_tally`` siblings), room comments (``comments``), composed by ``signals``."""
