"""End-to-end tests of `genriflow classify --write-tags` on libraries the tests build: the user's genres kept beside
genriflow's, ID3v2.3 kept v2.3 with every other frame and ID3v1, the tag options, links, owner, mode, read-only files
and folders, a SIGKILL while tagging, and tagged songs recorded at once so a resumed run does not redo them."""
import os, shutil, signal, subprocess, tempfile
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import mutagen
from mutagen.id3 import ID3, TCON, TIT2, TYER, COMM, APIC, TXXX
from conftest import genriflow_exe, run_cli, write_audio
from genriflow.audio import load_audio
from genriflow.features import music_like

NOBODY = 65534


def song(path, seed=0, seconds=8.0, sr=22050, genres=None):
    "A synthetic song at `path` (format from its extension), with `genres` in its tags when given."
    kw = dict(format='OGG', subtype='OPUS') if str(path).endswith('.opus') else {}
    path = write_audio(path, music_like(seconds, sr, seed=seed), 48000 if kw else sr, **kw)
    if genres:
        f = mutagen.File(path)
        if f.tags is None: f.add_tags()
        f.tags['GENRE'] = genres; f.save()
    return path


def id3_song(path, genres, version, seed=0):
    "An mp3 with an ID3v2 tag of `version` (3 or 4) holding `genres` and other frames, and an ID3v1 tag."
    song(path, seed)
    t = ID3()
    for fr in (TIT2(encoding=1, text=['Title']), TCON(encoding=1, text=genres), TYER(encoding=0, text=['1999']),
               COMM(encoding=1, lang='eng', desc='', text=['my note']), TXXX(encoding=1, desc='MINE', text=['kept']),
               APIC(encoding=0, mime='image/png', type=3, desc='', data=b'\x89PNG cover')): t.add(fr)
    t.save(path, v2_version=version, v1=2)
    return path


def samples(path): return load_audio(path, sr=None, mono=False)


def genres_in(path) -> list:
    "The genre values of `path` as stored (ID3 read as stored, not translated)."
    f = mutagen.File(path)
    if isinstance(f.tags, ID3): return [t for fr in f.tags.getall('TCON') for t in fr.text]
    return list(f.tags.get('genre') or []) if f.tags else []


def values(path) -> list:
    "The genre values of `path`, a '/'-joined ID3v2.3 value counted as its parts."
    return [x for v in genres_in(path) for x in v.split('/')]


def genre_of(csv, path) -> str: return pd.read_csv(csv).set_index('path').loc[str(path), 'genre']


def strays(folder) -> list: return sorted(p.name for p in Path(folder).rglob('.*') if 'genriflow' in p.name)


def test_genre_added_beside_the_users_and_v23_kept(tiny_bundle, tmp_path):
    bundle, _ = tiny_bundle
    lib = tmp_path / 'lib'
    v23 = id3_song(lib / 'v23.mp3', ['Rock/Jazz'], 3, seed=1)
    v24 = id3_song(lib / 'v24.mp3', ['Rock', 'Jazz'], 4, seed=2)
    flac = song(lib / 'two.flac', 3, genres=['Rock', 'Jazz'])
    opus = song(lib / 'none.opus', 4)
    before = {p: samples(p) for p in (v23, v24, flac, opus)}
    frames, v1 = ID3(v23, translate=False, load_v1=False), v23.read_bytes()[-128:]
    csv = tmp_path / 'r.csv'
    r = run_cli('classify', lib, '--model', bundle, '--output', csv, '--write-tags', '--quiet')
    assert r.returncode == 0, r.stdout + r.stderr
    g = {p: genre_of(csv, p) for p in before}
    after = ID3(v23, translate=False, load_v1=False)
    assert after.version == (2, 3, 0) and after['TCON'].text == [f'Rock/Jazz/{g[v23]}']  # v2.3 way: '/'-joined
    assert {k: repr(after[k]) for k in frames.keys() if k != 'TCON'} == {k: repr(frames[k]) for k in frames.keys() if k != 'TCON'}
    assert v23.read_bytes()[-128:] == v1 and v1[:3] == b'TAG'  # ID3v1 kept byte for byte
    assert ID3(v24).version == (2, 4, 0) and ID3(v24)['TCON'].text == ['Rock', 'Jazz', g[v24]]  # multi-value TCON
    assert genres_in(flac) == ['Rock', 'Jazz', g[flac]] and genres_in(opus) == [g[opus]]
    for p, y in before.items(): assert np.array_equal(samples(p), y), p
    assert strays(lib) == []
    stamps = {p: os.stat(p).st_mtime_ns for p in before}
    r = run_cli('classify', lib, '--model', bundle, '--output', csv, '--write-tags', '--quiet')
    assert r.returncode == 0 and '4 already in' in r.stdout, r.stdout
    assert {p: os.stat(p).st_mtime_ns for p in before} == stamps  # nothing written twice


def test_replace_genre_separator_and_tag_field(tiny_bundle, tmp_path):
    bundle, _ = tiny_bundle
    runs = {'replace': ['--replace-genre'], 'sep': ['--genre-separator', '; '], 'field': ['--tag-field', 'TXXX:GENRIFLOW']}
    for name, opts in runs.items():
        lib = tmp_path / name
        mp3, flac = id3_song(lib / 'a.mp3', ['Rock', 'Jazz'], 4, seed=5), song(lib / 'b.flac', 6, genres=['Rock', 'Jazz'])
        csv = tmp_path / f'{name}.csv'
        r = run_cli('classify', lib, '--model', bundle, '--output', csv, '--write-tags', '--quiet', *opts)
        assert r.returncode == 0, r.stdout + r.stderr
        ga, gb = genre_of(csv, mp3), genre_of(csv, flac)
        if name == 'replace': assert (genres_in(mp3), genres_in(flac)) == ([ga], [gb])
        if name == 'sep': assert (genres_in(mp3), genres_in(flac)) == ([f'Rock; Jazz; {ga}'], [f'Rock; Jazz; {gb}'])
        if name == 'field':
            assert (genres_in(mp3), genres_in(flac)) == (['Rock', 'Jazz'], ['Rock', 'Jazz'])  # GENRE untouched
            assert ID3(mp3)['TXXX:GENRIFLOW'].text == [ga] and mutagen.File(flac)['GENRIFLOW'] == [gb]
    r = run_cli('classify', tmp_path / 'sep', '--replace-genre')
    assert r.returncode == 2 and 'needs --write-tags' in r.stderr, r.stderr


def test_links_owner_mode_and_read_only(tiny_bundle, tmp_path):
    "A symlink's target is tagged and the link stays; a hard link stays one; owner and mode stay; 0444 is left alone."
    bundle, _ = tiny_bundle
    lib, elsewhere = tmp_path / 'lib', tmp_path / 'elsewhere'
    hard = song(lib / 'hard.flac', 7, genres=['Rock']); os.link(hard, tmp_path / 'hard-other-name.flac')
    target = song(elsewhere / 'target.ogg', 8, genres=['Rock']); os.symlink(target, lib / 'link.ogg')
    owned = song(lib / 'owned.mp3', 9); os.chown(owned, NOBODY, NOBODY); os.chmod(owned, 0o640)
    ro = song(lib / 'ro.flac', 10, genres=['Rock']); os.chmod(ro, 0o444); ro_bytes = ro.read_bytes()
    ino = os.stat(hard).st_ino
    csv = tmp_path / 'r.csv'
    r = run_cli('classify', lib, '--model', bundle, '--output', csv, '--write-tags', '--quiet')
    assert r.returncode == 1, r.stdout + r.stderr  # one song could not be tagged: listed, the rest done
    assert 'internal error' not in r.stderr and f'{ro}: read-only (mode 444), left untouched' in r.stdout, r.stdout
    assert 'genriflow-tmp' not in r.stdout + r.stderr
    st = os.stat(hard)
    assert (st.st_ino, st.st_nlink) == (ino, 2) and genres_in(tmp_path / 'hard-other-name.flac') == ['Rock', genre_of(csv, hard)]
    assert os.path.islink(lib / 'link.ogg') and genres_in(target) == ['Rock', genre_of(csv, lib / 'link.ogg')]
    st = os.stat(owned)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (NOBODY, NOBODY, 0o640) and genres_in(owned) == [genre_of(csv, owned)]
    assert ro.read_bytes() == ro_bytes and len(pd.read_csv(csv)) == 4
    assert strays(lib) == [] and strays(elsewhere) == []


def test_unwritable_folder_is_a_per_song_failure(tiny_bundle):
    "Run as nobody on songs nobody may write, in a folder nobody may not write in: each song fails in one line."
    if os.getuid() != 0 or not shutil.which('setpriv'): pytest.skip('needs root and setpriv to run as another user')
    bundle, _ = tiny_bundle
    base = Path(tempfile.mkdtemp(prefix='genriflow-nobody-')); os.chmod(base, 0o755)  # pytest's tmp is root-only
    try:
        shutil.copytree(bundle, base / 'bundle')
        songs = [song(base / 'lib' / f's{i}.flac', 11 + i, genres=['Rock']) for i in range(2)]
        for p in songs: os.chown(p, NOBODY, NOBODY)  # the files are nobody's, the folder is root's
        home = base / 'home'; home.mkdir(); os.chown(home, NOBODY, NOBODY)
        env = dict(HOME=str(home), NUMBA_CACHE_DIR=str(home / 'numba'), MPLCONFIGDIR=str(home / 'mpl'))
        r = subprocess.run(['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups', genriflow_exe(),
                            'classify', str(base / 'lib'), '--model', str(base / 'bundle'), '--output', str(home / 'r.csv'),
                            '--write-tags', '--quiet', '--workers', '1'],
                           capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONWARNINGS='ignore', **env))
        assert r.returncode == 1 and 'internal error' not in r.stderr, r.stdout + r.stderr
        for p in songs: assert f'{p}: its folder {p.parent} is not writable' in r.stdout, r.stdout
        assert len(pd.read_csv(home / 'r.csv')) == 2 and all(genres_in(p) == ['Rock'] for p in songs)
    finally: shutil.rmtree(base)


def start(lib, bundle, csv, env=None):
    "`genriflow classify --write-tags` in its own process group (so a kill reaches its workers too)."
    return subprocess.Popen([genriflow_exe(), 'classify', str(lib), '--model', str(bundle), '--output', str(csv),
                             '--write-tags', '--quiet', '--no-progress', '--workers', '1'], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONWARNINGS='ignore', **(env or {})),
                            start_new_session=True)


def kill_when(proc, present) -> bool:
    "SIGKILL `proc`'s group at a moment `present()` holds (checked again with the group stopped); False if it ended first."
    while proc.poll() is None:
        if present():
            os.killpg(proc.pid, signal.SIGSTOP)
            if present(): os.killpg(proc.pid, signal.SIGKILL); proc.communicate(); return True
            os.killpg(proc.pid, signal.SIGCONT)
    return False


@pytest.mark.parametrize('linked', [False, True], ids=['renamed-copy', 'hard-linked-in-place'])
def test_kill_while_tagging(tiny_bundle, tmp_path, linked):
    "SIGKILL while a temporary (or, for hard links, the backup) exists: every song is its old or new self, and the next run cleans up."
    bundle, _ = tiny_bundle
    lib = tmp_path / 'lib'
    songs = [song(lib / f's{i:02d}.wav', 20 + i, seconds=20.0, sr=44100) for i in range(6)]
    for p in songs: f = mutagen.File(p); f.add_tags(); f.tags.add(TCON(encoding=3, text=['Rock'])); f.save(v2_version=3)
    if linked:
        for p in songs: os.link(p, tmp_path / f'other-{p.name}')
    before = {p: samples(p) for p in songs}
    mark = '.genriflow-backup' if linked else '.genriflow-tmp'
    proc = start(lib, bundle, tmp_path / 'r.csv')
    assert kill_when(proc, lambda: any(mark in n for n in os.listdir(lib))), 'the run ended before it was caught tagging'
    left = strays(lib)
    assert left, 'killed while a temporary existed, yet none is left'
    def intact():
        for p, y in before.items():
            assert np.array_equal(samples(p), y), p
            assert values(p)[:1] == ['Rock'] and len(values(p)) <= 2, (p, values(p))
    if not linked: intact()  # renamed copies: already whole, before any recovery
    r = run_cli('classify', lib, '--model', bundle, '--output', tmp_path / 'r.csv', '--write-tags', '--quiet')
    assert r.returncode == 0, r.stdout + r.stderr
    assert f'cleaned up after an interrupted genriflow run ({len(left)})' in r.stdout, r.stdout
    assert 'hidden' not in r.stdout and strays(lib) == []
    intact()
    assert all(len(values(p)) == 2 for p in songs)
    if linked: assert all(os.stat(p).st_nlink == 2 for p in songs)


def test_tagged_songs_are_recorded_at_once_and_not_redone(tiny_bundle, tmp_path):
    "Killed after 3 songs are tagged (results saved only every 5 s otherwise): a resumed run rewrites none of them."
    bundle, _ = tiny_bundle
    lib = tmp_path / 'lib'
    songs = [song(lib / f's{i:02d}.flac', 40 + i, genres=['Rock']) for i in range(8)]
    first = {p: os.stat(p).st_ino for p in songs}
    def tagged(): return [p for p in songs if os.stat(p).st_ino != first[p]]
    csv = tmp_path / 'r.csv'
    proc = start(lib, bundle, csv, env=dict(GENRIFLOW_SAVE_EVERY='5'))
    assert kill_when(proc, lambda: len(tagged()) >= 3), 'the run ended before 3 songs were tagged'
    done = tagged()
    recorded = set(pd.read_csv(csv).query('tagged == tagged')['path']) if csv.exists() else set()
    assert len({str(p) for p in done} - recorded) <= 1, (done, recorded)  # only the song being saved as it was killed
    stamps = {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in done}
    r = run_cli('classify', lib, '--model', bundle, '--output', csv, '--write-tags', '--quiet')
    assert r.returncode == 0, r.stdout + r.stderr
    assert {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in done} == stamps  # none rewritten
    assert all(len(genres_in(p)) == 2 for p in songs)


def test_only_confident_rows_are_tagged_and_saved_at_once(tmp_path):
    "`uncertain`, `silent`, non-music and failed rows never reach a tag; a confident one is added and saved at once."
    from genriflow.library import _tag
    p = song(tmp_path / 'a.flac', 1, genres=['Rock'])
    data = p.read_bytes()
    base = dict(path=str(p), genre='jazz', uncertain=False, silent=False, kind='music', error='', tagged='')
    saves = []
    for flagged in (dict(uncertain=True, genre='uncertain'), dict(silent=True, genre='silent'), dict(kind='speech'),
                    dict(error=f'{p}: broken'), dict(genre='')):
        assert _tag(dict(base, **flagged), True, lambda: saves.append(1)) is None
    assert p.read_bytes() == data and saves == []
    row = dict(base)
    assert _tag(row, dict(replace_genre=False), lambda: saves.append(1)) is None
    assert row['tagged'] == 'jazz' and genres_in(p) == ['Rock', 'jazz'] and saves == [1]
    assert _tag(dict(row, tagged=''), True, lambda: saves.append(1)) is None and saves == [1]  # nothing new: no write
