#!/usr/bin/env bash
# Build the docs site offline into _docs/ (open _docs/index.html, or `python -m http.server -d _docs`).
#   1. nbs/sidebar.yml from the notebooks in nbs/ (tools/docs.py sidebar)
#   2. nbdev-proc-nbs: notebooks -> _proc/ with show_doc API entries executed (it also writes nbs/nbdev.yml;
#      the "Quarto is not installed" lines it prints are expected and harmless)
#   3. tools/docs.py prepare: nbdev's absolute doc links -> relative links smalldocs can check
#   4. smalldocs render _proc (pure Python, reads nbdev's _quarto.yml) -> _proc/_docs, moved to _docs/
# Where Quarto is installed, `nbdev-docs` builds the same notebooks with Quarto instead.
# Options: --force re-processes every notebook (otherwise unchanged notebooks are reused from _proc/).
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLBACKEND=Agg PYTHONWARNINGS=ignore
force=()
[ "${1:-}" = "--force" ] && force=(--force)
t0=$(date +%s)
python tools/docs.py sidebar
rm -f _proc/index.ipynb   # its notebook table is generated at build time (#| exec_doc): always re-process it
nbdev-proc-nbs "${force[@]}" > .docs-proc.log 2>&1 || { tail -40 .docs-proc.log; python tools/docs.py hints; echo "nbdev-proc-nbs failed (the error is above)"; rm -f .docs-proc.log; exit 1; }
rm -f .docs-proc.log
python tools/docs.py prepare _proc
smalldocs render --quiet _proc
python tools/docs.py finish _proc _docs
echo "docs built in $(( $(date +%s) - t0 )) s: _docs/index.html"
