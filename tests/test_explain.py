"""Explanations, similar songs and the library map (genriflow.explain, .similar, .libmap): the map page rendered by headless Chromium with
no network, nearest songs on hand-made embeddings, and `genriflow explain | similar | map` end to end.

Chromium is the Debian package `chromium`. Without it the browser test skips, except under CI (`CI` set), where it
fails. The map's screenshot is saved to test-artifacts/library_map.png.
"""
from __future__ import annotations
import json, os, re, shutil, subprocess, tempfile
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from conftest import GENRES, run_cli, write_audio

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / 'test-artifacts'
N_SONGS, MAP_GENRES, DIM = 60, ('blues', 'metal', 'jazz'), 400


def chromium() -> str | None:
    "The Chromium (or Chrome) executable: $CHROMIUM, else the first one on PATH."
    if os.environ.get('CHROMIUM'): return os.environ['CHROMIUM']
    return next((p for n in ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable') if (p := shutil.which(n))), None)


def drawn_in_chromium(page: Path, n: int) -> str:
    "Load a map page in headless Chromium, check it drew all `n` points; the browser (skip without one, fail under CI)."
    exe = chromium()
    if not exe:
        if os.environ.get('CI'): pytest.fail('CI is set but Chromium is not installed: apt-get install -y chromium')
        pytest.skip('Chromium is not installed (apt-get install -y chromium); CI would fail here')
    r = headless(exe, '--virtual-time-budget=10000', '--dump-dom', page.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    points, drawn = re.search(r'data-points="(\d+)"', r.stdout), re.search(r'data-drawn="(\d+)"', r.stdout)
    assert points and drawn, 'the plot did not finish drawing: ' + r.stdout[-500:]
    assert int(points.group(1)) == n and int(drawn.group(1)) == n, (points.group(1), drawn.group(1), n)
    return exe


def headless(exe: str, *args, timeout=60) -> subprocess.CompletedProcess:
    "Run headless Chromium once with every network request failing (the page must be self-contained)."
    profile = tempfile.mkdtemp(prefix='genriflow-chromium-')
    try:
        return subprocess.run([exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                               '--disable-background-networking', '--disable-component-update', '--disable-sync',
                               '--disable-dev-shm-usage', '--hide-scrollbars', '--mute-audio', f'--user-data-dir={profile}',
                               '--host-resolver-rules=MAP * ~NOTFOUND', *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)
    finally: shutil.rmtree(profile, ignore_errors=True)


def hand_made_library(folder: Path, n=N_SONGS, genres=MAP_GENRES, dim=DIM, seed=0) -> tuple[Path, list, np.ndarray]:
    "results.json and results.embeddings.npz written by hand: n songs in clusters by genre, no audio."
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(genres), dim)).astype(np.float32) * 3
    paths = [str(folder / 'Music' / f'{genres[i % len(genres)]} song {i:03d}.mp3') for i in range(n)]
    vectors = np.stack([centres[i % len(genres)] + rng.standard_normal(dim).astype(np.float32) for i in range(n)])
    rows = [dict(path=p, genre=genres[i % len(genres)], probability=round(float(rng.uniform(0.4, 1)), 4), runner_up='',
                 error='', duration=200.0) for i, p in enumerate(paths)]
    for p in paths: Path(p).parent.mkdir(parents=True, exist_ok=True); Path(p).touch()  # similar and map skip missing files
    results = folder / 'results.json'
    results.write_text(json.dumps(rows, indent=1))
    np.savez(folder / 'results.embeddings.npz', paths=np.array(paths, dtype=str), vectors=vectors, model=np.array('musicnn'))
    return results, paths, vectors


def test_library_map_renders_offline(tmp_path):
    "Every song is a drawn point, with plotly.js inside the page and the network off; a screenshot is kept."
    from genriflow.libmap import library_map
    results, paths, _ = hand_made_library(tmp_path)
    page = library_map(results, tmp_path / 'library.html', projection='pca', progress=False)
    html = page.read_text()
    assert not re.search(r'<script[^>]+src=["\']https?:', html), 'the page loads a script from the network'
    assert html.count('"mode":"markers"') == len(MAP_GENRES), 'one trace per genre'
    assert not list(tmp_path.glob('.library.html.*')), 'temporary file left behind'
    exe = drawn_in_chromium(page, len(paths))
    shot = ARTIFACTS / 'library_map.png'
    ARTIFACTS.mkdir(exist_ok=True); shot.unlink(missing_ok=True)
    r = headless(exe, '--virtual-time-budget=10000', f'--screenshot={shot}', '--window-size=1200,800', page.as_uri())
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    import matplotlib.image
    img = matplotlib.image.imread(shot)
    assert img.shape[:2] == (800, 1200) and img[..., :3].std() > 0.02, 'the screenshot is blank'


def test_similar_on_hand_made_vectors(tmp_path):
    "A library song finds itself first at similarity 1, then its own genre; CSV columns and the M3U radio."
    from genriflow.similar import similar, similar_songs
    results, paths, vectors = hand_made_library(tmp_path)
    near = similar(paths[4], paths, vectors, k=5)
    assert near['path'][0] == paths[4] and abs(near['similarity'][0] - 1) < 1e-5
    out, m3u = tmp_path / 'near.csv', tmp_path / 'radio' / 'radio.m3u8'
    near = similar_songs(paths[4], results, k=10, output=out, m3u=m3u)
    back = pd.read_csv(out)
    assert list(back.columns) == ['rank', 'path', 'similarity', 'genre']
    assert back['rank'].tolist() == list(range(1, 11)) and back['path'][0] == paths[4]
    assert back['similarity'].is_monotonic_decreasing and (back['genre'] == MAP_GENRES[4 % len(MAP_GENRES)]).all()
    lines = m3u.read_text().splitlines()
    assert lines[0] == '#EXTM3U' and len(lines) == 21 and lines[1] == '#EXTINF:200,' + Path(paths[4]).stem
    assert (m3u.parent / lines[2]).resolve() == Path(paths[4]).resolve()


def test_similar_refuses_what_it_cannot_answer(tmp_path):
    "A song outside a library whose model is gone, and a library without embeddings, are user errors."
    from genriflow.similar import similar_songs
    from genriflow.files import UserError
    results, paths, _ = hand_made_library(tmp_path)
    data = dict(np.load(tmp_path / 'results.embeddings.npz'))
    np.savez(tmp_path / 'results.embeddings.npz', **dict(data, model=np.array(str(tmp_path / 'deleted-bundle'))))
    write_audio(tmp_path / 'elsewhere.wav', np.zeros(22050 * 5, np.float32), 22050)
    with pytest.raises(UserError, match='not in the library'): similar_songs(tmp_path / 'elsewhere.wav', results)
    (tmp_path / 'results.embeddings.npz').unlink()
    with pytest.raises(UserError, match='embeddings'): similar_songs(paths[0], results)


def _has_commands(*names) -> bool:
    r = run_cli('--help', timeout=60)
    return all(re.search(rf'^\s+{n}\s', r.stdout, re.M) for n in names)


@pytest.mark.skipif(not _has_commands('explain', 'similar', 'map'), reason='`genriflow explain`, `similar` and `map` are not in `genriflow --help` yet')
def test_explain_similar_map_commands(tiny_bundle, tmp_path):
    "classify --embeddings, then explain a song, list the songs like it (CSV + M3U) and draw the map, as a user would."
    from genriflow.synth import render_clip, DEMO_GENRES
    bundle, _ = tiny_bundle
    lib = tmp_path / 'Music'
    for i in range(6):
        write_audio(lib / f'{DEMO_GENRES[i % GENRES]}-{i}.flac', render_clip(DEMO_GENRES[i % GENRES], seconds=30, sr=22050, seed=500 + i), 22050)
    results = tmp_path / 'x.json'
    r = run_cli('classify', lib, '--model', bundle, '--output', results, '--embeddings', '--workers', 1, '--no-progress')
    assert r.returncode == 0 and (tmp_path / 'x.embeddings.npz').is_file(), r.stdout + r.stderr
    song = sorted(lib.glob('*.flac'))[0]
    rows = {row['path']: row for row in json.loads(results.read_text())}

    r = run_cli('explain', song, '--model', bundle, '--out', tmp_path / 'why.png', '--no-progress')
    assert r.returncode == 0, r.stdout + r.stderr
    genre = rows[str(song)]['genre']
    assert re.match(rf'{re.escape(genre)} \(\d\.\d\d\), ', r.stdout), r.stdout
    assert (tmp_path / 'why.png').stat().st_size > 10_000

    r = run_cli('similar', song, '--library', results, '-k', 4, '--output', tmp_path / 'near.csv', '--m3u', tmp_path / 'radio.m3u8')
    assert r.returncode == 0, r.stdout + r.stderr
    near = pd.read_csv(tmp_path / 'near.csv')
    assert list(near.columns) == ['rank', 'path', 'similarity', 'genre'] and len(near) == 4
    assert near['path'][0] == str(song) and abs(near['similarity'][0] - 1) < 1e-5 and near['genre'][0] == genre
    assert (tmp_path / 'radio.m3u8').read_text().splitlines()[2] == os.path.relpath(song, tmp_path)

    r = run_cli('map', results, '--out', tmp_path / 'library.html')
    assert r.returncode == 0, r.stdout + r.stderr
    html = (tmp_path / 'library.html').read_text()
    assert 'Plotly.newPlot' in html and not re.search(r'<script[^>]+src=["\']https?:', html)

    bad = tmp_path / 'broken.mp3'; bad.write_text('not audio\n' * 100)
    r = run_cli('explain', bad, '--model', bundle)
    assert r.returncode != 0 and 'broken.mp3' in r.stderr and 'Traceback' not in r.stderr, r.stderr
