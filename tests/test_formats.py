"""Every common audio format a real library holds decodes through genriflow.audio (soundfile first, FFmpeg via PyAV
after), windows are read with seeks, and scanning a library finds the files of every format and reports the rest."""
import os
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf
from genriflow.audio import AudioError, load_audio, scan_audio, find_audio, audio_info
from genriflow.excerpts import read_windows, window_offsets

av = pytest.importorskip('av')
SR = 44100
SECONDS = 20.0


def music(seconds=SECONDS, sr=SR, seed=0):
    "Chords, bass and a noisy hi-hat in stereo: enough structure to tell a misplaced window from the right one."
    rng = np.random.default_rng(seed); t = np.arange(int(seconds * sr)) / sr; y = np.zeros_like(t)
    roots = np.resize([220.0, 293.7, 329.6, 246.9, 196.0], int(np.ceil(seconds)))
    for i, root in enumerate(roots):
        seg = (t >= i) & (t < i + 1)
        for ratio in (1, 1.26, 1.5): y[seg] += 0.15 * np.sin(2 * np.pi * root * ratio * t[seg])
        y[seg] += 0.2 * np.sin(np.pi * root * t[seg])
    y += 0.05 * np.exp(-30 * (t % 0.25)) * rng.standard_normal(len(t))
    return np.stack([y, 0.8 * y], 1).astype(np.float32)


def encode(path, y, sr, codec, fmt, shift=0):
    "Encode float32 `(samples, channels)` with FFmpeg's `codec` in container `fmt` through PyAV; `shift` moves every timestamp."
    with av.open(str(path), 'w', format=fmt) as c:
        s = c.add_stream(codec, rate=48000 if 'opus' in codec else sr, layout='stereo')
        def mux(packets):
            for p in packets:
                p.pts += shift; p.dts = p.pts; c.mux(p)
        for i in range(0, len(y), sr):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(y[i:i + sr].T), format='fltp', layout='stereo')
            f.sample_rate, f.pts = sr, i
            mux(s.encode(f))
        mux(s.encode(None))
    return Path(path)


@pytest.fixture(scope='module')
def library(tmp_path_factory):
    "A folder with the same song as m4a (AAC), Ogg Opus as FFmpeg writes it, an Ogg Opus libsndfile refuses, mp3 and flac."
    root = tmp_path_factory.mktemp('formats')
    y = music()
    sf.write(root / 'song.flac', y, SR)
    sf.write(root / 'song.mp3', y, SR)
    encode(root / 'song.m4a', y, SR, 'aac', 'mp4')
    encode(root / 'song.opus', y, SR, 'libopus', 'ogg')
    encode(root / 'refused.opus', y, SR, 'libopus', 'ogg', shift=-312)  # first page's granule short by the pre-skip
    return root, load_audio(root / 'song.flac')


def best_correlation(x, ref, max_lag=2048):
    "Correlation of `x` with `ref` at the shift within `max_lag` samples (codec delays) that lines them up best, and that shift."
    n = min(len(x), len(ref)); lags = np.r_[0:max_lag, -max_lag:0]
    xc = np.fft.irfft(np.fft.rfft(x[:n], 2 * n) * np.conj(np.fft.rfft(ref[:n], 2 * n)))  # xc[k] = sum x[i + k] ref[i]
    lag = int(lags[np.argmax(xc[lags])])
    a, b = (x[lag:], ref) if lag >= 0 else (x, ref[-lag:])
    m = min(len(a), len(b))
    return float(np.corrcoef(a[:m], b[:m])[0, 1]), lag


def test_every_format_decodes_by_windows(library):
    root, ref = library
    with pytest.raises(sf.LibsndfileError, match='malformed'): sf.info(root / 'refused.opus')  # the case FFmpeg rescues
    offsets = window_offsets(SECONDS)
    for name in ('song.m4a', 'song.opus', 'refused.opus', 'song.mp3', 'song.flac'):
        wins, dur = read_windows(root / name)
        assert wins.shape == (len(offsets), 3 * 22050), name
        assert abs(dur - SECONDS) < 0.1, (name, dur)
        for o, w in zip(offsets, wins):
            start = round(o * 22050)
            corr, lag = best_correlation(w, ref[start:start + len(w)])
            assert corr > 0.95 and abs(lag) <= 1200, (name, o, corr, lag)



def test_scan_finds_a_folder_of_m4a_only(tmp_path):
    y = music(4.0)
    for name in ('b/two.m4a', 'a/one.M4A', 'three.m4a'):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        encode(tmp_path / name, y, SR, 'aac', 'mp4')
    files, skipped = scan_audio([tmp_path])
    assert [os.path.relpath(f, tmp_path) for f in files] == ['a/one.M4A', 'b/two.m4a', 'three.m4a']
    assert skipped == {}
    assert all(load_audio(f).size > 3 * 22050 for f in files)


def test_scan_counts_what_it_skips(library, tmp_path):
    root, _ = library
    for name in ('cover.jpg', 'back.jpg', 'notes.txt', '.DS_Store', '._song.m4a', '.git/config', 'sub/.hidden.mp3'):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True); (tmp_path / name).write_bytes(b'x')
    files, skipped = scan_audio([root, tmp_path, root / 'song.mp3'])
    assert files == sorted(str(p) for p in root.iterdir()) and len(files) == 5
    assert skipped == {'hidden': 4, 'not audio (.jpg, .txt)': 3}
    assert find_audio([root]) == files
    with pytest.raises(AudioError, match='no such file or folder') as e: scan_audio([tmp_path / 'missing'])
    assert '\n' not in str(e.value)


def test_broken_files_fail_quietly_with_one_line(library, tmp_path, capfd):
    root, _ = library
    y = sf.read(root / 'song.flac', dtype='float32')[0][:5 * SR]
    encode(tmp_path / 'granule.opus', y, SR, 'libopus', 'ogg', shift=-50000)  # both decoders fail on it
    m4a = (root / 'song.m4a').read_bytes()
    (tmp_path / 'cut.m4a').write_bytes(m4a[:len(m4a) // 2])  # a download cut off before its index (moov)
    (tmp_path / 'fake.m4a').write_text('not audio\n' * 50)
    capfd.readouterr()
    for name, reason in (('granule.opus', 'corrupt'), ('fake.m4a', 'not a recognised audio format'),
                         ('cut.m4a', 'truncated MP4/M4A')):
        with pytest.raises(AudioError) as e: read_windows(tmp_path / name)
        msg = str(e.value)
        assert msg.startswith(str(tmp_path / name)) and reason in msg and '\n' not in msg, msg
    out, err = capfd.readouterr()
    assert err == '', err  # FFmpeg's log stays off


def test_info_and_seek_agree_for_m4a(library):
    root, _ = library
    info = audio_info(root / 'song.m4a')
    assert info['samplerate'] == SR and info['channels'] == 2 and abs(info['duration'] - SECONDS) < 0.1
    full = load_audio(root / 'song.m4a', sr=None, mono=False)
    part = load_audio(root / 'song.m4a', sr=None, mono=False, offset=12.34, duration=2.0)
    start = round(12.34 * SR)
    ref = full[:, start:start + 2 * SR]
    assert part.shape == ref.shape
    snr = 10 * np.log10(np.sum(ref ** 2) / np.sum((part - ref) ** 2))
    assert snr > 30, snr


def test_classify_command_reads_every_format(library, tmp_path):
    "`genriflow classify` on a folder of m4a, ffmpeg-made Opus (one libsndfile refuses), mp3 and flac classifies every file."
    import json, subprocess, sys
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import run_cli
    root, _ = library
    only_m4a = tmp_path / 'itunes'; only_m4a.mkdir(); (only_m4a / 'a.m4a').write_bytes((root / 'song.m4a').read_bytes())
    r = run_cli('classify', root, only_m4a, '--output', tmp_path / 'out.json', '--workers', 8, '--no-progress')
    assert r.returncode == 0, r.stdout + r.stderr
    rows = json.loads((tmp_path / 'out.json').read_text())
    assert sorted(Path(x['path']).name for x in rows) == ['a.m4a', 'refused.opus', 'song.flac', 'song.m4a', 'song.mp3', 'song.opus']
    assert all(not x['error'] and x['genre'] for x in rows), [x['error'] for x in rows]
