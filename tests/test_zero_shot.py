"""End-to-end: `genriflow classify` with the built-in tagger tells music from speech, noise, tones and silence.

The probes are made here (`genriflow.zeroshot.probe_signals`, and espeak-ng speech when it is installed); one
classify run over them and a synthetic song with clear tags feeds every test.
"""
import json, shutil, subprocess
from pathlib import Path
import pytest
import soundfile as sf
from conftest import run_cli, write_audio

NON_MUSIC = {'silence': 'silence', 'white-noise': 'noise', 'pink-noise': 'noise', 'brown-noise': 'noise',
             'sine-440': 'tone', 'chord-c-major': 'tone', 'speech-like': 'speech', 'speech-like-noise': 'speech'}
SR = 16000


@pytest.fixture(scope='module')
def classified(tmp_path_factory):
    "(rows by file name, playlists folder) of one `genriflow classify` run over the probes and a clear synthetic song."
    from genriflow.zeroshot import probe_signals
    from genriflow.synth import render_clip
    lib, out = tmp_path_factory.mktemp('probes'), tmp_path_factory.mktemp('out')
    probes = probe_signals(sr=SR, seconds=12.0)
    for name in NON_MUSIC: sf.write(lib / f'{name}.wav', probes[name][1], SR)
    write_audio(lib / 'song.ogg', render_clip('blues', 20.0, 22050, seed=2), 22050)  # the tagger hears jazz, clearly
    if shutil.which('espeak-ng'):
        text = 'The weather today is cloudy with some rain in the afternoon. Please close the window before you leave.'
        subprocess.run(['espeak-ng', '-v', 'en', '-w', str(lib / 'espeak.wav'), text * 2], check=True, capture_output=True)
    r = run_cli('classify', lib, '--output', out / 'genres.json', '--playlists', out / 'playlists', '--workers', 2, '--no-progress',
                timeout=1200)  # the machine running the tests may be shared
    assert r.returncode == 0, r.stdout + r.stderr
    return {Path(row['path']).stem: row for row in json.loads((out / 'genres.json').read_text())}, out / 'playlists'


@pytest.mark.parametrize('name', sorted(NON_MUSIC))
def test_non_music_gets_its_kind_and_no_genre(classified, name):
    from genriflow.playlists import confident
    row = classified[0][name]
    assert (row['kind'], row['genre'], row['uncertain']) == (NON_MUSIC[name], '', True), row
    assert row['silent'] is (name == 'silence') and not confident(row)
    assert len(row['tags']['msd']) == 50 and len(row['tags']['mtt']) == 50  # the JSON keeps all 100 tag probabilities


def test_non_music_never_reaches_a_playlist(classified):
    rows, playlists = classified
    listed = ' '.join(p.read_text() for p in playlists.glob('*.m3u8'))
    assert not any(f'{name}.wav' in listed for name in NON_MUSIC) and 'espeak.wav' not in listed


def test_a_song_with_clear_tags_is_music_and_not_flagged(classified):
    rows, playlists = classified
    song = rows['song']
    assert (song['kind'], song['uncertain'], song['silent']) == ('music', False, False), song
    assert song['genre'] and 0.5 < song['confidence'] <= 1
    assert 'song.ogg' in (playlists / f"{song['genre']}.m3u8").read_text()


def test_espeak_speech_is_speech(classified):
    if 'espeak' not in classified[0]: pytest.skip('espeak-ng is not installed (apt-get install espeak-ng): no real speech probe')
    row = classified[0]['espeak']
    assert (row['kind'], row['genre'], row['uncertain']) == ('speech', '', True), row
