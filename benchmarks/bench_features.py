"""Feature extraction speed: genriflow's one-STFT path against separate librosa calls, on the same clips.

Prints clips/s for each way and, last, `ratio_vs_naive=<x> ratio_vs_floor=<y>`:
ratio_vs_naive = genriflow clips/s / naive clips/s (single process, so per core);
ratio_vs_floor = genriflow time per clip / (STFT + power spectrum) time per clip, the floor of any STFT-based path.
Usage: python benchmarks/bench_features.py [--clips 12] [--seconds 30] [--repeats 3]
"""
import argparse, time
import numpy as np
import librosa
from genriflow.features import FeatureConfig, extract, power_spectrum, music_like

def naive(y, sr):
    "One librosa call per feature, as most genre-classification code does."
    return (librosa.feature.chroma_stft(y=y, sr=sr), librosa.feature.tonnetz(y=y, sr=sr),
            librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr)), librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20))

def best_time(fn, clips, repeats):
    "Best of `repeats` passes over all clips, in seconds per clip (best-of damps noise from other processes)."
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter()
        for y in clips: fn(y)
        best = min(best, (time.perf_counter() - t0) / len(clips))
    return best

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clips', type=int, default=12); ap.add_argument('--seconds', type=float, default=30.0)
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    cfg = FeatureConfig()
    clips = [music_like(a.seconds, cfg.sr, seed=i) for i in range(a.clips)]
    for y in clips[:2]: naive(y, cfg.sr); extract(y, cfg)  # warm-up: numba compilation and filter caches
    floor = best_time(lambda y: power_spectrum(y, cfg), clips, a.repeats)
    ours = best_time(lambda y: extract(y, cfg), clips, a.repeats)
    slow = best_time(lambda y: naive(y, cfg.sr), clips, max(1, a.repeats - 1))
    print(f'{a.clips} clips of {a.seconds:.0f} s at {cfg.sr} Hz, one process')
    print(f'naive librosa calls : {1 / slow:8.1f} clips/s  ({slow * 1e3:6.1f} ms/clip)')
    print(f'genriflow extract   : {1 / ours:8.1f} clips/s  ({ours * 1e3:6.1f} ms/clip)')
    print(f'STFT + power (floor): {1 / floor:8.1f} clips/s  ({floor * 1e3:6.1f} ms/clip)')
    print(f'ratio_vs_naive={slow / ours:.2f} ratio_vs_floor={ours / floor:.2f}')

if __name__ == '__main__': main()
