"""Benchmark "songs like this one" and the library map at the size of a real library.

Random embeddings of the pretrained tagger's size (10,000 songs x 400-d, float32) stand in for a classified library:
- `similar`: one query by brute-force cosine nearest neighbours (index built per call, as the command does); the
  median of several queries. It must answer in under 1 s on 2 cores.
- `library_map`: the whole page (PCA, hover texts, plotly JSON, atomic write) from results.json + embeddings.npz.
- the page in headless Chromium: wall time to load and draw it, minus that of an empty page (browser start-up), and
  the page's own clock when the plot has been drawn (`data-render-ms`, from navigation start).

    python benchmarks/bench_similar.py [--songs 10000] [--dim 400] [--queries 5]

The CPU here is shared with other jobs: timings are noisy.
Last line: similar_ms=<x>
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np


def write_library(folder: Path, n: int, dim: int, seed: int = 0) -> tuple[Path, list, np.ndarray]:
    "results.json and results.embeddings.npz of n songs in 10 genres (no audio: the files do not exist)."
    rng = np.random.default_rng(seed)
    genres = [f'genre{g}' for g in range(10)]
    paths = [str(folder / 'Music' / f'artist{i % 500:03d}' / f'song{i:05d}.mp3') for i in range(n)]
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    rows = [dict(path=p, genre=genres[i % 10], probability=float(rng.uniform(0.3, 1)), error='', duration=240.0) for i, p in enumerate(paths)]
    (folder / 'results.json').write_text(json.dumps(rows))
    np.savez(folder / 'results.embeddings.npz', paths=np.array(paths, dtype=str), vectors=vectors, model=np.array('musicnn'))
    return folder / 'results.json', paths, vectors


def chromium() -> str | None:
    if os.environ.get('CHROMIUM'): return os.environ['CHROMIUM']
    return next((p for n in ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable') if (p := shutil.which(n))), None)


def load_page(exe: str, url: str) -> tuple[float, str]:
    "Wall seconds for headless Chromium to load `url` and dump its DOM (network off), and the DOM."
    profile = tempfile.mkdtemp(prefix='bench-chromium-')
    try:
        t0 = time.perf_counter()
        r = subprocess.run([exe, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                            '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', f'--user-data-dir={profile}',
                            '--host-resolver-rules=MAP * ~NOTFOUND', '--dump-dom', url], capture_output=True, text=True, timeout=300)
        return time.perf_counter() - t0, r.stdout
    finally: shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--songs', type=int, default=10_000); ap.add_argument('--dim', type=int, default=400)
    ap.add_argument('--queries', type=int, default=5)
    a = ap.parse_args()
    from genriflow.similar import similar
    from genriflow.libmap import library_map
    folder = Path(tempfile.mkdtemp(prefix='bench-similar-'))
    try:
        results, paths, vectors = write_library(folder, a.songs, a.dim)
        print(f'{a.songs} songs x {a.dim}-d embeddings ({vectors.nbytes / 1e6:.0f} MB); {os.cpu_count()} CPUs', flush=True)
        similar(paths[0], paths, vectors, k=10)  # warm up (imports)
        times = []
        for q in range(1, a.queries + 1):
            t0 = time.perf_counter(); near = similar(paths[q * 7], paths, vectors, k=10); times.append(time.perf_counter() - t0)
            assert near['path'][0] == paths[q * 7]
        ms = 1000 * float(np.median(times))
        print(f'similar: median {ms:.0f} ms per query (min {1000 * min(times):.0f}, max {1000 * max(times):.0f})', flush=True)

        t0 = time.perf_counter()
        page = library_map(results, folder / 'library.html', projection='pca', progress=False)
        map_s = time.perf_counter() - t0
        print(f'library_map: {map_s:.2f} s for {a.songs} songs, page {page.stat().st_size / 1e6:.1f} MB', flush=True)

        exe = chromium()
        if exe:
            (folder / 'empty.html').write_text('<!doctype html><html><body>empty</body></html>')
            empty_s, _ = load_page(exe, (folder / 'empty.html').as_uri())
            wall_s, dom = load_page(exe, page.as_uri())
            drawn = re.search(r'data-drawn="(\d+)"', dom); render = re.search(r'data-render-ms="(\d+)"', dom)
            print(f'page in headless Chromium: {wall_s:.2f} s wall ({wall_s - empty_s:.2f} s more than an empty page); '
                  f'drawn points {drawn.group(1) if drawn else "?"}; plot drawn at {render.group(1) if render else "?"} ms', flush=True)
        else: print('page load: skipped (no chromium; apt-get install -y chromium)')
    finally: shutil.rmtree(folder, ignore_errors=True)
    ok = ms < 1000
    print(f'similar_ms={ms:.1f}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
