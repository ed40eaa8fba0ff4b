"""Benchmark `GenreClassifier.predict_many` end to end on a library of 4-minute songs.

50 synthetic 4-minute stereo 44.1 kHz songs (half mp3, half ogg) are written once to a cache folder, then classified
with 1 worker process and with every usable CPU (or --workers N): songs per second for each (wall clock, pool start-up
included) and their ratio, the share of per-song work spent decoding (measured in a separate single-process pass:
decode vs features vs model), and the main process's memory after 10 songs and after all of them (flat = independent
of the number of songs).

    python benchmarks/bench_classify.py [--songs 50] [--model BUNDLE] [--workers N]

Without --model it uses a bundle under models/ if there is one, else a full-size GenreCNN with random weights (its
cost per window is that of a trained one). The CPU here is shared with other jobs: timings are noisy.
Last line: songs_per_s=<all workers> songs_per_s_1=<x> scaling_all_vs_1=<ratio> decode_share=<y>
"""
import argparse, os, sys, tempfile, time
from pathlib import Path
import numpy as np
import soundfile as sf
import songs  # benchmarks/songs.py

SR, MINUTES = 44100, 4


def make_song(path: str, seed: int):
    "A 4-minute stereo song from eight 30 s procedural sections; Ogg written in blocks."
    from genriflow.features import music_like
    y = np.concatenate([music_like(30.0, SR, seed=seed * 100 + i) for i in range(2 * MINUTES)])
    st = np.stack([y, 0.8 * y + 0.05 * np.roll(y, 441)], 1).astype(np.float32)
    tmp = path + '.part' + Path(path).suffix
    with sf.SoundFile(tmp, 'w', SR, 2) as f:
        for i in range(0, len(st), 10 * SR): f.write(st[i:i + 10 * SR])
    os.replace(tmp, path)
    return path


def library(folder: Path, n: int) -> list:
    "The n songs (written once; reused by later runs)."
    return songs.library(folder, [f'song{i:03d}.{"mp3" if i % 2 == 0 else "ogg"}' for i in range(n)], make_song)


def default_bundle() -> str:
    "A bundle from models/, or a full-size CNN with random weights."
    found = sorted(Path(__file__).resolve().parent.parent.glob('models/*/bundle.json'))
    if found: return str(found[0].parent)
    from genriflow.cnn import GenreCNN
    from genriflow.bundle import save_bundle
    from genriflow.features import FeatureConfig
    cfg, out = FeatureConfig(), Path(tempfile.mkdtemp()) / 'random-cnn'
    genres = ['blues', 'classical', 'country', 'disco', 'hiphop', 'jazz', 'metal', 'pop', 'reggae', 'rock']
    save_bundle(out, GenreCNN(n_rows=cfg.n_rows, n_classes=len(genres)),
                dict(class_names=genres, feature_config=cfg.to_dict(), window_seconds=3.0,
                     standardizer=dict(mean=[0.0] * cfg.n_rows, std=[20.0] * cfg.n_rows)))
    return str(out)


def rss_mb() -> float:
    import psutil
    return psutil.Process().memory_info().rss / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--songs', type=int, default=50)
    ap.add_argument('--workers', type=int, default=None, help='workers of the parallel run (default: every usable CPU)')
    ap.add_argument('--model', default=None)
    ap.add_argument('--cache', default=str(Path(tempfile.gettempdir()) / 'genriflow-bench-classify'))
    a = ap.parse_args()
    from genriflow.inference import GenreClassifier, window_features
    from genriflow.excerpts import read_windows
    from genriflow.files import quiet_stderr, usable_cpus
    paths = library(Path(a.cache), a.songs)
    bundle = a.model or default_bundle()
    clf = GenreClassifier.load(bundle, device='cpu')
    print(f'model: {bundle} ({len(clf.class_names)} genres); {len(paths)} songs of {MINUTES} min, {SR} Hz stereo, mp3 + ogg')
    window_features(np.zeros((2, 66150), np.float32), clf.config)  # warm up librosa/numba once

    # where the time goes, per song, in one process
    n_probe = min(10, len(paths))
    t_dec = t_feat = t_model = 0.0
    for p in paths[:n_probe]:
        t = time.perf_counter()
        with quiet_stderr(): wins, _ = read_windows(p, clf.window_seconds, clf.config.sr)
        t_dec += time.perf_counter() - t; t = time.perf_counter()
        X = window_features(wins, clf.config, clf.frames)
        X = (X - clf.mean[:, None]) / clf.std[:, None]
        t_feat += time.perf_counter() - t; t = time.perf_counter()
        clf.probabilities(X.astype(np.float32))
        t_model += time.perf_counter() - t
    total = t_dec + t_feat + t_model
    print(f'one process, per song: decode {1e3 * t_dec / n_probe:.0f} ms, features {1e3 * t_feat / n_probe:.0f} ms, '
          f'model {1e3 * t_model / n_probe:.0f} ms ({len(wins)} windows of {clf.window_seconds:g} s)')

    # end to end: one worker, then all of them
    def run(workers):
        rss, t0, n_ok = {}, time.perf_counter(), 0
        for i, pred in enumerate(clf.predict_many(paths, workers=workers, progress=False), 1):
            n_ok += pred.ok
            if not pred.ok: print(pred.error)
            if i in (10, len(paths)): rss[i] = rss_mb()
        wall = time.perf_counter() - t0
        print(f'{len(paths)} songs ({n_ok} ok) with {workers} worker(s) in {wall:.1f} s: {len(paths) / wall:.2f} songs/s (pool start-up included)')
        return len(paths) / wall, rss
    n_all = a.workers or usable_cpus()
    sps_1, _ = run(1)
    sps, rss = run(n_all)
    print('main-process memory: ' + ', '.join(f'{v:.0f} MB after {k} songs' for k, v in rss.items()))
    print(f'songs_per_s={sps:.2f} songs_per_s_1={sps_1:.2f} scaling_all_vs_1={sps / sps_1:.2f} decode_share={t_dec / total:.2f}')


if __name__ == '__main__':
    main()
