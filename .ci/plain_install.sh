#!/usr/bin/env bash
# Install genriflow as a user does, without the dev extra, and use it: build the wheel, check that it carries the
# musicnn weights, their vocabularies and licence, install it (torch first, as the README says) into a clean
# virtual environment, then run `genriflow --version`, import every module, classify an mp3 and a flac it makes
# with the default tagger, and explain one. Prints its own last line "plain install: passed" or exits non-zero.
# Usage: bash .ci/plain_install.sh   (from anywhere; the venv and songs go under .ci-plain/, ignored by git)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD WORK=$PWD/.ci-plain
export PIP_DISABLE_PIP_VERSION_CHECK=1 MPLBACKEND=Agg PYTHONWARNINGS=ignore
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV  # nothing of the developer's environment may leak in
fail() { echo "plain install: FAILED: $*"; exit 1; }
log() { printf -- '--- %s\n' "$*"; }

rm -rf "$WORK" && mkdir -p "$WORK/wheel" "$WORK/songs" "$WORK/run"
log "clean virtual environment, torch first"
python3 -m venv "$WORK/venv" || fail "python3 -m venv"
PY=$WORK/venv/bin/python
"$PY" -m pip install -q torch==2.13.0 || fail "torch install"

log "wheel (pip wheel --no-deps .) and its file list"
"$PY" -m pip wheel -q --no-deps -w "$WORK/wheel" "$ROOT" || fail "pip wheel"
WHEEL=$(ls "$WORK"/wheel/genriflow-*.whl) || fail "no wheel built"
"$PY" - "$WHEEL" <<'EOF' || fail "the wheel lacks files the package needs"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = [f'genriflow/musicnn/{f}' for f in ('LICENSE', 'msd.json', 'mtt.json', 'msd.safetensors', 'mtt.safetensors')]
need += ['genriflow/__init__.py', 'genriflow/cli.py']
missing = [n for n in need if n not in names]
print(f'{sys.argv[1].rsplit("/", 1)[-1]}: {len(names)} files' + (f'; missing {missing}' if missing else '; musicnn weights, json and LICENSE present'))
sys.exit(1 if missing else 0)
EOF

log "install the wheel without the dev extra"
"$PY" -m pip install -q "$WHEEL" || fail "pip install of the wheel"
export PATH="$WORK/venv/bin:$PATH"
cd "$WORK/run"  # not the repository, so that its genriflow/ folder cannot stand in for the installed one

log "genriflow --version"
genriflow --version || fail "genriflow --version"

log "import every module"
"$PY" - "$WORK/venv" <<'EOF' || fail "importing the package's modules"
import importlib, pkgutil, sys
import genriflow
assert genriflow.__file__.startswith(sys.argv[1]), f'genriflow imported from {genriflow.__file__}, not the venv'
mods = sorted(m.name for m in pkgutil.iter_modules(genriflow.__path__))
for m in mods: importlib.import_module(f'genriflow.{m}')
try: import fastcore, nbdev  # fastcore is a dependency; nbdev (dev extra) must not have come along
except ImportError as e: assert e.name == 'nbdev', e
else: raise AssertionError('nbdev is installed: this is not a plain install')
print(f'imported {len(mods)} modules: {" ".join(mods)}')
EOF

log "make songs (mp3, flac)"
"$PY" - "$WORK/songs" <<'EOF' || fail "writing the songs"
import sys, soundfile as sf
from genriflow.features import music_like
sr = 44100
sf.write(f'{sys.argv[1]}/first.mp3', music_like(8.0, sr, seed=1), sr)
sf.write(f'{sys.argv[1]}/second.flac', music_like(8.0, sr, seed=2), sr)
EOF

log "genriflow classify (the default tagger)"
genriflow classify "$WORK/songs" --output "$WORK/run/genres.csv" --no-progress || fail "genriflow classify"
"$PY" - "$WORK/run/genres.csv" <<'EOF' || fail "the results file"
import sys, pandas as pd
df = pd.read_csv(sys.argv[1], keep_default_na=False)
assert len(df) == 2 and (df['error'] == '').all(), df
assert sorted(p.rsplit('.', 1)[-1] for p in df['path']) == ['flac', 'mp3'], df['path']
score = df['confidence'] if 'confidence' in df else df['probability']  # the top genre's score, either name
assert (df['genre'] != '').all() and score.between(0, 1).all() and (df['model'] != '').all(), df
print(f'{sys.argv[1]}: {len(df)} rows, no errors')
EOF

log "genriflow explain"
genriflow explain "$WORK/songs/first.mp3" --out "$WORK/run/why.png" --no-progress || fail "genriflow explain"
[ -s "$WORK/run/why.png" ] || fail "genriflow explain wrote no figure"

echo "plain install: passed"
