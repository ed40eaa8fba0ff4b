"""Peak memory and speed of one training epoch on a large feature store: today's in-memory path against streaming.

Builds feature stores of `--small` (500) and `--large` (4,000) synthetic tracks of the real shape (166 rows x 1,292
frames: 30 s clips, random values, labels from 10 classes), written straight to the store as .npy files, so no audio
is decoded. Then runs each configuration in a fresh Python process, which reports its own peak resident memory
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`; the loader's worker processes are reported apart, as `workers_rss`):

  memory-N   today's path: `load_feature_arrays`, `Standardizer().fit` on the training tracks, `transform`,
             `segment`, then `genriflow.fit.fit(model, (X, y), epochs=1, lr=3e-3, batch_size=64)`;
  stream-N   `fit_standardizer`, `WindowDataset`, `window_loader` and an epoch loop like `fit`'s (AdamW lr 3e-3 with
             the model's weight decay, one-cycle schedule, batches of 64, deterministic algorithms).

The CNN is `genriflow.fit.build_model('cnn', 166, 10)`. Windows per second count the training loop only (the
setup, loading or the standardizer pass, is timed apart). `--fraction F` trains on the first F of the epoch's
batches (for quick runs; memory does not depend on it). On a shared machine speeds vary from run to run: `--repeats R`
runs the small store's two configurations R times, alternating which goes first; speeds are the best of the repeats,
peak memory their mean. `--memory-large` also runs today's path on the large store
(it needs about three times the store in memory: some 10 GB for 4,000 tracks).
Last line: memory_ratio=<stream peak RSS large / small> stream_windows_per_s=<x> memory_windows_per_s=<y> speed_ratio=<x/y>
Usage: python benchmarks/bench_scale.py [--small 500] [--large 4000] [--dir /tmp/genriflow-bench-scale] [--fraction 1.0]
       [--repeats 1] [--threads 0] [--workers 0] [--dtype float32] [--memory-large]
"""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path
import numpy as np

ROWS, FRAMES, CLASSES = 166, 1292, 10

def build_store(folder:Path, n:int, dtype:str='float32') -> Path:
    "Write `n` random feature arrays and their manifest to `folder` (reused when already complete)."
    import pandas as pd
    manifest = folder / 'manifest.csv'
    if manifest.exists() and len(pd.read_csv(manifest)) == n: return manifest
    rng, rows = np.random.default_rng(n), []
    for i in range(n):
        p = folder / f'{i // 1000:03d}' / f'{i:06d}.npy'
        p.parent.mkdir(parents=True, exist_ok=True)
        np.save(p, rng.standard_normal((ROWS, FRAMES), dtype=np.float32).astype(dtype))
        rows.append(dict(features=str(p), label=f'g{i % CLASSES}', split='train'))
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest

def run_memory(table, y, a):
    "Today's path, as `genriflow.pipeline.train_dataset` runs it."
    from genriflow.store import load_feature_arrays
    from genriflow.windows import Standardizer, segment
    from genriflow.features import FeatureConfig
    from genriflow.fit import build_model, fit
    t0 = time.perf_counter()
    tr = np.arange(len(table))
    X = load_feature_arrays(table)
    std = Standardizer().fit(X[tr])
    Xs = std.transform(X); del X
    Xw, ti = segment(Xs[tr], 3.0, FeatureConfig()); yw = y[tr][ti]
    setup = time.perf_counter() - t0
    m = min(len(Xw), 64 * max(1, int(round(-(-len(Xw) // 64) * a.fraction))))  # the batches `run_stream` trains on
    model = build_model('cnn', ROWS, CLASSES, seed=0)
    hist = fit(model, (Xw[:m], yw[:m]), None, epochs=1, lr=3e-3, batch_size=64, seed=0, device='cpu', progress=False)
    return dict(setup_s=setup, train_s=float(hist['seconds'].iloc[0]), windows=m)

def run_stream(table, y, a):
    "The streamed path with an epoch loop like `fit`'s."
    import torch, torch.nn.functional as F
    from genriflow.windows import WindowDataset, fit_standardizer, window_loader
    from genriflow.features import FeatureConfig
    from genriflow.fit import build_model
    t0 = time.perf_counter()
    std = fit_standardizer(table)
    loader = window_loader(WindowDataset(table, y, 3.0, FeatureConfig(), std), batch_size=64, seed=0, workers=a.workers or None)
    setup = time.perf_counter() - t0
    steps = max(1, int(round(len(loader) * a.fraction)))
    model = build_model('cnn', ROWS, CLASSES, seed=0)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=getattr(model, 'default_weight_decay', 1e-2))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.3)
    model.train(); seen, t1 = 0, time.perf_counter()
    for step, (x, yb, _) in enumerate(loader):
        if step == steps: break
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), yb); loss.backward(); opt.step(); sched.step()
        seen += len(x)
    train = time.perf_counter() - t1
    del loader  # joins the worker processes, so that their peak memory is counted below
    return dict(setup_s=setup, train_s=train, windows=seen)

def child(a):
    "One configuration, in this fresh process: print one JSON line."
    import pandas as pd, torch
    if a.threads: torch.set_num_threads(a.threads)
    table = pd.read_csv(a.manifest)
    y = table['label'].str[1:].astype(int).to_numpy()
    res = (run_memory if a.run == 'memory' else run_stream)(table, y, a)
    res.update(config=f'{a.run}-{len(table)}', tracks=len(table), windows_per_s=res['windows'] / res['train_s'],
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               workers_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print(json.dumps(res))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--small', type=int, default=500); ap.add_argument('--large', type=int, default=4000)
    ap.add_argument('--dir', default='/tmp/genriflow-bench-scale'); ap.add_argument('--fraction', type=float, default=1.0)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    ap.add_argument('--workers', type=int, default=0, help='loader processes (0: window_loader default)')
    ap.add_argument('--dtype', default='float32', choices=['float32', 'float16'])
    ap.add_argument('--repeats', type=int, default=1, help="runs of the small store's pair (best speed kept)")
    ap.add_argument('--memory-large', action='store_true', help="also run today's path on the large store")
    ap.add_argument('--run', choices=['memory', 'stream'], help=argparse.SUPPRESS)
    ap.add_argument('--manifest', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run: return child(a)
    results = {}
    def run(kind, manifest, n):
        cmd = [sys.executable, __file__, '--run', kind, '--manifest', str(manifest), '--fraction', str(a.fraction),
               '--threads', str(a.threads), '--workers', str(a.workers)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode: sys.exit(f'{kind}-{n} failed:\n{out.stderr[-3000:]}')
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['config']:>12}: peak RSS {r['peak_rss_mb']:7.0f} MB (loader workers {r['workers_rss_mb']:5.0f} MB), "
              f"setup {r['setup_s']:6.1f} s, {r['windows']} windows in {r['train_s']:6.1f} s = {r['windows_per_s']:6.1f} windows/s", flush=True)
        results.setdefault((kind, n), []).append(r)
    for n in (a.small, a.large):
        t0 = time.perf_counter()
        manifest = build_store(Path(a.dir) / f'{a.dtype}-{n}', n, a.dtype)
        size = sum(os.path.getsize(p) for p in __import__('pandas').read_csv(manifest)['features'])
        print(f'store of {n} tracks: {size / 1e9:.2f} GB of {a.dtype} ({time.perf_counter() - t0:.0f} s to build or check)', flush=True)
        if n == a.small:
            for i in range(a.repeats):
                for kind in (('memory', 'stream') if i % 2 == 0 else ('stream', 'memory')): run(kind, manifest, n)
        else:
            if a.memory_large: run('memory', manifest, n)
            run('stream', manifest, n)
    rss = lambda kind, n: float(np.mean([r['peak_rss_mb'] for r in results[(kind, n)]]))  # mean over repeats
    speed = lambda kind, n: max(r['windows_per_s'] for r in results[(kind, n)])  # best over repeats
    ratio, ws, wm = rss('stream', a.large) / rss('stream', a.small), speed('stream', a.small), speed('memory', a.small)
    if a.memory_large: print(f"today's path: peak RSS x{rss('memory', a.large) / rss('memory', a.small):.2f} from {a.small} to {a.large} tracks")
    print(f'memory_ratio={ratio:.3f} stream_windows_per_s={ws:.1f} memory_windows_per_s={wm:.1f} speed_ratio={ws / wm:.3f}')

if __name__ == '__main__': main()
