"""Token lists of the spam scorer (``pipelines/spam.py``): plain text, one entry per line, ``#`` comments.

A package only so the lists ship with the wheel; see README.md in this folder for the format.
"""
