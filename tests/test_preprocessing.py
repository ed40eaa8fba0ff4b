"""Process-level tests of the feature store (genriflow.store, run by files.run_jobs) and of streaming windows
(genriflow.windows): a run killed mid-way and resumed, the Dask path, peak memory."""
import os, signal, subprocess, sys, time, textwrap
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from genriflow.features import FeatureConfig, music_like
from genriflow.store import extract_features, load_feature_arrays

SR = 22050


def make_manifest(folder: Path, n: int, seconds: float) -> pd.DataFrame:
    "Write `n` synthetic wav clips and return a manifest for them."
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        p = folder / f'clip{i:03d}.wav'
        sf.write(p, music_like(seconds, SR, seed=i), SR)
        rows.append(dict(path=str(p), track_id=f'clip{i:03d}', label=f'g{i % 3}', split='train'))
    return pd.DataFrame(rows)


KILLABLE = textwrap.dedent('''
    import signal, sys, pandas as pd
    from pathlib import Path
    import genriflow.store as pre
    from genriflow.features import FeatureConfig
    slow, calls = pre.extract, []
    def extract(y, cfg):  # after four tracks, say so and wait to be killed: the run is killed part-way, by construction
        if len(calls) == 4: Path(sys.argv[4]).write_text('4 tracks done'); signal.pause()
        calls.append(1); return slow(y, cfg)
    pre.extract = extract
    pre.extract_features(pd.read_csv(sys.argv[1]), sys.argv[2], FeatureConfig(clip_seconds=float(sys.argv[3])),
                         workers=1, progress=False)
''')


def test_killed_run_resumes(tmp_path):
    "SIGKILL an extraction part-way; the rerun computes only the missing tracks and the arrays match a clean run."
    n, secs = 12, 3.0
    manifest = make_manifest(tmp_path / 'audio', n, secs)
    manifest.to_csv(tmp_path / 'm.csv', index=False)
    store, cfg = tmp_path / 'store', FeatureConfig(clip_seconds=secs)
    ready = tmp_path / 'ready'
    proc = subprocess.Popen([sys.executable, '-c', KILLABLE, str(tmp_path / 'm.csv'), str(store), str(secs), str(ready)])
    try:
        while not ready.exists():  # the event: the run says it has done four tracks (and then waits)
            assert proc.poll() is None, 'extraction ended before it could be killed'
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None: proc.kill()  # the test failed before the kill: leave no process behind
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = len(list(store.rglob('*.npy')))
    assert 4 <= done < n
    again = extract_features(manifest, store, cfg, workers=1, progress=False)
    assert (again.attrs['computed'], again.attrs['cached'], again.attrs['failed']) == (n - done, done, 0)
    assert len(list(store.rglob('*.npy'))) == n and not list(store.rglob('*.tmp'))
    third = extract_features(manifest, store, cfg, workers=1, progress=False)
    assert (third.attrs['computed'], third.attrs['cached']) == (0, n)
    clean = extract_features(manifest, tmp_path / 'clean', cfg, workers=1, progress=False)
    assert np.array_equal(load_feature_arrays(again), load_feature_arrays(clean))


def test_interrupted_in_process(tmp_path, monkeypatch):
    "A KeyboardInterrupt after a few tracks leaves only whole arrays; the rerun redoes only the rest."
    import genriflow.store as pre
    n, secs = 8, 2.0
    manifest = make_manifest(tmp_path / 'audio', n, secs)
    cfg, store, calls = FeatureConfig(clip_seconds=secs), tmp_path / 'store', []
    real = pre.extract
    def flaky(y, c):
        if len(calls) == 3: raise KeyboardInterrupt
        calls.append(1); return real(y, c)
    monkeypatch.setattr(pre, 'extract', flaky)
    with pytest.raises(KeyboardInterrupt):
        extract_features(manifest, store, cfg, workers=1, progress=False)
    assert len(list(store.rglob('*.npy'))) == 3
    monkeypatch.setattr(pre, 'extract', real)
    again = extract_features(manifest, store, cfg, workers=1, progress=False)
    assert (again.attrs['computed'], again.attrs['cached']) == (n - 3, 3)


def test_workers_and_bad_files(tmp_path):
    "Two loky workers: same arrays as in-process; bad files are reported in failures.csv and skipped."
    secs = 2.0
    manifest = make_manifest(tmp_path / 'audio', 5, secs)
    (tmp_path / 'audio' / 'broken.wav').write_bytes(b'RIFF....WAVEfmt garbage')
    bad = pd.DataFrame([dict(path=str(tmp_path / 'audio' / 'broken.wav'), track_id='broken', label='g0', split='train')])
    cfg = FeatureConfig(clip_seconds=secs)
    one = extract_features(manifest, tmp_path / 'a', cfg, workers=1, progress=False)
    two = extract_features(pd.concat([manifest, bad], ignore_index=True), tmp_path / 'b', cfg, workers=2, progress=False)
    assert list(two.track_id) == list(one.track_id)
    assert np.array_equal(load_feature_arrays(one), load_feature_arrays(two))
    fails = pd.read_csv(tmp_path / 'b' / 'failures.csv')
    assert list(fails.path) == [str(tmp_path / 'audio' / 'broken.wav')] and fails.reason[0]
    assert not fails.reason[0].startswith(str(tmp_path))  # the reason only; the path has its own column


def test_dask_local_cluster_matches_local(tmp_path):
    "The Dask path (Client, then a scheduler address) writes the same arrays as the local path."
    distributed = pytest.importorskip('dask.distributed')
    secs = 3.0
    manifest = make_manifest(tmp_path / 'audio', 6, secs)
    cfg = FeatureConfig(clip_seconds=secs)
    local = extract_features(manifest, tmp_path / 'local', cfg, workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
         distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream:
            via_client = extract_features(manifest, tmp_path / 'dask', cfg, scheduler=client, progress=False)
        ran = [t for t in stream.data if t['key'].startswith('_extract_one')]
        assert len(ran) == 6 and len({t['worker'] for t in ran}) >= 1
        via_address = extract_features(manifest[:2], tmp_path / 'dask-addr', cfg, scheduler=cluster.scheduler_address,
                                       progress=False)
        assert client.status == 'running'  # a Client we passed in is not closed
    assert via_client.attrs['computed'] == 6 and via_address.attrs['computed'] == 2
    assert np.array_equal(load_feature_arrays(via_client), load_feature_arrays(local))
    assert np.array_equal(load_feature_arrays(via_address), load_feature_arrays(local)[:2])


def test_missing_dask_is_a_clear_error(tmp_path, monkeypatch):
    "scheduler= without Dask installed fails with one line saying what to install."
    manifest = make_manifest(tmp_path / 'audio', 1, 1.0)
    monkeypatch.setitem(sys.modules, 'dask.distributed', None)
    from genriflow.files import UserError  # the user's to fix: one line from the command line, exit 2
    with pytest.raises(UserError, match=r'genriflow\[distributed\]'):
        extract_features(manifest, tmp_path / 'store', FeatureConfig(clip_seconds=1.0), scheduler='tcp://127.0.0.1:1',
                         progress=False)


LEAK_CHECK = textwrap.dedent('''
    import sys, tempfile, pandas as pd, soundfile as sf
    from pathlib import Path
    from concurrent.futures import ProcessPoolExecutor
    def job(folder):  # runs in a pool worker, which ends with os._exit: exit handlers never run there
        from genriflow.features import FeatureConfig, music_like
        from genriflow.store import extract_features
        from genriflow.augment import augment_features
        d, paths = Path(folder), []
        for i in range(4):
            p = d / f'c{i}.wav'; sf.write(p, music_like(1.0, 22050, seed=i), 22050); paths.append(str(p))
        cfg = FeatureConfig(clip_seconds=1.0)
        t = extract_features(paths, d / 'store', cfg, workers=2, progress=False)
        a = augment_features(pd.DataFrame(dict(path=paths)), d / 'store', 'weak', config=cfg, workers=2, progress=False)
        return t.attrs['computed'], a.attrs['computed']
    if __name__ == '__main__':
        with ProcessPoolExecutor(1) as ex: print(ex.submit(job, sys.argv[1]).result())
''')


def test_no_leaked_folder_warnings(tmp_path):
    "Worker pools inside a pool worker (as under nbdev-test) leave nothing for a resource tracker to warn about."
    (tmp_path / 'leak.py').write_text(LEAK_CHECK)
    out = subprocess.run([sys.executable, str(tmp_path / 'leak.py'), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == '(4, 4)'
    assert 'leaked' not in out.stderr and 'resource_tracker' not in out.stderr, out.stderr


def test_default_workers_use_every_cpu(tmp_path, monkeypatch):
    "workers=None starts one process per usable CPU (here pretended to be 3), not a fixed 2."
    import genriflow.files
    manifest = make_manifest(tmp_path / 'audio', 5, 1.0)
    monkeypatch.setattr(genriflow.files, 'usable_cpus', lambda: 3)
    started, real = [], genriflow.files.process_pool
    monkeypatch.setattr(genriflow.files, 'process_pool', lambda n, *a, **k: started.append(n) or real(n, *a, **k))
    table = extract_features(manifest, tmp_path / 'store', FeatureConfig(clip_seconds=1.0), progress=False)
    assert started == [3] and table.attrs['computed'] == 5
    started.clear()
    extract_features(manifest, tmp_path / 'store7', FeatureConfig(clip_seconds=1.0), workers=7, progress=False)
    assert started == [5]  # never more processes than tracks to compute


def test_float16_store(tmp_path):
    "float16 features live in their own store, take half the bytes, read back as float32 close to the float32 ones."
    manifest = make_manifest(tmp_path / 'audio', 4, 2.0)
    cfg = FeatureConfig(clip_seconds=2.0)
    full = extract_features(manifest, tmp_path / 'store', cfg, workers=1, progress=False)
    half = extract_features(manifest, tmp_path / 'store', cfg, workers=1, progress=False, dtype='float16')
    assert half.attrs['computed'] == 4  # the float32 arrays are not reused as float16
    assert half.attrs['dtype'] == 'float16' and full.attrs['dtype'] == 'float32'
    assert set(half.features).isdisjoint(full.features)
    assert 0.49 < half.attrs['store_bytes'] / full.attrs['store_bytes'] < 0.51
    assert np.load(half.features[0]).dtype == np.float16
    X16, X32 = load_feature_arrays(half), load_feature_arrays(full)
    assert X16.dtype == np.float32 and np.allclose(X16, X32, rtol=2e-3, atol=2e-2)
    again = extract_features(manifest, tmp_path / 'store', cfg, workers=1, progress=False, dtype='float16')
    assert (again.attrs['computed'], again.attrs['cached']) == (0, 4)
    with pytest.raises(ValueError, match='choose float32 or float16'):
        extract_features(manifest, tmp_path / 'store', cfg, workers=1, progress=False, dtype='float64')


PEAK_RSS = textwrap.dedent('''
    import resource, sys, numpy as np, pandas as pd
    import torch
    from genriflow.features import FeatureConfig
    from genriflow import store, windows
    table, way = pd.read_csv(sys.argv[1]), sys.argv[2]
    if way == 'memory':
        X = store.load_feature_arrays(table); windows.segment(windows.Standardizer().fit(X).transform(X), 3.0, FeatureConfig())
    else:
        ds = windows.WindowDataset(table, None, 3.0, FeatureConfig(), windows.fit_standardizer(table))
        n = sum(len(x) for x, y, t in windows.window_loader(ds, workers=1))
        assert n == len(ds), n
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
''')


def test_streaming_memory_does_not_grow(tmp_path):
    "Peak resident memory of reading every window: flat when streamed, growing with the tracks in memory."
    rng = np.random.default_rng(0)
    (tmp_path / 'peak.py').write_text(PEAK_RSS)
    peaks = {}
    for n in (40, 320):
        paths = []
        for i in range(n):
            p = tmp_path / f's{n}' / f'{i}.npy'; p.parent.mkdir(exist_ok=True)
            np.save(p, rng.standard_normal((166, 1292), dtype=np.float32)); paths.append(str(p))
        pd.DataFrame(dict(features=paths)).to_csv(tmp_path / f's{n}.csv', index=False)
        for way in ('memory', 'stream'):
            out = subprocess.run([sys.executable, str(tmp_path / 'peak.py'), str(tmp_path / f's{n}.csv'), way],
                                 capture_output=True, text=True, timeout=300)
            assert out.returncode == 0, out.stderr
            peaks[way, n] = float(out.stdout.strip().splitlines()[-1])
    stored_mb = 280 * 166 * 1292 * 4 / 2**20  # the 280 tracks more
    assert peaks['memory', 320] - peaks['memory', 40] > stored_mb, peaks  # the test can tell growth when there is some
    assert peaks['stream', 320] - peaks['stream', 40] < 0.1 * stored_mb, peaks
