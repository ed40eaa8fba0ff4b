"""`genriflow train LIBRARY --labels ...` end to end: a library laid out Artist/Album with GENRE tags in mp3, flac,
m4a and ogg trains a head through a label map; playlists and a CSV train one too; --multi-label stores thresholds
and classify lists every category above its threshold; bad label input is one line."""
import json, re
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import run_cli

av = pytest.importorskip('av')
mutagen = pytest.importorskip('mutagen')
SR = 22050
SUMMARY = re.compile(r'track_accuracy=\d\.\d{4} window_accuracy=\d\.\d{4} macro_f1=\d\.\d{4}')
EXTS = ('.mp3', '.flac', '.m4a', '.ogg')
# (artist, demo style, GENRE values) x 2 albums: the owner's rock / jazz / classical under many names
ARTISTS = [('Stone Rollers', 'rock', ['Rock']), ('Iron Pans', 'metal', ['Heavy Metal']),
           ('Blue Trio', 'jazz', ['Jazz']), ('Bird Lives', 'jazz', ['Bebop', 'Jazz']),
           ('Quartetto', 'classical', ['Classical']), ('Fugues', 'classical', ['baroque'])]
ODD = [('Crossover', ('rock', 'jazz'), ['Rock/Jazz']), ('Nobody', 'disco', []), ('Talk Show', 'reggae', ['Podcast'])]


def write_m4a(path, y, sr):
    "AAC in MP4 through PyAV (soundfile writes no m4a)."
    with av.open(str(path), 'w', format='mp4') as c:
        s = c.add_stream('aac', rate=sr, layout='mono')
        for i in range(0, len(y), sr):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(y[None, i:i + sr], np.float32), format='fltp', layout='mono')
            f.sample_rate, f.pts = sr, i
            for pk in s.encode(f): c.mux(pk)
        for pk in s.encode(None): c.mux(pk)


def make_song(path, style, seed, genres, seconds=8.0):
    "A short synthetic song tagged with mutagen (easy mode: the same keys in every format)."
    from genriflow.synth import render_clip
    path.parent.mkdir(parents=True, exist_ok=True)
    y = render_clip(style, seconds, SR, seed=seed) if isinstance(style, str) else 0.5 * sum(render_clip(s, seconds, SR, seed=seed) for s in style)
    write_m4a(path, y, SR) if path.suffix == '.m4a' else sf.write(path, y, SR)
    f = mutagen.File(path, easy=True)
    if f.tags is None: f.add_tags()
    f['title'] = path.stem
    if genres: f['genre'] = genres
    f.save()
    return path


@pytest.fixture(scope='module')
def library(tmp_path_factory):
    "Music/Artist/Album/NN title.ext in four formats, a label map, and the models folder the tests share (one embedding cache)."
    base = tmp_path_factory.mktemp('labels'); lib = base / 'Music'; i = 0
    for artist, style, genres in ARTISTS:
        for album in ('First', 'Second'):
            make_song(lib / artist / album / f'{i:02d} track{i}{EXTS[i % 4]}', style, i, genres); i += 1
    for artist, style, genres in ODD:
        make_song(lib / artist / 'Album' / f'{i:02d} track{i}{EXTS[i % 4]}', style, i, genres); i += 1
    (base / 'map.csv').write_text('value,category\nRock,rock\nHeavy Metal,rock\nJazz,jazz\nBebop,jazz\nClassical,classical\nBaroque,classical\n')
    return lib, base


def category_of(path):
    "The owner's category of a library file, from its artist folder."
    artist = Path(path).relative_to(Path(path).parents[2]).parts[0]
    return {a: {'metal': 'rock'}.get(s, s) for a, s, _ in ARTISTS}.get(artist)


def test_train_from_tags(library):
    "A library laid out Artist/Album with GENRE tags in mp3/flac/m4a/ogg trains a head through a label map."
    lib, base = library
    out = base / 'models' / 'tags'
    r = run_cli('train', lib, '--labels', 'tags', '--label-map', base / 'map.csv', '--model', 'musicnn-head', '--min-songs', 3,
                '--epochs', 20, '--out', out, '--no-progress', timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '12 songs in 3 categories: classical 4, jazz 4, rock 4' in r.stdout, r.stdout
    assert '3 files left out: 1 ambiguous: rock and jazz, 1 no genre value, 1 maps to no category' in r.stdout, r.stdout
    assert SUMMARY.fullmatch(r.stdout.strip().splitlines()[-1]), r.stdout
    meta = json.loads((out / 'bundle.json').read_text())
    assert meta['class_names'] == ['classical', 'jazz', 'rock'] and meta['model'] == 'musicnn-head'
    recorded = [t['path'] for s in meta['split_tracks'].values() for t in s]
    assert len(recorded) == 12 and {Path(p).suffix for p in recorded} == set(EXTS)
    assert all(len(Path(p).parts) == 3 for p in recorded)  # Artist/Album/track, relative to the library


def test_too_few_songs_and_bad_rows_are_one_line(library):
    "A category below --min-songs, a label map row that does not parse, --labels playlists without a folder: one line, exit 2."
    lib, base = library
    (base / 'bad-map.csv').write_text('Rock,rock\nJazz;jazz\n')
    for args, msg in ((['--label-map', base / 'map.csv', '--min-songs', 5], "too few songs: category 'classical' has 4"),
                      (['--label-map', base / 'bad-map.csv'], f'{base / "bad-map.csv"}: row 2 does not parse'),
                      (['--labels', 'playlists'], 'needs --playlists DIR')):
        a = ['--labels', 'tags', *args] if '--labels' not in args else args
        r = run_cli('train', lib, *a, '--model', 'musicnn-head', '--out', base / 'models' / 'never', '--no-progress')
        assert r.returncode == 2, r.stdout + r.stderr
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (base / 'models' / 'never').exists()


def test_train_from_playlists(library):
    "One playlist per category (relative with #EXTINF and a BOM, absolute in Latin-1, file:// URLs) trains a head."
    lib, base = library
    pls = base / 'Playlists'; pls.mkdir()
    songs = sorted(p for p in lib.rglob('*.*') if category_of(p))
    by = {c: [p for p in songs if category_of(p) == c] for c in ('rock', 'jazz', 'classical')}
    (pls / 'Rock.m3u8').write_text('\ufeff#EXTM3U\n' + ''.join(f'#EXTINF:8,{p.stem}\n../Music/{p.relative_to(lib).as_posix()}\n' for p in by['rock']), encoding='utf-8')
    (pls / 'Jazz.m3u').write_bytes(('\n'.join(map(str, by['jazz'])) + '\n/nowhere/Caf\xe9.mp3\n').encode('latin-1'))
    (pls / 'Classical.m3u').write_text('\n'.join(p.as_uri() for p in by['classical'] + by['rock'][:1]) + '\n')
    out = base / 'models' / 'playlists'
    r = run_cli('train', lib, '--labels', 'playlists', '--playlists', pls, '--model', 'musicnn-head', '--min-songs', 3,
                '--epochs', 20, '--out', out, '--no-progress', timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '11 songs in 3 categories: Classical 4, Jazz 4, Rock 3' in r.stdout, r.stdout
    assert 'ambiguous: Classical and Rock' in r.stdout and f'{pls / "Jazz.m3u"}:5: points to no audio file: /nowhere/Caf\xe9.mp3' in r.stdout and '1 entries pointing nowhere: 1 points to no audio file' in r.stdout, r.stdout
    assert SUMMARY.fullmatch(r.stdout.strip().splitlines()[-1]), r.stdout
    assert json.loads((out / 'bundle.json').read_text())['class_names'] == ['Classical', 'Jazz', 'Rock']


def test_multi_label_from_csv_and_classify(library, tmp_path):
    "A path,label CSV with several categories per song trains a multi-label head; classify lists the categories above threshold."
    lib, base = library
    songs = sorted(p for p in lib.rglob('*.*') if category_of(p)) + sorted((lib / 'Crossover').rglob('*.*'))
    labels = [category_of(p) or 'rock;jazz' for p in songs]
    pd.DataFrame(dict(path=[p.relative_to(lib).as_posix() for p in songs] + ['gone.mp3'], label=labels + ['rock'])).to_csv(tmp_path / 'labels.csv', index=False)
    out = base / 'models' / 'multi'
    r = run_cli('train', lib, '--labels', tmp_path / 'labels.csv', '--multi-label', '--model', 'musicnn-head', '--min-songs', 3,
                '--epochs', 30, '--out', out, '--no-progress', timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '13 songs in 3 categories: jazz 5, rock 5, classical 4' in r.stdout and '1 entries pointing nowhere: 1 no audio file' in r.stdout, r.stdout
    assert re.fullmatch(r'micro_f1=\d\.\d{4} macro_f1=\d\.\d{4} exact_match=\d\.\d{4} top1_correct=\d\.\d{4}', r.stdout.strip().splitlines()[-1]), r.stdout
    meta = json.loads((out / 'bundle.json').read_text())
    assert meta['multi_label'] is True and len(meta['thresholds']) == 3 and all(0 < t < 1 for t in meta['thresholds'])
    r = run_cli('classify', *songs[:3], '--model', out, '--output', tmp_path / 'multi.csv', '--no-progress')
    assert r.returncode == 0, r.stdout + r.stderr
    df = pd.read_csv(tmp_path / 'multi.csv', keep_default_na=False)
    assert 'genres' in df.columns and len(df) == 3
    for g, gs in zip(df['genre'], df['genres']):  # the top genre leads the list whenever any category passes
        assert not gs or gs.split('; ')[0] == g, (g, gs)
