"""Shared fixtures for the end-to-end tests: run the installed `genriflow` command, write audio, train a tiny bundle."""
import os, re, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf

GENRES = 3            # demo genres in the tiny training set
CLIPS_PER_GENRE = 8   # 30 s clips each: enough for a track-level train/valid/test split
EPOCHS = 3


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config) -> int:
    "`-n auto`: a test worker per usable CPU (affinity honoured), at most 8: each test's commands start pools of their own."
    from genriflow.files import usable_cpus
    return min(usable_cpus(), 8)


def genriflow_exe() -> str:
    "The installed console script (next to this Python, else on PATH)."
    here = Path(sys.executable).with_name('genriflow')
    exe = str(here) if here.exists() else shutil.which('genriflow')
    if not exe: pytest.fail('the genriflow command is not installed: pip install -e .')
    return exe


def run_cli(*args, timeout=300, cwd=None, env=None) -> subprocess.CompletedProcess:
    "Run `genriflow ARGS...` as a subprocess; text output captured."
    e = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    return subprocess.run([genriflow_exe(), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=e)


def write_audio(path, y, sr, **kw):
    "Write audio of any length: Ogg in 10 s blocks (one long `sf.write` of Ogg Vorbis can crash libsndfile)."
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y, dtype=np.float32)
    with sf.SoundFile(str(path), 'w', sr, 1 if y.ndim == 1 else y.shape[1], **kw) as f:
        for i in range(0, len(y), 10 * sr): f.write(y[i:i + 10 * sr])
    return path


@pytest.fixture(scope='session')
def tiny_dataset(tmp_path_factory):
    "A small synthetic demo dataset (GTZAN layout): a few genres, 30 s clips."
    from genriflow.synth import make_demo_dataset, DEMO_GENRES
    root = tmp_path_factory.mktemp('tiny-demo')
    make_demo_dataset(root, n_per_genre=CLIPS_PER_GENRE, seconds=30.0, sr=22050, seed=0,
                      genres=list(DEMO_GENRES[:GENRES]), workers=2)
    return root


@pytest.fixture(scope='session')
def tiny_bundle(tiny_dataset, tmp_path_factory):
    "A CNN bundle trained for a few epochs through `genriflow train`; yields (bundle folder, train stdout)."
    out = tmp_path_factory.mktemp('models') / 'tiny-cnn'
    r = run_cli('train', tiny_dataset, '--dataset', 'gtzan', '--model', 'cnn', '--epochs', EPOCHS, '--out', out,
                '--no-progress', timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / 'bundle.json').is_file() and (out / 'model.safetensors').is_file()
    return out, r.stdout
