"""Audience signals: online counts, likes, comments."""
