"""Process-level tests of genriflow.preprocessing: a run killed mid-way and resumed, and the Dask path."""
import os, signal, subprocess, sys, time, textwrap
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from genriflow.features import FeatureConfig, music_like
from genriflow.preprocessing import extract_features, load_feature_arrays

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
    import sys, time, pandas as pd
    import genriflow.preprocessing as pre
    from genriflow.features import FeatureConfig
    slow = pre.extract
    def extract(y, cfg):  # slow each track down so the parent can kill the run part-way
        time.sleep(0.4); return slow(y, cfg)
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
    proc = subprocess.Popen([sys.executable, '-c', KILLABLE, str(tmp_path / 'm.csv'), str(store), str(secs)])
    deadline = time.time() + 120
    try:
        while len(list(store.rglob('*.npy'))) < 4:
            assert proc.poll() is None, 'extraction ended before it could be killed'
            assert time.time() < deadline, 'no features appeared'
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
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
    import genriflow.preprocessing as pre
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
    with pytest.raises(ImportError, match=r'genriflow\[distributed\]'):
        extract_features(manifest, tmp_path / 'store', FeatureConfig(clip_seconds=1.0), scheduler='tcp://127.0.0.1:1',
                         progress=False)
