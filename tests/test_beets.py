"""The beets plugin against a real beets library the test builds: `beet import -A` of songs it makes, `beet genriflow`,
then `beet ls` reads the attributes back; and `auto: yes` classifies on import with a bundle trained by
`genriflow train --labels tags`. Four short songs keep it affordable on two cores."""
import hashlib, os, subprocess, sys
from pathlib import Path
import pytest
import soundfile as sf
from conftest import run_cli

pytest.importorskip('beets')
mutagen = pytest.importorskip('mutagen')
REPO = Path(__file__).resolve().parents[1]
SONGS = [('rock', 'Rock', '.flac'), ('rock', 'Rock', '.mp3'), ('classical', 'Classical', '.ogg'), ('classical', 'Classical', '.flac')]


def beet(beetsdir, *args, timeout=600) -> subprocess.CompletedProcess:
    "Run `beet ARGS...` with its config in `beetsdir` and this checkout's `beetsplug` first on the path."
    exe = Path(sys.executable).with_name('beet')
    env = dict(os.environ, BEETSDIR=str(beetsdir), PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def digest(path): return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def songs(tmp_path_factory):
    "Four 8 s synthetic songs, Artist/Album laid out, tagged with title, artist, album and GENRE."
    from genriflow.synth import render_clip
    root = tmp_path_factory.mktemp('beets-songs') / 'in'
    for i, (style, genre, ext) in enumerate(SONGS):
        p = root / f'{genre} Band' / 'Album' / f'{i:02d} {style}{i}{ext}'; p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, render_clip(style, 8.0, 22050, seed=i), 22050)
        f = mutagen.File(p, easy=True)
        if f.tags is None: f.add_tags()
        f['title'], f['artist'], f['album'], f['genre'] = f'{style} {i}', f'{genre} Band', 'Album', genre
        f.save()
    return root


def beets_library(tmp, songs, extra='') -> Path:
    "A beets config and library under `tmp` (files stay where they are, nothing written to them), `songs` imported as-is."
    cfg = tmp / 'beetsdir'; cfg.mkdir()
    (cfg / 'config.yaml').write_text(f'directory: {tmp / "library"}\nlibrary: {tmp / "library.db"}\nplugins: genriflow\n'
                                     f'import:\n  copy: no\n  write: no\n{extra}')
    r = beet(cfg, 'import', '-A', '-q', songs)
    assert r.returncode == 0, r.stdout + r.stderr
    return cfg


def listed(cfg, fmt, *query) -> list:
    r = beet(cfg, 'ls', '-f', fmt, *query)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def test_beet_genriflow_stores_a_genre_on_every_item(songs, tmp_path):
    "`beet genriflow` with the built-in tagger: genriflow_genre, confidence, moods on every item; files and genre untouched; a rerun skips."
    before = {p: digest(p) for p in songs.rglob('*.*')}
    cfg = beets_library(tmp_path, songs)
    assert len(listed(cfg, '$title')) == len(SONGS)
    r = beet(cfg, 'genriflow')
    assert r.returncode == 0, r.stdout + r.stderr
    assert f'genriflow: {len(SONGS)} classified, 0 already done by this model, 0 failed' in r.stdout, r.stdout + r.stderr
    genres = listed(cfg, '$genriflow_genre')
    assert len(genres) == len(SONGS) and all(g and not g.startswith('$') for g in genres), genres
    for line in listed(cfg, '$genriflow_confidence|$genriflow_model|$genriflow_moods'):
        conf, model, moods = line.split('|')
        assert 0 <= float(conf) <= 1 and len(model) == 12 and ':' in moods, line
    assert len(listed(cfg, '$title', 'genriflow_confidence:0..1')) == len(SONGS)  # a float field: range queries work
    assert sorted(listed(cfg, '$genres')) == ['Classical', 'Classical', 'Rock', 'Rock']  # genre only with -w
    r = beet(cfg, 'genriflow')
    assert f'genriflow: 0 classified, {len(SONGS)} already done by this model, 0 failed' in r.stdout, r.stdout + r.stderr
    assert {p: digest(p) for p in songs.rglob('*.*')} == before  # nothing written to the files


def test_auto_classifies_on_import_with_a_bundle(songs, tmp_path):
    "`auto: yes` with a head trained by `genriflow train --labels tags` and `write_genre: yes`: classified as imported."
    bundle = tmp_path / 'head'  # labels: the songs' own GENRE tags
    r = run_cli('train', songs, '--labels', 'tags', '--model', 'musicnn-head', '--min-songs', 2, '--epochs', 30, '--out', bundle, '--no-progress', timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = beets_library(tmp_path, songs, f'genriflow:\n  auto: yes\n  write_genre: yes\n  model: {bundle}\n')
    rows = [line.split('|') for line in listed(cfg, '$artist|$genriflow_genre|$genriflow_uncertain|$genres')]
    assert len(rows) == len(SONGS) and all(g in ('Classical', 'Rock') for _, g, _, _ in rows), rows
    confident = [(a, g, gs) for a, g, u, gs in rows if u == 'False']
    assert confident and all(gs == g for _, g, gs in confident), rows  # genre set from confident results only
    assert sum(a == f'{g} Band' for a, g, _, _ in rows) >= 3, rows  # the head learned these very songs
