"""End-to-end tests of the installed `genriflow` command: classify a messy library, resume, playlists, tags, and the
other subcommands. Audio is synthesized (genriflow.synth); the model is a tiny CNN trained by `genriflow train`."""
import hashlib, json, os, re, shutil, time
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import GENRES, run_cli, write_audio

SUMMARY = re.compile(r'track_accuracy=[0-9.]+ window_accuracy=[0-9.]+ macro_f1=[0-9.]+')
GOOD = {  # relative path: (genre index, sample rate, channels, seconds, extra soundfile args)
    'a.mp3': (0, 44100, 2, 40, {}),
    'b.flac': (1, 48000, 1, 35, {}),
    'nested/c.ogg': (2, 22050, 2, 45, {}),
    'nested/deeper/d.wav': (0, 48000, 2, 30, {}),
    'nested/e.opus': (1, 48000, 1, 30, dict(format='OGG', subtype='OPUS')),
    'long/twelve-minutes.wav': (2, 22050, 1, 720, {}),
}
BAD = {  # relative path: reason expected in the error
    'zero.mp3': 'empty file',
    'readme.mp3': 'not a recognised audio format',
    'nested/cut.mp3': 'truncated',
    'short.wav': 'too short',
}


def digest(path) -> str: return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def mp3_frames(data: bytes) -> bytes:
    "The mp3 audio frames: everything after the ID3v2 tag(s) and before an ID3v1 footer (the test's own parser)."
    start = 0
    while data[start:start + 3] == b'ID3':
        size = (data[start + 6] << 21) | (data[start + 7] << 14) | (data[start + 8] << 7) | data[start + 9]  # syncsafe
        start += 10 + size + (10 if data[start + 5] & 0x10 else 0)
    end = len(data) - (128 if data[-128:-125] == b'TAG' else 0)
    assert data[start] == 0xFF and data[start + 1] & 0xE0 == 0xE0, 'no mp3 frame sync after the tags'
    return data[start:end]


@pytest.fixture(scope='module')
def library(tmp_path_factory):
    "A music folder with nested folders, mixed formats, rates and channels, a 12-minute file and broken files."
    from genriflow.synth import render_clip, DEMO_GENRES
    lib = tmp_path_factory.mktemp('music') / 'Music'
    labels = {}
    for i, (rel, (g, sr, ch, secs, kw)) in enumerate(GOOD.items()):
        genre = DEMO_GENRES[g]
        y = render_clip(genre, seconds=min(secs, 60), sr=sr, seed=1000 + i)
        y = np.tile(y, int(np.ceil(secs / 60)))[:int(secs * sr)] if secs > 60 else y
        if ch == 2: y = np.stack([y, 0.8 * y], 1)
        write_audio(lib / rel, y, sr, **kw)
        labels[str(lib / rel)] = genre
    (lib / 'zero.mp3').write_bytes(b'')
    (lib / 'readme.mp3').write_text('this is not an mp3\n' * 40)
    whole = write_audio(lib / 'nested' / 'whole.mp3', render_clip(DEMO_GENRES[0], seconds=40, sr=44100, seed=7), 44100)
    data = whole.read_bytes(); whole.unlink()
    (lib / 'nested' / 'cut.mp3').write_bytes(data[:len(data) // 20])
    write_audio(lib / 'short.wav', render_clip(DEMO_GENRES[1], seconds=0.5, sr=22050, seed=8)[:11025], 22050)
    (lib / 'nested' / 'cover.jpg').write_bytes(b'\xff\xd8\xff not audio, not listed')
    return lib, labels


def all_audio(lib): return sorted(str(p) for p in lib.rglob('*') if p.suffix in ('.mp3', '.flac', '.ogg', '.wav', '.opus'))


def bundle_genres(bundle): return json.loads((Path(bundle) / 'bundle.json').read_text())['class_names']


def test_help_and_version():
    r = run_cli('--help')
    assert r.returncode == 0 and all(c in r.stdout for c in ('classify', 'demo', 'extract', 'train', 'evaluate', 'cluster'))
    for cmd in ('classify', 'demo', 'extract', 'train', 'evaluate', 'cluster'):
        r = run_cli(cmd, '--help')
        assert r.returncode == 0 and r.stdout.startswith(f'usage: genriflow {cmd}'), cmd
    r = run_cli('--version')
    assert r.returncode == 0 and re.fullmatch(r'genriflow \d+\.\d+\.\d+\S*', r.stdout.strip())


def test_usage_errors_are_one_line(tmp_path):
    (tmp_path / 'song.wav').write_bytes(b'')
    cases = [(('classify', tmp_path, '--model', tmp_path / 'models' / 'x'), 'no such model bundle folder'),
             (('classify', tmp_path, '--model', tmp_path), 'bundle.json: missing'),
             (('classify', tmp_path, '--model', tmp_path, '--output', tmp_path / 'x.txt'), 'must end in .csv or .json'),
             (('evaluate', tmp_path / 'nope', tmp_path), 'no such bundle folder'),
             (('classify', tmp_path, '--model', tmp_path, '--workers', '0'), 'must be at least 1'),
             (('classify', tmp_path / 'nowhere'), 'no such file or folder')]
    for args, reason in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert 'Traceback' not in r.stderr and reason in r.stderr, (args, r.stderr)
        assert len([l for l in r.stderr.splitlines() if 'error' in l]) == 1, r.stderr


def test_train_prints_summary_line(tiny_bundle):
    bundle, out = tiny_bundle
    assert SUMMARY.fullmatch(out.strip().splitlines()[-1]), out


def test_classify_library(library, tiny_bundle, tmp_path):
    lib, labels = library
    bundle, _ = tiny_bundle
    genres = bundle_genres(bundle)
    before = {p: digest(p) for p in lib.rglob('*') if p.is_file()}
    csv, pls = tmp_path / 'out' / 'genres.csv', tmp_path / 'playlists'
    t0 = time.perf_counter()
    r = run_cli('classify', lib, '--model', bundle, '--output', csv, '--playlists', pls, '--workers', 2)
    first_s = time.perf_counter() - t0
    assert r.returncode == 1, r.stdout + r.stderr  # some files failed
    assert 'Traceback' not in r.stderr
    assert 'Illegal Audio-MPEG-Header' not in r.stderr and 'Xing stream' not in r.stderr  # mpg123's notes silenced
    files = all_audio(lib)
    assert f'{len(files)} audio files: 0 already in {csv}, {len(files)} to classify' in r.stdout

    df = pd.read_csv(csv, keep_default_na=False, na_values=[''])
    assert sorted(df['path']) == files
    need = ['path', 'genre', 'probability', 'runner_up', 'runner_up_probability', 'blend', 'error', 'size', 'mtime']
    assert set(need + [f'p_{g}' for g in genres]) <= set(df.columns)
    df = df.set_index('path')
    # the broken files: one line each, naming the file and the reason, in the CSV and in the failure list at the end
    failures = r.stdout.split(f'{len(BAD)} failed:')[1].strip().splitlines()
    assert len(failures) == len(BAD)
    for rel, reason in BAD.items():
        err = df.loc[str(lib / rel), 'error']
        assert err.startswith(str(lib / rel)) and reason in err, err
        assert pd.isna(df.loc[str(lib / rel), 'probability'])
        assert any(f.strip() == err for f in failures), (err, failures)
    # the good ones: every format, rate and length
    good = df.loc[sorted(labels)]
    assert (good['error'].isna()).all(), good['error']
    assert set(good['genre']) <= set(genres)
    P = good[[f'p_{g}' for g in genres]].to_numpy()
    assert np.allclose(P.sum(1), 1.0, atol=2e-3)
    assert (good['probability'] >= good['runner_up_probability']).all()
    assert (good['blend'] == (good['probability'] - good['runner_up_probability'] < 0.15)).all()
    assert [g for g in good['genre']] == [genres[int(np.argmax(p))] for p in P]
    long = good.loc[str(lib / 'long' / 'twelve-minutes.wav')]
    assert abs(long['duration'] - 720) < 1 and long['windows'] == 10
    correct = sum(good.loc[p, 'genre'] == g for p, g in labels.items())
    print(f'{correct}/{len(labels)} songs in their genre; first run {first_s:.1f} s')
    assert correct >= len(labels) // 2  # a 3-epoch model on 3 synthetic genres, chance is 1/3

    # one M3U per genre, relative paths, each good song exactly once, in its genre's list
    assert sorted(p.name for p in pls.glob('*.m3u8')) == sorted(f'{g}.m3u8' for g in set(good['genre']))  # only genres with songs
    listed = {}
    for m3u in pls.glob('*.m3u8'):
        lines = m3u.read_text().splitlines()
        assert lines[0] == '#EXTM3U'
        for line in lines[1:]:
            if line.startswith('#'): continue
            assert not os.path.isabs(line)
            listed[str((pls / line).resolve())] = m3u.stem
    assert listed == {str(Path(p).resolve()): good.loc[p, 'genre'] for p in good.index}

    # nothing in the library changed
    assert {p: digest(p) for p in lib.rglob('*') if p.is_file()} == before

    # a rerun does no work and leaves the results as they were
    text = csv.read_text()
    r2 = run_cli('classify', lib, '--model', bundle, '--output', csv, '--playlists', pls)
    assert r2.returncode == 1
    assert f'{len(files)} audio files: {len(files)} already in {csv}, 0 to classify' in r2.stdout
    assert 'classified 0;' in r2.stdout and f'{len(BAD)} failed:' in r2.stdout
    assert csv.read_text() == text
    # a changed file (new modification time) is classified again, and only that one
    song = lib / 'b.flac'
    st = song.stat(); os.utime(song, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    r3 = run_cli('classify', lib, '--model', bundle, '--output', csv)
    assert f'{len(files) - 1} already in {csv}, 1 to classify' in r3.stdout, r3.stdout


def test_classify_json_and_top_k(library, tiny_bundle, tmp_path):
    lib, labels = library
    bundle, _ = tiny_bundle
    out = tmp_path / 'nested.json'
    r = run_cli('classify', lib / 'nested' / 'c.ogg', lib / 'nested' / 'deeper', '--model', bundle, '--output', out,
                '--top-k', 2, '--workers', 1, '--quiet')
    assert r.returncode == 0, r.stdout + r.stderr
    rows = json.loads(out.read_text())
    assert sorted(Path(x['path']).name for x in rows) == ['c.ogg', 'd.wav']
    for x in rows:
        assert x['error'] == '' and x['genre'] == x['top_k'].split()[0].split(':')[0] and len(x['top_k'].split()) == 2
    assert '2 audio files: 0 already in' in r.stdout and 'song ' not in r.stdout  # --quiet: no table


def test_write_tags_keeps_audio_identical(library, tiny_bundle, tmp_path):
    import mutagen
    lib, _ = library
    bundle, _ = tiny_bundle
    songs = tmp_path / 'tagme'
    for rel in ('a.mp3', 'b.flac', 'nested/c.ogg', 'nested/deeper/d.wav'):
        dest = songs / Path(rel).name; dest.parent.mkdir(exist_ok=True); shutil.copy2(lib / rel, dest)
    decoded = {p.name: sf.read(p, dtype='float32')[0] for p in songs.iterdir()}
    frames = mp3_frames((songs / 'a.mp3').read_bytes())
    csv = tmp_path / 'tags.csv'
    r = run_cli('classify', songs, '--model', bundle, '--output', csv, '--write-tags')
    assert r.returncode == 0, r.stdout + r.stderr
    df = pd.read_csv(csv).set_index('path')
    for p in songs.iterdir():
        genre = df.loc[str(p), 'genre']
        f = mutagen.File(p)
        tag = f.tags['TCON'].text[0] if 'TCON' in f.tags else f.tags['GENRE'][0]
        assert tag == genre, (p.name, tag, genre)
        assert np.array_equal(sf.read(p, dtype='float32')[0], decoded[p.name]), p.name  # same samples
    assert mp3_frames((songs / 'a.mp3').read_bytes()) == frames  # same mp3 frames, byte for byte
    assert sorted(p.name for p in songs.iterdir()) == ['a.mp3', 'b.flac', 'c.ogg', 'd.wav']  # no temp files left
    r = run_cli('classify', songs, '--model', bundle, '--output', csv, '--write-tags')
    assert r.returncode == 0 and '4 already in' in r.stdout and '0 to classify' in r.stdout, r.stdout


def test_evaluate(tiny_bundle, tiny_dataset):
    bundle, _ = tiny_bundle
    r = run_cli('evaluate', bundle, tiny_dataset, '--dataset', 'gtzan')
    assert r.returncode == 0, r.stdout + r.stderr
    assert SUMMARY.fullmatch(r.stdout.strip().splitlines()[-1]), r.stdout


def test_evaluate_scores_the_recorded_test_tracks(tiny_bundle, tiny_dataset, tmp_path):
    "Tracks added after training reshuffle a seeded split; evaluate still scores exactly the recorded test tracks."
    bundle, _ = tiny_bundle
    data = tmp_path / 'data'; shutil.copytree(tiny_dataset, data)
    for f in sorted((data / 'genres_original').rglob('*.00000.wav')):  # one new song per genre
        shutil.copy(f, f.with_name(f.name.replace('.00000.', '.00100.')))
    r = run_cli('evaluate', bundle, data, '--dataset', 'gtzan', '--output', tmp_path / 'm.json', '--no-progress')
    assert r.returncode == 0, r.stdout + r.stderr
    recorded = sorted(rec['path'] for rec in json.loads((bundle / 'bundle.json').read_text())['split_tracks']['test'])
    m = json.loads((tmp_path / 'm.json').read_text())
    assert sorted(os.path.relpath(p, data) for p in m['tracks']) == recorded
    assert f'tracks={len(recorded)}' in r.stdout and len(m['new']) == GENRES and m['missing'] == []
    train = json.loads((bundle / 'bundle.json').read_text())['split_tracks']['train'][0]['path']
    (tmp_path / 'leak.csv').write_text(f'path,split\n{train},test\n')
    r = run_cli('evaluate', bundle, data, '--dataset', 'gtzan', '--split-file', tmp_path / 'leak.csv', '--no-progress')
    assert r.returncode == 2 and 'the model was trained on this track' in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_classify_on_a_dask_cluster(tiny_bundle, tiny_dataset, tmp_path):
    "classify --scheduler runs decoding and features on a Dask cluster and gives the same results as local workers."
    from dask.distributed import LocalCluster
    bundle, _ = tiny_bundle
    songs = sorted((tiny_dataset / 'genres_original').rglob('*.0000[0-2].wav'))
    local = run_cli('classify', *songs, '--model', bundle, '--output', tmp_path / 'local.csv', '--no-progress', '--workers', 2)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        remote = run_cli('classify', *songs, '--model', bundle, '--output', tmp_path / 'dask.csv', '--no-progress', '--scheduler', cluster.scheduler_address)
    assert local.returncode == 0 and remote.returncode == 0, remote.stdout + remote.stderr
    cols = ['path', 'genre', 'probability', 'runner_up']
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / 'local.csv')[cols], pd.read_csv(tmp_path / 'dask.csv')[cols])


def test_zero_shot_classify_by_default(tiny_dataset, tmp_path):
    "With no --model the built-in pretrained tagger names genres, vocals and moods, with all 100 tag probabilities."
    songs = sorted((tiny_dataset / 'genres_original').rglob('*.00001.wav'))
    out = tmp_path / 'tags.json'
    r = run_cli('classify', *songs, '--output', out, '--no-progress', '--workers', 2)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = json.loads(out.read_text())
    assert len(rows) == len(songs)
    for row in rows:
        assert len(row['tags']['msd']) == 50 and len(row['tags']['mtt']) == 50
        assert row['vocals'] in ('vocals', 'instrumental') and row['genre'] and 'p_rock' in row and 'p_metal' in row
    r = run_cli('classify', *songs, '--output', tmp_path / 'tags.csv', '--no-progress')
    assert {'p_jazz', 'p_classical', 'vocals', 'moods', 'uncertain'} <= set(pd.read_csv(tmp_path / 'tags.csv').columns)


def test_musicnn_head_from_five_songs_per_genre(tiny_dataset, tmp_path):
    "A head on the pretrained tagger, trained from 5 labelled songs per genre, classifies the other songs."
    few = tmp_path / 'few'
    songs = sorted((tiny_dataset / 'genres_original').rglob('*.wav'))
    for f in songs:
        if int(f.stem.split('.')[1]) < 5: (few / f.parent.name).mkdir(parents=True, exist_ok=True); shutil.copy(f, few / f.parent.name / f.name)
    r = run_cli('train', few, '--dataset', 'folder', '--model', 'musicnn-head', '--epochs', 20, '--out', tmp_path / 'head', '--no-progress')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'cross-validation' in r.stdout and SUMMARY.fullmatch(r.stdout.strip().splitlines()[-1]), r.stdout
    rest = [f for f in songs if int(f.stem.split('.')[1]) >= 5]
    r = run_cli('classify', *rest, '--model', tmp_path / 'head', '--output', tmp_path / 'rest.csv', '--no-progress')
    assert r.returncode == 0, r.stdout + r.stderr
    df = pd.read_csv(tmp_path / 'rest.csv')
    correct = sum(g == Path(p).parent.name for p, g in zip(df['path'], df['genre']))
    assert correct >= 0.6 * len(rest), (correct, len(rest))  # chance is 1/3


def test_train_and_evaluate_with_split_file(tiny_dataset, tmp_path):
    "A user's split (e.g. artist-filtered GTZAN) decides the tracks of each side; tracks it does not name are left out."
    split = tmp_path / 'split'; split.mkdir()
    clip = {p.relative_to(tiny_dataset).as_posix(): int(p.stem.split('.')[1]) for p in tiny_dataset.rglob('*.wav')}  # blues.00005 -> 5
    sides = {'train': [t for t, i in clip.items() if i < 5], 'valid': [t for t, i in clip.items() if i == 5],
             'test': [t for t, i in clip.items() if i == 6]}  # clip 7 of each genre is named nowhere
    for side, names in sides.items(): (split / f'{side}_filtered.txt').write_text('\n'.join(names) + '\n')
    out = tmp_path / 'split-cnn'
    r = run_cli('train', tiny_dataset, '--dataset', 'gtzan', '--model', 'lstm-cnn', '--epochs', 1, '--split-file', split,
                '--out', out, '--no-progress', timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    meta = json.loads((out / 'bundle.json').read_text())
    assert meta['training']['n_tracks'] == {'train': 5 * GENRES, 'valid': GENRES, 'test': GENRES}, meta['training']
    assert meta['training']['split_file'] == 'split' and meta['metrics']['n_tracks'] == GENRES
    r = run_cli('evaluate', out, tiny_dataset, '--dataset', 'gtzan', '--split-file', split)
    assert r.returncode == 0 and SUMMARY.fullmatch(r.stdout.strip().splitlines()[-1]), r.stdout + r.stderr
    r = run_cli('train', tiny_dataset, '--split-file', tmp_path / 'nowhere', '--out', tmp_path / 'x')
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and 'nowhere: no such split file' in r.stderr, r.stderr


def test_cluster(tiny_dataset, tmp_path):
    out = tmp_path / 'clusters.csv'
    r = run_cli('cluster', tiny_dataset, '--dataset', 'gtzan', '--method', 'pooled-gmm', '--out', out)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.fullmatch(r'ARI=(-?[0-9.]+) NMI=([0-9.]+)', r.stdout.strip().splitlines()[-1])
    assert m and -1 <= float(m[1]) <= 1 and 0 <= float(m[2]) <= 1, r.stdout
    assert out.exists() and len(pd.read_csv(out)) == 24


def test_extract(tiny_dataset, tmp_path):
    r = run_cli('extract', tiny_dataset, '--dataset', 'gtzan', '--out', tmp_path / 'feats', '--no-progress')
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / 'feats' / 'manifest.csv').exists() and r.stdout.startswith('24 tracks')


def test_interrupted_run_resumes(tiny_bundle, tmp_path):
    "Ctrl-C part-way: what was classified is saved (exit 130); the rerun classifies only the rest."
    import signal, subprocess
    from conftest import genriflow_exe
    from genriflow.features import music_like
    # The signal goes when the results file holds a few rows (the program saves after every song here), and the
    # library is long enough by construction that the run cannot end first: a song takes tens of milliseconds at
    # the least, so the 140-odd songs still to do take seconds, while the signal follows the rows within
    # milliseconds. Copies of one song make a big library cheaply.
    n, songs = 150, tmp_path / 'many'
    first = write_audio(songs / 'song000.wav', music_like(4.0, 22050, seed=0), 22050)
    for i in range(1, n): shutil.copyfile(first, songs / f'song{i:03d}.wav')
    bundle, _ = tiny_bundle
    csv = tmp_path / 'partial.csv'
    env = dict(os.environ, GENRIFLOW_SAVE_EVERY='0', PYTHONWARNINGS='ignore')
    proc = subprocess.Popen([genriflow_exe(), 'classify', str(songs), '--model', str(bundle), '--output', str(csv),
                             '--workers', '1', '--no-progress'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        while not (csv.exists() and len(pd.read_csv(csv)) >= 3):  # the event: rows saved
            assert proc.poll() is None, ('the run ended before it was interrupted',) + proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)  # a guard against a hang only
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert 'interrupted' in out and 'Traceback' not in err, out + err
    done = len(pd.read_csv(csv))
    assert 3 <= done < n, done
    r = run_cli('classify', songs, '--model', bundle, '--output', csv, '--quiet')
    assert r.returncode == 0 and f'{n} audio files: {done} already in {csv}, {n - done} to classify' in r.stdout, r.stdout
    assert sorted(pd.read_csv(csv)['path']) == sorted(str(p) for p in songs.iterdir())


def test_demo_small(tmp_path):
    "`genriflow demo` end to end at a small size (both sizes are timed by benchmarks/bench_demo.py)."
    out = tmp_path / 'demo'
    r = run_cli('demo', '--out', out, '--per-genre', 10, '--seconds', 10, '--epochs', 1, '--no-progress', timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ('1/4', '2/4', '3/4', '4/4', 'done.'): assert step in r.stdout
    assert SUMMARY.search(r.stdout)
    assert (out / 'models' / 'demo-cnn' / 'bundle.json').is_file() and (out / 'data' / 'genres_original').is_dir()
    df = pd.read_csv(out / 'results.csv', keep_default_na=False)
    assert len(df) >= 8 and (df['error'] == '').all()
    genres = bundle_genres(out / 'models' / 'demo-cnn')
    assert len(genres) >= 8 and sorted(p.stem for p in (out / 'playlists').glob('*.m3u8')) == sorted(set(df['genre']))
    assert 'the pretrained tagger (trained on real music) hears the held-out synthetic songs as:' in r.stdout
    assert {p.name for p in (out / 'figures').glob('*.png')} >= {'demo_training.png', 'demo_confusion.png', 'demo_confidence.png'}
    assert f'{out / "results.csv"}' in r.stdout and 'genriflow classify' in r.stdout.splitlines()[-1]


def test_shipped_demo_bundle_classifies_new_songs(tmp_path):
    "models/demo-cnn, as committed, loads and names the genre of demo-style songs it never saw (new seeds, stereo mp3 and flac at 44.1 kHz)."
    from genriflow.synth import render_clip, DEMO_GENRES
    bundle = Path(__file__).resolve().parent.parent / 'models' / 'demo-cnn'
    songs = tmp_path / 'songs'
    for i, genre in enumerate(DEMO_GENRES):
        y = render_clip(genre, seconds=30.0, sr=44100, seed=10_000 + i)
        write_audio(songs / f'{genre}.{"mp3" if i % 2 else "flac"}', np.stack([y, y], axis=1) * 0.8, 44100)
    out = tmp_path / 'genres.csv'
    r = run_cli('classify', songs, '--model', bundle, '--output', out, '--quiet', '--no-progress')
    assert r.returncode == 0, r.stdout + r.stderr
    df = pd.read_csv(out, keep_default_na=False)
    right = sum(Path(p).stem == g for p, g in zip(df['path'], df['genre']))
    assert len(df) == len(DEMO_GENRES) and right >= len(DEMO_GENRES) - 1, df[['path', 'genre', 'probability']]
