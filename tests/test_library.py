"""End-to-end tests of a real library surviving genriflow: one writer per results file, broken links and odd files,
a killed run's workers, damaged results and embeddings, any file name, damaged bundles, truncated songs.
Songs are a few seconds of synthetic music; the model is the shipped `models/demo-cnn` bundle (no training)."""
import json, os, re, shutil, signal, subprocess, time
from pathlib import Path
import numpy as np
import pytest
from conftest import genriflow_exe, run_cli, write_audio

DEMO = Path(__file__).resolve().parent.parent / 'models' / 'demo-cnn'
ENV = dict(os.environ, GENRIFLOW_SAVE_EVERY='0', PYTHONWARNINGS='ignore')  # save after every song


def songs(folder, n, seconds=8.0, start=0, ext='wav'):
    "Write `n` short music-like songs into `folder`; their paths."
    from genriflow.features import music_like
    return [write_audio(Path(folder) / f'song{i:02d}.{ext}', music_like(seconds, 22050, seed=i), 22050)
            for i in range(start, start + n)]


def rows_of(path):
    from genriflow.results import load_results
    return load_results(path)


def start(*args):
    "Start `genriflow ARGS...` in the background, saving after every song."
    return subprocess.Popen([genriflow_exe(), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)


def wait_for(event, proc=None, timeout=120.0, what='the event'):
    "Poll `event()` until it is true (bounded); fail if `proc` ends first or time runs out."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if event(): return
        if proc is not None and proc.poll() is not None: pytest.fail(f'the run ended before {what}: {proc.communicate()}')
        time.sleep(0.02)
    pytest.fail(f'timed out waiting for {what}')


def one_error_line(r) -> str:
    "The one error line of a refused command (exit 2, no traceback)."
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert 'Traceback' not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith('genriflow: error: '), r.stderr
    return lines[0]


# --- Runs: one library, one writer -----------------------------------------------------------------------------------

def test_second_run_on_the_same_results_is_refused(tmp_path):
    "While a run writes a results file, a second run on it is refused in one line naming the holder; no row is lost."
    lib = tmp_path / 'lib'; songs(lib, 30)
    csv = tmp_path / 'genres.csv'
    first = start('classify', lib, '--model', DEMO, '--output', csv, '--workers', 1, '--no-progress', '--quiet')
    try:
        wait_for(lambda: csv.exists() and len(rows_of(csv)) >= 1, first, what='the first saved row')
        first.send_signal(signal.SIGSTOP)  # hold the first run mid-way, lock held, while the second tries
        assert first.poll() is None, 'the first run ended before it could be held'
        try: second = run_cli('classify', lib, '--model', DEMO, '--output', csv, '--workers', 1, '--no-progress')
        finally: first.send_signal(signal.SIGCONT)
        line = one_error_line(second)
        assert f'{csv}: in use by genriflow classify (process {first.pid})' in line, line
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None: first.kill()
    assert first.returncode == 0, (out, err)
    assert len(rows_of(csv)) == 30 and not (tmp_path / 'genres.csv.lock').exists()
    again = run_cli('classify', lib, '--model', DEMO, '--output', csv, '--workers', 1, '--no-progress', '--quiet')
    assert again.returncode == 0 and '30 already in' in again.stdout, again.stdout + again.stderr


def test_broken_links_and_unopenable_files_are_per_song_failures(tmp_path):
    "A dangling link, a link loop, a pipe (and, as a user, an unreadable file): one failed row each; the run saves."
    lib = tmp_path / 'lib'; good = songs(lib, 3)
    (lib / 'dangling.mp3').symlink_to(lib / 'deleted.mp3')
    (lib / 'loop.mp3').symlink_to(lib / 'loop2.mp3'); (lib / 'loop2.mp3').symlink_to(lib / 'loop.mp3')
    os.mkfifo(lib / 'pipe.flac')
    reasons = {'dangling.mp3': 'broken link (its target', 'loop.mp3': 'a loop of symbolic links',
               'loop2.mp3': 'a loop of symbolic links', 'pipe.flac': 'not a regular file'}
    if os.geteuid() != 0:  # root reads a mode-000 file anyway, so only a user sees this one
        locked = write_audio(lib / 'locked.wav', np.zeros(22050 * 4, np.float32), 22050); locked.chmod(0)
        reasons['locked.wav'] = 'permission denied'
    csv = tmp_path / 'genres.csv'
    r = run_cli('classify', lib, '--model', DEMO, '--output', csv, '--workers', 1, '--no-progress')
    assert r.returncode == 1 and 'Traceback' not in r.stderr and 'internal error' not in r.stderr, r.stdout + r.stderr
    assert f'classified 3' in r.stdout and f'failed {len(reasons)}' in r.stdout, r.stdout
    rows = {Path(x['path']).name: x for x in rows_of(csv)}
    assert sorted(rows) == sorted([p.name for p in good] + list(reasons))
    for name, reason in reasons.items():
        assert rows[name]['error'].startswith(str(lib / name)) and reason in rows[name]['error'], rows[name]['error']
    assert all(rows[p.name]['genre'] and not rows[p.name]['error'] for p in good)


def _children(pid: int) -> set:
    "Live processes whose parent is `pid` (from /proc)."
    kids = set()
    for d in Path('/proc').iterdir():
        if not d.name.isdigit(): continue
        try: stat = (d / 'stat').read_text()
        except OSError: continue
        fields = stat[stat.rindex(')') + 2:].split()  # after 'pid (name) ': state, ppid, ...
        if int(fields[1]) == pid and fields[0] != 'Z': kids.add(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    "True while `pid` is a process that has not ended (a zombie has ended)."
    try: stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError: return False
    return stat[stat.rindex(')') + 2:].split()[0] != 'Z'


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='reads worker processes from /proc (Linux)')
def test_killed_run_takes_its_workers_with_it(tmp_path):
    "SIGKILL of the main process (which runs no clean-up) ends its decoding workers within seconds."
    lib = tmp_path / 'lib'; songs(lib, 24)
    run = start('classify', lib, '--model', DEMO, '--output', tmp_path / 'g.csv', '--workers', 2, '--no-progress', '--quiet')
    workers = set()
    try:
        wait_for(lambda: len(_children(run.pid)) >= 2, run, what='two worker processes')
        run.send_signal(signal.SIGSTOP)  # frozen: it can neither finish nor shut its pool down
        workers = _children(run.pid)
        assert len(workers) >= 2
        run.kill(); run.wait(timeout=30)
        assert run.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(map(_alive, workers)): time.sleep(0.05)
        assert not any(map(_alive, workers)), f'workers {sorted(p for p in workers if _alive(p))} outlived the killed run'
    finally:  # leave no process behind, even when the test fails (orphans no longer have run.pid as parent)
        if run.poll() is None: run.kill()
        for p in workers | _children(run.pid):
            try: os.kill(p, signal.SIGKILL)
            except ProcessLookupError: pass


# --- Results files ---------------------------------------------------------------------------------------------------

def test_damaged_results_files_are_refused_and_types_round_trip(tmp_path):
    "A row cut short, another program's CSV, JSON cut off: one line, the file untouched. Sizes stay integers."
    lib = tmp_path / 'lib'; songs(lib, 3)
    csv, js = tmp_path / 'genres.csv', tmp_path / 'genres.json'
    for out in (csv, js):
        r = run_cli('classify', lib, '--model', DEMO, '--output', out, '--workers', 1, '--no-progress', '--quiet')
        assert r.returncode == 0, r.stdout + r.stderr
    head, *lines = csv.read_text().splitlines()
    size_at = head.split(',').index('size')
    assert all(re.fullmatch(r'[0-9]+', l.split(',')[size_at]) for l in lines), lines  # no '1234.0'
    for rows in (rows_of(csv), rows_of(js)):
        assert all(type(x['size']) is int and type(x['blend']) is bool and type(x['mtime']) is float for x in rows)
        assert all(type(x['windows']) is int and x['error'] == '' for x in rows)
    data = csv.read_bytes()
    last = data.rindex(b'\n', 0, len(data) - 1) + 1  # where the last row starts
    damaged = {'cut.csv': (data[:len(data) - 40], 'cut short'),  # a run of another tool, or a disk, cut it off
               'short.csv': (data[:last + 30] + b'\n', 'fields (cut short or damaged)'),  # the junk row `.../06_re,`
               'other.csv': (b'Date,Description,Amount\n2024-01-05,Coffee,3.20\n', 'not a genriflow results file'),
               'cut.json': (js.read_bytes()[:200], 'not complete JSON')}
    for name, (content, reason) in damaged.items():
        (tmp_path / name).write_bytes(content)
        r = run_cli('classify', lib, '--model', DEMO, '--output', tmp_path / name, '--workers', 1, '--no-progress')
        line = one_error_line(r)
        assert str(tmp_path / name) in line and reason in line, (name, line)
        assert (tmp_path / name).read_bytes() == content, name  # refused, never overwritten


def test_deleted_songs_leave_the_results_and_the_embeddings(tmp_path):
    "A rerun after a song was deleted keeps N rows (and N embeddings) for N files."
    lib = tmp_path / 'lib'; paths = songs(lib, 4)
    out = tmp_path / 'genres.json'
    args = ('classify', lib, '--model', DEMO, '--output', out, '--embeddings', '--workers', 1, '--no-progress', '--quiet')
    assert run_cli(*args).returncode == 0
    paths[1].unlink()
    r = run_cli(*args)
    assert r.returncode == 0 and '1 songs in' in r.stdout and 'no longer exist' in r.stdout, r.stdout + r.stderr
    from genriflow.results import load_embeddings
    left = sorted(str(p) for p in paths if p.exists())
    assert sorted(x['path'] for x in rows_of(out)) == left
    assert sorted(load_embeddings(out)[0]) == left


def test_similar_and_map_skip_deleted_songs_and_damaged_embeddings_are_rebuilt(tmp_path):
    "similar and map never list a deleted song; a damaged embeddings file is one line there, and classify rebuilds it."
    lib = tmp_path / 'lib'; paths = songs(lib, 5)
    out = tmp_path / 'lib.json'
    args = ('classify', lib, '--model', DEMO, '--output', out, '--embeddings', '--workers', 1, '--no-progress', '--quiet')
    assert run_cli(*args).returncode == 0
    paths[2].unlink()  # deleted after classifying, before any rerun
    r = run_cli('similar', paths[0], '--library', out, '-k', 4, '--m3u', tmp_path / 'radio.m3u8')
    assert r.returncode == 0, r.stdout + r.stderr
    assert paths[2].name not in r.stdout and paths[2].name not in (tmp_path / 'radio.m3u8').read_text()
    r = run_cli('map', out, '--out', tmp_path / 'map.html', '--projection', 'pca')
    assert r.returncode == 0 and paths[2].name not in (tmp_path / 'map.html').read_text(), r.stderr
    from genriflow.results import embeddings_path, load_embeddings
    npz = embeddings_path(out)
    whole = npz.read_bytes()
    for damage in (whole[:len(whole) // 3], np.random.default_rng(1).bytes(4096)):
        npz.write_bytes(damage)
        for cmd in (('similar', paths[0], '--library', out), ('map', out, '--out', tmp_path / 'm.html', '--projection', 'pca')):
            line = one_error_line(run_cli(*cmd))
            assert f'{npz}: not a readable embeddings file' in line, line
    r = run_cli(*args)
    assert r.returncode == 0 and 'rebuilding it' in r.stdout, r.stdout + r.stderr
    assert sorted(load_embeddings(out)[0]) == sorted(str(p) for p in paths if p.exists())


# --- Names -----------------------------------------------------------------------------------------------------------

ODD = [b'caf\xe9 latin-1.wav', b'two\nlines.wav', b'"quoted" \'song\'.wav', b'-leading-dash.wav',
       b'J\xc3\xb3ga \xe2\x80\x93 Bj\xc3\xb6rk.wav', b'x' * 240 + b'.wav']
UNPLAYABLE = {b'caf\xe9 latin-1.wav', b'two\nlines.wav'}  # bytes that are not UTF-8; a line break


def test_any_file_name_is_classified_saved_and_listed(tmp_path):
    "Names that are not UTF-8, with newlines, quotes, a leading dash, very long: classified, kept exactly in CSV and JSON."
    import soundfile as sf
    from genriflow.features import music_like
    from genriflow.playlists import playable
    lib = tmp_path / 'lib'; lib.mkdir()
    for i, raw in enumerate(ODD):  # soundfile takes the name's bytes (it would encode a str as strict UTF-8)
        sf.write(os.path.join(os.fsencode(lib), raw), music_like(6.0, 22050, seed=i), 22050)
    names = {os.fsdecode(os.path.join(os.fsencode(lib), raw)) for raw in ODD}
    pls = tmp_path / 'playlists'; pls.mkdir()
    (pls / 'rock.m3u').write_text('#EXTM3U\n#PLAYLIST:genriflow\nold.mp3\n')  # ours, from a version that wrote .m3u
    (pls / 'mine.m3u').write_text('#EXTM3U\nmy-song.mp3\n')  # the user's own
    for out in (tmp_path / 'names.csv', tmp_path / 'names.json'):
        r = run_cli('classify', lib, '--model', DEMO, '--output', out, '--playlists', pls, '--workers', 1, '--no-progress')
        assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stdout + r.stderr
        rows = rows_of(out)
        assert {x['path'] for x in rows} == names and all(x['genre'] and not x['error'] for x in rows)
    # the table and the report: one line per song, odd bytes and line breaks escaped
    assert 'caf\\xe9 latin-1.wav' in r.stdout and 'two\\nlines.wav' in r.stdout, r.stdout
    assert f'{len(UNPLAYABLE)} left out of the playlists' in r.stdout, r.stdout
    # playlists: UTF-8 .m3u8, every playable song once, stale .m3u of ours gone, the user's kept
    assert not (pls / 'rock.m3u').exists() and (pls / 'mine.m3u').exists()
    listed = []
    for m3u in pls.glob('*.m3u8'):
        lines = m3u.read_bytes().decode('utf-8').split('\n')
        assert lines[0] == '#EXTM3U' and lines[-1] == ''
        listed += [os.path.normpath(pls / l) for l in lines[1:-1] if not l.startswith('#')]
    want = sorted(os.fsdecode(os.path.join(os.fsencode(lib), raw)) for raw in ODD if raw not in UNPLAYABLE)
    assert sorted(listed) == want and all(map(playable, listed))


# --- Bundles are untrusted input -------------------------------------------------------------------------------------

def _edit(key, field=None, value=None):
    def edit(meta):
        if field is None: meta[key] = value
        else: meta[key][field] = value
        return json.dumps(meta)
    return edit


def _nan_weight(folder):
    from safetensors.torch import load_file, save_file
    w = load_file(folder / 'model.safetensors'); w['head.1.weight'][0, 0] = float('nan')
    save_file(w, folder / 'model.safetensors')


BUNDLE_DAMAGE = {  # the cases: (edit of bundle.json or of the folder, reason in the one line); more in 17_bundle
    'n_classes_negative': (_edit('hparams', 'n_classes', -1), 'hparams.n_classes: expected an integer from 1 to 10000, got -1'),
    'n_classes_huge': (_edit('hparams', 'n_classes', 10**12), 'hparams.n_classes: expected an integer'),
    'nested': (lambda meta: json.dumps(meta)[:-1] + ', "deep": ' + '[' * 50_000 + ']' * 50_000 + '}',
               'bundle.json: not valid JSON (nested too deeply)'),
    'long_integer': (lambda meta: json.dumps(meta).replace('"n_classes": 8', '"n_classes": ' + '9' * 5000), 'not valid JSON'),
    'standardizer_null': (_edit('standardizer', value=None), 'standardizer: expected the mean and std of each feature row, got null'),
    'window_negative': (_edit('window_seconds', value=-3), 'window_seconds: expected a number above 0'),
    'feature_config_bad': (_edit('feature_config', 'n_mels', 'lots'), 'feature_config.n_mels: expected an integer from 1 to 512'),
    'nan_weights': (_nan_weight, 'model.safetensors: head.1.weight holds NaN or infinite weights'),
}


@pytest.mark.parametrize('damage', sorted(BUNDLE_DAMAGE))
def test_damaged_bundle_is_one_line(damage, tmp_path):
    "Each kind of damage to a copy of models/demo-cnn: one line naming the bundle file and the field, exit 2."
    edit, reason = BUNDLE_DAMAGE[damage]
    bundle = tmp_path / 'bundle'; shutil.copytree(DEMO, bundle)
    if edit is _nan_weight: edit(bundle)
    else: (bundle / 'bundle.json').write_text(edit(json.loads((bundle / 'bundle.json').read_text())))
    song = songs(tmp_path / 'lib', 1, seconds=4.0)[0]
    line = one_error_line(run_cli('classify', song, '--model', bundle, '--no-progress', '--workers', 1))
    assert str(bundle) in line and reason in line, line
    assert 'allocate' not in line


# --- Partial audio ---------------------------------------------------------------------------------------------------

def test_truncated_mp3_is_classified_from_the_audio_it_holds(tmp_path):
    "An mp3 cut at 40% of its bytes is classified, its row warning how much it holds; cut at 5%, it fails in one line."
    from genriflow.features import music_like
    whole = write_audio(tmp_path / 'whole.mp3', music_like(40.0, 22050, seed=3), 22050)
    data = whole.read_bytes(); whole.unlink()
    lib = tmp_path / 'lib'; lib.mkdir()
    (lib / 'cut40.mp3').write_bytes(data[:int(len(data) * 0.4)])
    (lib / 'cut5.mp3').write_bytes(data[:int(len(data) * 0.05)])
    out = tmp_path / 'genres.csv'
    r = run_cli('classify', lib, '--model', DEMO, '--output', out, '--workers', 1, '--no-progress')
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stdout + r.stderr
    rows = {Path(x['path']).name: x for x in rows_of(out)}
    cut = rows['cut40.mp3']
    assert not cut['error'] and cut['genre'], cut
    held = re.fullmatch(r'truncated at (\d+) s of 40 s', cut['warning'])
    assert held and 12 <= int(held[1]) <= 20 and abs(cut['duration'] - int(held[1])) < 1, cut
    assert f'1 read only in part:\n  {lib / "cut40.mp3"}: {cut["warning"]}' in r.stdout, r.stdout
    assert rows['cut5.mp3']['error'].startswith(str(lib / 'cut5.mp3')) and 'truncated' in rows['cut5.mp3']['error']
    assert 'less than one 3 s window' in rows['cut5.mp3']['error'] and not rows['cut5.mp3']['genre']
