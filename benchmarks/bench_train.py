"""Training and inference speed of genriflow's supervised models on the CPU (or the device given).

Times one epoch of `genriflow.fit.fit` for the CNN and for the LSTM+CNN on `--tracks` synthetic tracks x
`--windows` windows of `--seconds` s (random standardized features of the real shape: 166 rows x 130 frames for
3 s), and CNN inference in windows per second (`predict_proba`, batches of 256). Timing depends on the data's shape,
not its values, so random features are a fair stand-in. Uses `--threads` torch threads (default 2).
Timings on a shared machine are noisy: each number is the best of `--repeats` runs.
Last line: `cnn_epoch_s=<x> lstm_cnn_epoch_s=<y> infer_windows_per_s=<z>`.
Usage: python benchmarks/bench_train.py [--tracks 800] [--windows 10] [--seconds 3] [--threads 2] [--repeats 1] [--fraction 1.0]
"""
import argparse, time
import numpy as np
import torch
from genriflow.features import FeatureConfig
from genriflow.fit import build_model, fit, predict_proba

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--tracks', type=int, default=800); ap.add_argument('--windows', type=int, default=10)
    ap.add_argument('--seconds', type=float, default=3.0); ap.add_argument('--classes', type=int, default=10)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--fraction', type=float, default=1.0, help='time this fraction of an epoch and scale up (quick runs)')
    ap.add_argument('--device', default='cpu')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = FeatureConfig()
    n = a.tracks * a.windows
    m = max(a.batch_size, int(round(n * a.fraction)))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, cfg.n_rows, cfg.n_frames(a.seconds)), dtype=np.float32)
    y = rng.integers(0, a.classes, m)
    print(f'{a.tracks} tracks x {a.windows} windows = {n} windows of {X.shape[1]} x {X.shape[2]}; '
          f'{a.threads} threads on {a.device}; timing {m} windows ({m / n:.0%} of an epoch)')
    epoch_s = {}
    for name in ('cnn', 'lstm-cnn'):
        best = float('inf')
        for r in range(a.repeats):
            model = build_model(name, cfg.n_rows, a.classes, seed=r)
            h = fit(model, (X, y), None, epochs=1, batch_size=a.batch_size, device=a.device, progress=False)
            best = min(best, float(h['seconds'].iloc[0]) * n / m)
        epoch_s[name] = best
        print(f'{name:9s}: {best:7.1f} s per epoch ({n / best:6.0f} windows/s training)')
    model = build_model('cnn', cfg.n_rows, a.classes).to(a.device)
    k = min(len(X), 2048)
    predict_proba(model, X[:256], device=a.device)  # warm-up
    best = float('inf')
    for _ in range(max(1, a.repeats)):
        t0 = time.perf_counter(); predict_proba(model, X[:k], batch_size=256, device=a.device)
        best = min(best, time.perf_counter() - t0)
    print(f'cnn inference: {k / best:7.0f} windows/s ({k / best * a.seconds / 60:.0f} minutes of audio per second)')
    print(f'cnn_epoch_s={epoch_s["cnn"]:.1f} lstm_cnn_epoch_s={epoch_s["lstm-cnn"]:.1f} infer_windows_per_s={k / best:.0f}')

if __name__ == '__main__': main()
