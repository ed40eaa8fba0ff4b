"""The genriflow plugin for beets: `plugins: genriflow` in its config, then `beet genriflow QUERY`.

beets looks for plugins in its `beetsplug` namespace package (this folder has no `__init__.py`, like
beets' own) and loads a plugin class defined in the module itself; the code and its documentation
live in `genriflow.beets` (nbs/36_beets.ipynb). Without beets, importing this fails with one line
naming `pip install genriflow[beets]`.
"""
from genriflow.beets import GenriflowPlugin as _GenriflowPlugin


class GenriflowPlugin(_GenriflowPlugin):
    "`beet genriflow [QUERY]`: genres of items from their audio, as flexible attributes."
