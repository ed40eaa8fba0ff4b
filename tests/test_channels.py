"""Mood and tempo channels end to end: `genriflow classify` gives every song bpm, energy, valence, danceability, a
channel and its times of day; silence, noise and too-short songs get none, with the reason; channel playlists beside
the genre playlists; `genriflow channels` rebuilds them from a results file (JSON or CSV, SensMe's channels or a
bundle's own); `genriflow map --by mood` draws one self-contained page, checked in headless Chromium.

Chromium is the Debian package `chromium`. Without it the browser check skips, except under CI (`CI` set), where it
fails.
"""
from __future__ import annotations
import json, math, re
from pathlib import Path
import numpy as np
import pytest
from conftest import run_cli, write_audio

MUSIC = ('disco', 'metal')


@pytest.fixture(scope='module')
def classified(tmp_path_factory):
    "A small folder (two demo clips, a click track, silence, noise, a 5 s clip) classified once with playlists."
    from genriflow.tempo import click_track
    from genriflow.synth import render_clip
    root = tmp_path_factory.mktemp('channels')
    music = root / 'Music'
    for i, g in enumerate(MUSIC): write_audio(music / f'{g}.wav', render_clip(g, 15.0, 22050, i), 22050)
    write_audio(music / 'click 128.wav', click_track(128, 15.0), 16000)
    write_audio(music / 'silence.wav', np.zeros(15 * 16000, np.float32), 16000)
    write_audio(music / 'noise.wav', 0.3 * np.random.default_rng(0).standard_normal(15 * 16000), 16000)
    write_audio(music / 'short.wav', render_clip('rock', 5.0, 22050, 0), 22050)
    r = run_cli('classify', music, '--output', root / 'results.json', '--playlists', root / 'playlists', '--embeddings',
                '--workers', 1, '--no-progress', '-q', timeout=1800)  # a shared CPU can be slow
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {Path(x['path']).stem: x for x in json.loads((root / 'results.json').read_text())}
    return root, rows, r.stdout


def test_classify_gives_tempo_mood_and_channel(classified):
    from genriflow.channels import CHANNELS, TIMES
    _, rows, out = classified
    for name in MUSIC:
        r = rows[name]
        assert math.isfinite(r['bpm']) and 40 <= r['bpm'] <= 240, r
        assert 0 <= r['bpm_confidence'] <= 1
        for k in ('energy', 'valence', 'danceability', 'mood_confidence'): assert 0 <= r[k] <= 1, (k, r)
        assert r['channel'] in CHANNELS, r
        assert r['times'] and set(r['times'].split()) <= set(TIMES), r
    click = rows['click 128']  # a click track is no music to the detector ('tone'): a tempo, no channel
    assert abs(click['bpm'] - 128) <= 0.04 * 128 and click['channel'] == '' and 'not music' in click['channel_note'], click
    assert 'channels: ' in out


def test_silence_noise_and_short_songs_get_no_channel_with_a_reason(classified):
    _, rows, _ = classified
    for name, why in (('silence', 'silence'), ('noise', 'no'), ('short', 'too short')):
        r = rows[name]
        assert r['channel'] == '' and r['bpm'] is None, r  # NaN is saved as null in JSON
        assert why in r['channel_note'], r['channel_note']


def _entries(playlist: Path) -> list:
    return [l for l in playlist.read_text(encoding='utf-8').splitlines() if l and not l.startswith('#')]


def test_channel_playlists_beside_genre_playlists(classified):
    from genriflow.channels import CHANNELS, TIMES
    root, rows, _ = classified
    lists = sorted((root / 'playlists' / 'channels').glob('*.m3u8'))
    assert lists, 'no channel playlists'
    assert {p.stem for p in lists} <= set(CHANNELS) | set(TIMES)
    listed = {Path(e).stem for p in lists for e in _entries(p)}
    assert listed == {n for n, r in rows.items() if r['channel']}, listed
    for p in lists:  # paths are relative to the playlist's folder and lead to the songs
        assert all((p.parent / e).resolve().is_file() for e in _entries(p))
    channel = rows['disco']['channel']
    assert 'disco.wav' in ''.join(_entries(root / 'playlists' / 'channels' / f'{channel}.m3u8'))


def test_channels_command_rebuilds_from_json_and_csv(classified, tmp_path):
    from genriflow.results import save_results
    root, rows, _ = classified
    r = run_cli('channels', root / 'results.json', '--out', tmp_path / 'json', '--order', 'tempo')
    assert r.returncode == 0, r.stdout + r.stderr
    made = {p.name for p in (tmp_path / 'json').glob('*.m3u8')}
    assert made == {p.name for p in (root / 'playlists' / 'channels').glob('*.m3u8')}
    for p in (tmp_path / 'json').glob('*.m3u8'):  # --order tempo: slow first
        bpms = [rows[Path(e).stem]['bpm'] for e in _entries(p)]
        assert bpms == sorted(bpms), (p.name, bpms)
    save_results(list(json.loads((root / 'results.json').read_text())), tmp_path / 'results.csv')
    r = run_cli('channels', tmp_path / 'results.csv', '--out', tmp_path / 'csv')
    assert r.returncode == 0, r.stdout + r.stderr
    assert {p.name for p in (tmp_path / 'csv').glob('*.m3u8')} == made


def test_channels_command_bad_input_is_one_line(tmp_path):
    (tmp_path / 'bad.json').write_text('{not json')
    for args in (('channels', tmp_path / 'bad.json', '--out', tmp_path / 'o'), ('channels', tmp_path / 'missing.json', '--out', tmp_path / 'o'),
                 ('map', tmp_path / 'bad.json', '--by', 'mood', '--out', tmp_path / 'm.html')):
        r = run_cli(*args)
        assert r.returncode == 2, r.stdout + r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and 'Traceback' not in r.stderr, r.stderr


def test_channels_with_your_own_bundle(classified, tmp_path):
    "A musicnn-head bundle's classes become the channels, read from the saved embeddings."
    import torch
    from genriflow.bundle import save_bundle
    from genriflow.pretrained import EmbeddingHead
    root, rows, _ = classified
    head = EmbeddingHead(400, 2, hidden=0)
    with torch.no_grad():  # 'calm' for every song: a constant head, so the expected split is known
        head.net[-1].weight.zero_(); head.net[-1].bias.copy_(torch.tensor([1.0, 0.0]))
    bundle = save_bundle(tmp_path / 'my-moods', head, dict(model='musicnn-head', class_names=['calm', 'workout'],
                                                          feature_config=dict(backbone='musicnn', sr=16000), standardizer=None, window_seconds=3.0))
    r = run_cli('channels', root / 'results.json', '--out', tmp_path / 'mine', '--model', bundle)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [p.name for p in (tmp_path / 'mine').glob('*.m3u8')] == ['calm.m3u8']
    embedded = {n for n, r in rows.items() if not r['error'] and (r.get('kind') or 'music') == 'music'}  # music only
    assert {Path(e).stem for e in _entries(tmp_path / 'mine' / 'calm.m3u8')} == embedded


def test_map_by_mood_renders_offline(classified, tmp_path):
    from test_explain import drawn_in_chromium
    root, rows, _ = classified
    for y in ('energy', 'tempo'):
        r = run_cli('map', root / 'results.json', '--by', 'mood', '--y', y, '--out', tmp_path / f'{y}.html')
        assert r.returncode == 0, r.stdout + r.stderr
    page = tmp_path / 'energy.html'
    html = page.read_text()
    assert not re.search(r'<script[^>]+src=["\']https?:', html), 'the page loads a script from the network'
    n_mood = sum(r['valence'] is not None for r in rows.values())
    assert html.count('bpm: ') == n_mood
    drawn_in_chromium(page, n_mood)
