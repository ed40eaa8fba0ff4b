"""The genriflow plugin for beets: add `plugins: genriflow` to beets' config.yaml, then run `beet genriflow [QUERY]`.

beets looks for plugins in its `beetsplug` namespace package (this folder has no `__init__.py`, like beets' own) and
loads a plugin class defined in the module itself; the code and its documentation live in `genriflow.beets`
(nbs/21_beets.ipynb). Without beets installed, importing this module fails with one line: pip install genriflow[beets].
"""
from genriflow.beets import GenriflowPlugin as _GenriflowPlugin


class GenriflowPlugin(_GenriflowPlugin):
    "`beet genriflow [QUERY]`: genres of items from their audio as flexible attributes; `auto: yes` on import."
