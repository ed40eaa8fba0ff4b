"""Feature-store speed: `extract_features` with 1 worker and with every usable CPU, then a cached rerun, against the
naive per-clip loop.

The naive loop is what most genre-classification code does: `librosa.load`, then separate librosa calls for
chroma_stft, tonnetz(y=...), melspectrogram and mfcc(y=...), one process, BLAS on one thread (on a 2-core machine that
is faster than the default two threads, so the ratios below are conservative); it is timed on a subset
(`--naive-clips`).
Prints clips/s for each way and, last,
`ratio_all_vs_naive=<x> cached_rerun_speedup=<y> scaling_all_vs_1=<z>`:
ratio_all_vs_naive = clips/s of extract_features(workers=None, i.e. every usable CPU) / naive clips/s, both after an
untimed warm-up (imports, numba); each extract_features call forks its own worker pool, and that start is timed;
cached_rerun_speedup = time of the first all-worker run / time of the rerun on the filled store;
scaling_all_vs_1 = clips/s with every usable CPU / clips/s with workers=1.
Clips are synthetic 30 s wav files (genriflow.synth demo genres when available, else features.music_like).
Peak memory: run under `/usr/bin/time -v`; the script also prints the peak RSS of this process and of its workers.
Usage: python benchmarks/bench_extract.py [--clips 200] [--naive-clips 20] [--seconds 30] [--dir DIR] [--keep]
                                         [--naive-parallel] [--rounds 4]
The ways are timed in interleaved rounds (a chunk of clips each), so a CPU shared with other jobs loads them alike.
"""
import argparse, os, resource, shutil, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd
import soundfile as sf
import librosa
from genriflow.features import FeatureConfig, extract, music_like
from genriflow.store import extract_features
from genriflow.files import usable_cpus


def make_clips(root: Path, n: int, seconds: float, sr: int) -> pd.DataFrame:
    "Write (or reuse) `n` synthetic clips under `root`; return a manifest of them."
    try:
        from genriflow.synth import DEMO_GENRES, make_demo_dataset
        make_demo_dataset(root, n_per_genre=-(-n // len(DEMO_GENRES)), seconds=seconds, sr=sr, seed=0, workers=usable_cpus())
        paths = sorted(str(p) for p in (root / 'genres_original').rglob('*.wav'))
        # take clips round-robin over genres, so any n is balanced
        by_genre = {}
        for p in paths: by_genre.setdefault(Path(p).parent.name, []).append(p)
        paths = [p for group in zip(*by_genre.values()) for p in group][:n]
        source = 'genriflow.synth demo genres'
    except ImportError:
        folder = root / 'music_like'; folder.mkdir(parents=True, exist_ok=True); paths = []
        for i in range(n):
            p = folder / f'clip{i:05d}.wav'
            if not p.exists(): sf.write(p, music_like(seconds, sr, seed=i), sr)
            paths.append(str(p))
        source = 'features.music_like'
    if len(paths) < n: raise SystemExit(f'only {len(paths)} clips could be made under {root}')
    return pd.DataFrame(dict(path=paths, track_id=[Path(p).stem for p in paths])), source


def naive(path: str, sr: int):
    "The usual per-clip code: decode with librosa, then one librosa call per feature (BLAS on one thread: faster here)."
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api='blas'):
        y, sr = librosa.load(path, sr=sr)
        return (librosa.feature.chroma_stft(y=y, sr=sr), librosa.feature.tonnetz(y=y, sr=sr),
                librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr)), librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20))


def timed(fn):
    t0 = time.perf_counter(); out = fn(); return out, time.perf_counter() - t0


def peak_mb(who) -> float: return resource.getrusage(who).ru_maxrss / 1024


def worker_peaks_mb() -> list:
    "Peak RSS (VmHWM) of this process's live child processes (the loky workers), from /proc."
    out = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            if int(stat.read_text().rsplit(')', 1)[1].split()[1]) != os.getpid(): continue
            hwm = [l for l in (stat.parent / 'status').read_text().splitlines() if l.startswith('VmHWM')]
            if hwm: out.append(int(hwm[0].split()[1]) / 1024)
        except (OSError, ValueError, IndexError): pass
    return sorted(out, reverse=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clips', type=int, default=200); ap.add_argument('--naive-clips', type=int, default=20)
    ap.add_argument('--seconds', type=float, default=30.0)
    ap.add_argument('--dir', help='folder for the clips (reused between runs); default: a temporary folder')
    ap.add_argument('--keep', action='store_true', help='keep the clips and feature stores')
    ap.add_argument('--naive-parallel', action='store_true', help='also time the naive code on joblib workers, one per usable CPU')
    ap.add_argument('--rounds', type=int, default=4, help='interleave the timed ways in this many rounds')
    a = ap.parse_args()
    cfg = FeatureConfig(clip_seconds=a.seconds)
    root = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix='genriflow-bench-'))
    work = Path(tempfile.mkdtemp(prefix='genriflow-bench-store-', dir=root.parent if a.dir else None))
    try:
        (manifest, source), t_make = timed(lambda: make_clips(root, a.clips, a.seconds, cfg.sr))
        n_cpu = usable_cpus()
        print(f'{a.clips} clips of {a.seconds:.0f} s at {cfg.sr} Hz ({source}; made or found in {t_make:.1f} s), '
              f'{n_cpu} usable CPUs')
        # warm-up, untimed, the same for every path: imports, numba, filter caches
        naive(manifest.path[0], cfg.sr); extract(music_like(a.seconds, cfg.sr), cfg)
        _, t_pool = timed(lambda: extract_features(manifest[:2], work / 'warm', cfg, workers=None, progress=False))
        print(f'warm-up: forking {n_cpu} workers and extracting 2 clips took {t_pool:.1f} s (every call forks its pool; '
              f'that start is timed below)')
        # The CPU may be shared with other jobs: interleave the ways in rounds so each sees the same load on average.
        k, R = min(a.naive_clips, a.clips), max(1, min(a.rounds, a.naive_clips, a.clips))
        chunks, naive_chunks = np.array_split(np.arange(a.clips), R), np.array_split(np.arange(k), R)
        t = dict(naive=0.0, w1=0.0, wall=0.0, naive_cpu=0.0, w1_cpu=0.0, naive_par=0.0)
        counts = dict(w1=0, wall=0)
        for rows, nrows in zip(chunks, naive_chunks):
            c0 = time.process_time()
            _, dt = timed(lambda: [naive(p, cfg.sr) for p in manifest.path.iloc[nrows]])
            t['naive'] += dt; t['naive_cpu'] += time.process_time() - c0
            if a.naive_parallel:  # the same naive code on one loky worker per CPU, for a like-for-like view
                from joblib import Parallel, delayed
                t['naive_par'] += timed(lambda: Parallel(n_jobs=n_cpu)(delayed(naive)(p, cfg.sr) for p in manifest.path.iloc[nrows]))[1]
            c0 = time.process_time()
            r1, dt = timed(lambda: extract_features(manifest.iloc[rows], work / 'w1', cfg, workers=1, progress=False))
            t['w1'] += dt; t['w1_cpu'] += time.process_time() - c0; counts['w1'] += r1.attrs['computed']
            r2, dt = timed(lambda: extract_features(manifest.iloc[rows], work / 'wall', cfg, workers=None, progress=False))
            t['wall'] += dt; counts['wall'] += r2.attrs['computed']
        assert counts['w1'] == counts['wall'] == a.clips, counts
        cached, t_cached = timed(lambda: extract_features(manifest, work / 'wall', cfg, workers=None, progress=False))
        assert cached.attrs['cached'] == a.clips and cached.attrs['computed'] == 0
        ones = extract_features(manifest, work / 'w1', cfg, workers=1, progress=False)
        assert np.array_equal(np.load(ones.features.iloc[-1]), np.load(cached.features.iloc[-1])), 'workers=1 and all differ'
        r_naive, r1, r_all, r3 = k / t['naive'], a.clips / t['w1'], a.clips / t['wall'], a.clips / t_cached
        print(f'naive loop (librosa.load + 4 librosa calls), {k} clips: {r_naive:8.1f} clips/s  '
              f'(CPU {t["naive_cpu"] / k * 1e3:.0f} ms/clip)')
        if a.naive_parallel: print(f'naive code on {n_cpu} joblib workers, {k} clips      : {k / t["naive_par"]:8.1f} clips/s')
        print(f'extract_features workers=1                     : {r1:8.1f} clips/s  ({r1 / r_naive:.1f}x naive; '
              f'CPU {t["w1_cpu"] / a.clips * 1e3:.0f} ms/clip)')
        print(f'extract_features workers=None ({n_cpu} processes)    : {r_all:8.1f} clips/s  ({r_all / r_naive:.1f}x naive, '
              f'{r_all / r1:.2f}x one worker)')
        print(f'extract_features rerun on the filled store     : {r3:8.1f} clips/s  ({t["wall"] / t_cached:.0f}x the first run)')
        store_mb = sum(f.stat().st_size for f in (work / 'wall').rglob('*.npy')) / 2**20
        print(f'feature store: {store_mb:.0f} MiB for {a.clips} clips; peak RSS: this process '
              f'{peak_mb(resource.RUSAGE_SELF):.0f} MiB, each worker {", ".join(f"{m:.0f}" for m in worker_peaks_mb()) or "(gone)"} MiB')
        print(f'ratio_all_vs_naive={r_all / r_naive:.1f} cached_rerun_speedup={t["wall"] / t_cached:.0f} scaling_all_vs_1={r_all / r1:.2f}')
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
            if not a.dir: shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__': main()
