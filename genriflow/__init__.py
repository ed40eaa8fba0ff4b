"""Classify songs into genres from their audio: four features, five model families and a library classifier, written as notebooks

Modules:

- `genriflow.synth`: Eight procedural "genres" rendered with numpy and written in GTZAN's layout, so every notebook and command runs with no download."""

__version__ = "0.0.1"
"""Classify songs into genres from their audio: four features, five model families and a library classifier, written as notebooks

Modules:

- `genriflow.synth`: Eight procedural "genres" rendered with numpy and written in GTZAN's layout, so every notebook and command runs with no download."""
