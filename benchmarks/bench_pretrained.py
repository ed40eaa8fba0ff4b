"""Benchmark whole-song tagging with the musicnn port (both networks) on synthetic 4-minute mp3 songs.

30 synthetic 4-minute stereo 44.1 kHz mp3 songs (eight 30 s demo-genre sections each) are written once to a cache
folder. Then:
  1. the networks alone: windows per second through both networks (MSD + MTT) at batch sizes 1, 2, 8 and 32, with
     one torch thread and with all (torch's default), on random log-mel patches (a window's cost does not depend on
     it); the faster thread setting at the default batch is used for step 2;
  2. whole songs, the default tagger: decode `DEFAULT_WINDOWS` 3 s windows per song at 16 kHz and compute their
     log-mel in worker processes (`process_pool(usable_cpus())`), both networks batched in the parent; songs per
     second, wall clock, pool start-up included.

  3. with --channels: what tempo, mood and channels (`genriflow.channels`) add, as classify runs it
     (`MusicnnClassifier.predict_many`), genres only (`clf.channels = False`) against genres + channels, alternating,
     best of `--repeats` each; and the worker's own cost per song in one process.

    python benchmarks/bench_pretrained.py [--songs 30] [--workers 0] [--device cpu] [--channels [--repeats 2]]

The CPU here may be shared with other jobs: timings are noisy. Last line: songs_per_s=<x> windows_per_s=<y>
(windows_per_s: windows per second through both networks alone, at the default batch and the thread setting used).
With --channels the last line is channels_time_ratio=<r> songs_per_s_channels=<x> songs_per_s_genres=<y>.
"""
import argparse, os, tempfile, time
from pathlib import Path
import numpy as np
import soundfile as sf
import songs  # benchmarks/songs.py

SR, MINUTES = 44100, 4


def make_song(path: str, seed: int) -> str:
    "A 4-minute stereo mp3 song: eight 30 s sections, each a demo clip of its own genre and seed."
    from genriflow.synth import render_clip, DEMO_GENRES
    y = np.concatenate([render_clip(DEMO_GENRES[(seed + i) % len(DEMO_GENRES)] if i % 4 == 3 else DEMO_GENRES[seed % len(DEMO_GENRES)],
                                    30.0, SR, seed * 100 + i) for i in range(2 * MINUTES)])
    st = np.stack([y, 0.8 * y + 0.05 * np.roll(y, 441)], 1).astype(np.float32) * 0.7
    tmp = path + '.part.mp3'
    sf.write(tmp, st, SR, format='MP3')
    os.replace(tmp, path)
    return path


def library(folder: Path, n: int, workers: int) -> list:
    "The n songs (written once; reused by later runs)."
    return songs.library(folder, [f'song{i:03d}.mp3' for i in range(n)], make_song, workers)


def networks_alone(tagger, batch_sizes=(1, 2, 8, 32), seconds: float = 4.0) -> dict:
    "Windows per second through both networks at each batch size (random patches, repeated for `seconds`)."
    x = np.random.default_rng(0).uniform(0, 3, (max(batch_sizes), 187, 96)).astype(np.float32)
    out = {}
    for bs in batch_sizes:
        for m in (tagger.msd, tagger.mtt): m.batch_size = bs
        tagger.tag_logmels(x[:bs])  # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            tagger.tag_logmels(x[:bs]); n += bs
        out[bs] = n / (time.perf_counter() - t0)
    return out


def thread_sweep(tagger, threads: list) -> dict:
    "`networks_alone` at each torch thread count; the default thread count is restored."
    import torch
    default, out = torch.get_num_threads(), {}
    for t in threads:
        torch.set_num_threads(t); out[t] = networks_alone(tagger)
    torch.set_num_threads(default)
    return out


def channel_overhead(paths: list, workers: int, device: str, repeats: int) -> dict:
    "Seconds for whole songs as classify runs them, genres only and with channels, alternating; best of `repeats`."
    from genriflow.tagger import MusicnnClassifier, musicnn_windows
    n_probe = min(5, len(paths))
    for on in (False, True): musicnn_windows(paths[0], signals=on)  # warm-up (numba)
    worker = {}
    for on in (False, True):
        t = time.perf_counter()
        for p in paths[:n_probe]: musicnn_windows(p, signals=on)
        worker[on] = (time.perf_counter() - t) / n_probe
    print(f'one process, per song: decode + log-mel {1e3 * worker[False]:.0f} ms; with the channel signals '
          f'{1e3 * worker[True]:.0f} ms (+{1e3 * (worker[True] - worker[False]):.0f} ms)')
    clf = MusicnnClassifier.load(device=device)
    times = {False: [], True: []}
    for _ in range(repeats):
        for on in (False, True):
            clf.channels = on
            t = time.perf_counter()
            rows = [p.row() for p in clf.predict_many(paths, workers=workers, progress=False)]
            times[on].append(time.perf_counter() - t)
            assert all(not r['error'] for r in rows) and (('channel' in rows[0]) and bool(rows[0]['channel'] or rows[0]['channel_note']))
    return {on: min(v) for on, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--songs', type=int, default=30)
    ap.add_argument('--workers', type=int, default=0, help='decoding processes; 0: every usable CPU')
    ap.add_argument('--device', default='cpu', help="networks' device: cpu, cuda, auto")
    ap.add_argument('--cache', default=str(Path(tempfile.gettempdir()) / 'genriflow-bench-pretrained'))
    ap.add_argument('--channels', action='store_true', help='also measure what tempo, mood and channels add')
    ap.add_argument('--repeats', type=int, default=2, help='with --channels: runs of each setting (best kept)')
    a = ap.parse_args()
    import torch
    from genriflow.files import process_pool, resolve_workers, usable_cpus
    from genriflow.musicnn_net import CPU_BATCH
    from genriflow.pretrained import MusicnnTagger, DEFAULT_WINDOWS, song_logmels, window_logmels
    workers = resolve_workers(a.workers)
    paths = library(Path(a.cache), a.songs, workers)
    tagger = MusicnnTagger.load(device=a.device)
    print(f'{len(paths)} songs of {MINUTES} min, {SR} Hz stereo mp3; {DEFAULT_WINDOWS} windows of 3 s per song; '
          f'device {tagger.msd.device}; {usable_cpus()} usable CPUs, torch threads {torch.get_num_threads()}')
    window_logmels(np.zeros((1, 48000), np.float32))  # warm up librosa/numba once

    # 1. the networks alone, batch size sweep (and one thread against all, in this process)
    threads = sorted({1, torch.get_num_threads()}) if tagger.msd.device.type == 'cpu' else [torch.get_num_threads()]
    sweeps = thread_sweep(tagger, threads)
    for t, sw in sweeps.items():
        print(f'networks alone (MSD + MTT), {t} torch thread(s), windows/s by batch size: ' + ', '.join(f'{bs}: {v:.1f}' for bs, v in sw.items()))
    batch = CPU_BATCH if tagger.msd.device.type == 'cpu' else 64
    best = max(sweeps, key=lambda t: sweeps[t].get(batch, max(sweeps[t].values())))
    torch.set_num_threads(best)  # the parent shares the cores with the decoding workers: use what measured fastest
    print(f'networks run with {best} torch thread(s) at batch {batch}: the faster setting in the sweep above')
    sweep = sweeps[best]
    for m in (tagger.msd, tagger.mtt): m.batch_size = batch

    # where the time goes, per song, in one process
    n_probe = min(5, len(paths))
    t_front = t_net = 0.0
    for p in paths[:n_probe]:
        t = time.perf_counter(); lm, dur, level = song_logmels(p)
        t_front += time.perf_counter() - t; t = time.perf_counter()
        tagger.tag_logmels(lm); t_net += time.perf_counter() - t
    print(f'one process, per song: decode + log-mel {1e3 * t_front / n_probe:.0f} ms, both networks {1e3 * t_net / n_probe:.0f} ms')

    # 2. whole songs: decode + log-mel in worker processes, networks in this one
    t0, n_ok, n_windows = time.perf_counter(), 0, 0
    with process_pool(workers) as pool:
        futures = [pool.submit(song_logmels, p) for p in paths]
        for f in futures:  # in order; the pool keeps decoding ahead while the networks run
            lm, dur, level = f.result()
            song = tagger.summarize(tagger.tag_logmels(lm), dur, level)
            n_ok += 1; n_windows += song['windows']
    wall = time.perf_counter() - t0
    sps = n_ok / wall
    print(f'{n_ok} songs ({n_windows} windows) with {workers} decoding workers in {wall:.1f} s: {sps:.2f} songs/s (pool start-up included)')
    print('note: the CPU may be shared with other jobs, so timings are noisy')
    print(f'songs_per_s={sps:.2f} windows_per_s={sweep.get(batch, max(sweep.values())):.1f}')
    if not a.channels: return

    # 3. what channels add to whole-song tagging, as classify runs it
    print(f'load average before step 3 (uptime): {" ".join(f"{x:.2f}" for x in os.getloadavg())} on {usable_cpus()} usable CPUs')
    best = channel_overhead(paths, workers, a.device, a.repeats)
    ratio = best[True] / best[False]
    print(f'{len(paths)} songs through MusicnnClassifier.predict_many ({workers} workers), best of {a.repeats}: genres only '
          f'{best[False]:.1f} s ({len(paths) / best[False]:.2f} songs/s), with channels {best[True]:.1f} s '
          f'({len(paths) / best[True]:.2f} songs/s): x{ratio:.3f} time per song')
    print(f'channels_time_ratio={ratio:.3f} songs_per_s_channels={len(paths) / best[True]:.2f} songs_per_s_genres={len(paths) / best[False]:.2f}')


if __name__ == '__main__':
    main()
