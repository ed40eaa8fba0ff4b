"""Feature extraction speed: genriflow's one-STFT path against separate librosa calls, then the torch batch path on a
device against the numpy path on every CPU core of the same machine.

Single process with BLAS on one thread (per core), on the same clips:
  naive librosa calls, genriflow `extract`, and STFT + power alone (the floor of any STFT-based path);
  `ratio_vs_naive=<x> ratio_vs_floor=<y>`: genriflow clips/s / naive clips/s, genriflow time / floor time.
Whole machine, on 30 s clips (`--seconds`):
  the device: `extract_many` (clips staged in pinned host memory, copied to the device, features computed there and
  copied back to host numpy arrays: both copies are timed), after one untimed warm-up batch;
  all CPU cores: `extract` in a process pool of `genriflow.files.usable_cpus()` workers (features left in the workers,
  so the CPU side pays no copy back), after an untimed warm-up of every worker.
Last line: `device=<d> gpu_clips_per_s=<x> cpu_all_cores_clips_per_s=<y> ratio=<x/y>` (gpu_clips_per_s is the torch
path on `--device`, whatever that is).
Usage: python benchmarks/bench_features.py [--device auto|cpu|cuda] [--clips 12] [--seconds 30] [--repeats 3]
                                           [--device-clips N] [--batch-size B] [--pool-clips N]
"""
import argparse, time
import numpy as np
import librosa
from genriflow.features import FeatureConfig, extract, extract_many, power_spectrum, music_like, feature_block
from genriflow.files import usable_cpus, process_pool, resolve_device, one_blas_thread

_CLIPS = []  # the clips, inherited by the forked pool workers


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


def _pool_task(i):
    "Features of clip `i` in a pool worker; only the shape goes back."
    return extract(_CLIPS[i % len(_CLIPS)]).shape


def cpu_all_cores(n_clips):
    "clips/s of the numpy path on every usable CPU, one process each."
    workers = usable_cpus()
    with process_pool(workers) as pool:
        list(pool.map(_pool_task, range(2 * workers)))  # warm-up: every worker starts and runs a clip or two
        t0 = time.perf_counter()
        list(pool.map(_pool_task, range(n_clips)))
        return workers, n_clips / (time.perf_counter() - t0)


def on_device(device, n_clips, batch_size, cfg):
    "clips/s of `extract_many` on `device`, copies to and from the device included; and its largest differences from numpy on one batch."
    clips = lambda n: (_CLIPS[i % len(_CLIPS)] for i in range(n))
    first = next(extract_many(clips(batch_size), cfg, device, batch_size))  # warm-up: FFT plans, filter banks
    diff = {name: max(float(np.abs(feature_block(first[i], name, cfg) - feature_block(extract(_CLIPS[i % len(_CLIPS)], cfg), name, cfg)).max())
                      for i in range(min(4, len(first)))) for name in ('chroma', 'mel')}
    t0 = time.perf_counter()
    done = sum(len(X) for X in extract_many(clips(n_clips), cfg, device, batch_size))
    return done / (time.perf_counter() - t0), diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='auto', help='auto (CUDA when present), cpu or cuda')
    ap.add_argument('--clips', type=int, default=12, help='distinct clips (the whole-machine runs cycle through them)')
    ap.add_argument('--seconds', type=float, default=30.0)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--device-clips', type=int, help='clips through the device path (default 512 on CUDA, 16 on CPU)')
    ap.add_argument('--batch-size', type=int, help='clips per device batch (default 64 on CUDA, 8 on CPU)')
    ap.add_argument('--pool-clips', type=int, help='clips through the CPU pool (default 8 per worker)')
    a = ap.parse_args()
    device = resolve_device(a.device)
    cuda = device.type == 'cuda'
    cfg = FeatureConfig(clip_seconds=a.seconds)
    _CLIPS[:] = [music_like(a.seconds, cfg.sr, seed=i) for i in range(a.clips)]
    for y in _CLIPS[:2]: naive(y, cfg.sr); extract(y, cfg)  # warm-up: numba compilation and filter caches
    with one_blas_thread():  # one core, as each pool worker below runs
        floor = best_time(lambda y: power_spectrum(y, cfg), _CLIPS, a.repeats)
        ours = best_time(lambda y: extract(y, cfg), _CLIPS, a.repeats)
        slow = best_time(lambda y: naive(y, cfg.sr), _CLIPS, max(1, a.repeats - 1))
    print(f'{a.clips} clips of {a.seconds:.0f} s at {cfg.sr} Hz, one process, BLAS on one thread')
    print(f'naive librosa calls : {1 / slow:8.1f} clips/s  ({slow * 1e3:6.1f} ms/clip)')
    print(f'genriflow extract   : {1 / ours:8.1f} clips/s  ({ours * 1e3:6.1f} ms/clip)')
    print(f'STFT + power (floor): {1 / floor:8.1f} clips/s  ({floor * 1e3:6.1f} ms/clip)')
    print(f'ratio_vs_naive={slow / ours:.2f} ratio_vs_floor={ours / floor:.2f}')
    batch = a.batch_size or (64 if cuda else 8)
    n_dev = a.device_clips or (512 if cuda else 16)
    dev_rate, diff = on_device(device, n_dev, batch, cfg)
    name = torch_device_name(device)
    print(f'torch extract_many on {name}: {dev_rate:8.1f} clips/s  ({n_dev} clips, batches of {batch}, '
          f'host copies included; vs numpy: chroma {diff["chroma"]:.1e}, mel {diff["mel"]:.1e} dB)')
    workers, cpu_rate = cpu_all_cores(a.pool_clips or 8 * usable_cpus())
    print(f'numpy extract on {workers} CPU worker processes: {cpu_rate:8.1f} clips/s')
    print(f'device={device} gpu_clips_per_s={dev_rate:.1f} cpu_all_cores_clips_per_s={cpu_rate:.1f} ratio={dev_rate / cpu_rate:.2f}')


def torch_device_name(device) -> str:
    "The device in words: the GPU's model name, or 'cpu'."
    import torch
    return torch.cuda.get_device_name(device) if device.type == 'cuda' else f'cpu ({torch.get_num_threads()} threads)'


if __name__ == '__main__': main()
