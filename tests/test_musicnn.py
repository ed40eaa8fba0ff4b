"""The musicnn port against musicnn's own TensorFlow outputs (tests/data/musicnn_reference.npz), and the conversion
tool re-run against the shipped weights (when the musicnn 0.1.0 wheel can be had)."""
import glob, hashlib, importlib.util, os, shutil, subprocess, sys, tempfile
from pathlib import Path
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
REF_PATH = ROOT / 'tests' / 'data' / 'musicnn_reference.npz'
WHEEL_SHA256 = 'f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa'
SHIPPED = ('LICENSE', 'msd.json', 'msd.safetensors', 'mtt.json', 'mtt.safetensors')


@pytest.fixture(scope='module')
def ref():
    return np.load(REF_PATH)


@pytest.fixture(scope='module')
def nets():
    from genriflow.musicnn_net import Musicnn
    return {m: Musicnn.load(m, device='cpu') for m in ('msd', 'mtt')}


def tool():
    "tools/convert_musicnn.py as a module."
    spec = importlib.util.spec_from_file_location('convert_musicnn', ROOT / 'tools' / 'convert_musicnn.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize('name', ['msd', 'mtt'])
def test_logits_and_embedding_match_musicnn(ref, nets, name):
    key = f'{name.upper()}_musicnn'
    logits, emb = nets[name].run(ref['batch'])
    assert np.abs(logits - ref[f'{key}/logits']).max() < 1e-4
    assert np.abs(emb - ref[f'{key}/penultimate']).max() < 1e-4
    assert np.abs(nets[name].probabilities(ref['batch']) - ref[f'{key}/taggram']).max() < 1e-5
    top5 = [nets[name].tags[i] for i in nets[name].probabilities(ref['batch']).mean(0).argsort()[::-1][:5]]
    assert top5 == list(ref[f'{key}/top5'])
    assert nets[name].tags == list(ref[f'{name.upper()}_labels'])


@pytest.mark.parametrize('name', ['msd', 'mtt'])
def test_pooled_features_match_musicnn(ref, nets, name):
    key = f'{name.upper()}_musicnn'
    with torch.inference_mode(): mx, mean = nets[name].net.pool(torch.from_numpy(ref['batch'].astype(np.float32)))
    assert np.abs(mean.numpy() - ref[f'{key}/mean_pool']).max() < 1e-4
    scale = np.abs(ref[f'{key}/max_pool']).max()  # values reach about 80: compare relative to that
    assert np.abs(mx.numpy() - ref[f'{key}/max_pool']).max() < 1e-5 * scale


def test_eval_fast_path_equals_plain_block(nets):
    "Eval-mode front-end blocks take min/max before ReLU and batch norm; training-mode arithmetic must agree."
    import torch.nn.functional as F
    blk = nets['msd'].net.timbral[0]
    x = torch.randn(2, 1, 30, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        plain = blk.bn(F.relu(blk.conv(F.pad(x, (0, 0, 3, 3))))).amax(3)
        assert (blk.bn.weight < 0).any()  # the min branch is used by the real weights
        torch.testing.assert_close(blk(x), plain, rtol=1e-5, atol=1e-4)  # float32 reassociation; a wrong path is off by O(1)


def test_front_end_matches_musicnn_within_float16(ref):
    from genriflow.musicnn_net import logmel, patches
    lm = logmel(ref['audio'])
    assert lm.dtype == np.float32 and lm.shape == ref['logmel'].shape
    assert np.abs(lm - ref['logmel'].astype(np.float32)).max() < 2.2e-3  # README: 2.1e-3, float16 rounding
    b = patches(lm)
    assert b.shape == ref['batch'].shape
    assert np.abs(b - ref['batch'].astype(np.float32)).max() < 2.2e-3


def test_loud_audio_gives_finite_tags_where_musicnn_gives_nan(ref, nets):
    assert np.isinf(ref['loud/batch']).sum() == 447  # musicnn's own float16 input overflowed ...
    assert np.isnan(ref['loud/MSD_musicnn/extractor/taggram']).all()  # ... and every tag it returned is NaN
    from genriflow.musicnn_net import logmel, patches
    from genriflow.pretrained import MusicnnTagger
    lm = logmel(ref['loud/audio'])
    assert np.isfinite(lm).all() and lm.max() > np.log10(65504 + 1)  # beyond what float16 could hold
    for m in nets.values():
        p = m.probabilities(patches(lm))
        assert p.shape == (3, 50) and np.isfinite(p).all()
    out = MusicnnTagger(nets['msd'], nets['mtt']).tag_windows(ref['loud/audio'][:96000].reshape(2, 48000))
    assert all(np.isfinite(v).all() for v in out.values()) and out['embedding'].shape == (2, 400)


def test_corrupt_or_missing_weights_are_user_errors(tmp_path):
    from genriflow.musicnn_net import Musicnn, MusicnnError, WEIGHTS_DIR
    from genriflow.files import UserError
    for f in SHIPPED: shutil.copy(WEIGHTS_DIR / f, tmp_path / f)
    blob = bytearray((tmp_path / 'mtt.safetensors').read_bytes()); blob[5000] ^= 0x10
    (tmp_path / 'mtt.safetensors').write_bytes(bytes(blob))
    with pytest.raises(MusicnnError, match='mtt.safetensors: corrupt musicnn weights'): Musicnn.load('mtt', 'cpu', folder=tmp_path)
    (tmp_path / 'msd.safetensors').unlink()
    with pytest.raises(UserError, match='msd.safetensors: musicnn weights missing'): Musicnn.load('msd', 'cpu', folder=tmp_path)


def test_crc32c():
    t = tool()
    assert t.crc32c(b'123456789') == 0xE3069283  # the standard check value
    data = np.random.default_rng(0).integers(0, 256, 70_001, dtype=np.uint8).tobytes()
    assert t.crc32c(data) == t._crc_update_py(0xFFFFFFFF, data) ^ 0xFFFFFFFF  # vectorised == byte by byte


def find_wheel(tmp_dir: Path):
    "The musicnn 0.1.0 wheel: $GENRIFLOW_MUSICNN_WHEEL, /tmp/musicnn-wheel/*.whl, or `pip download` (60 s); else None and why."
    cands = [os.environ.get('GENRIFLOW_MUSICNN_WHEEL', '')] + sorted(glob.glob('/tmp/musicnn-wheel/*.whl'))
    for c in cands:
        if c and Path(c).is_file() and hashlib.sha256(Path(c).read_bytes()).hexdigest() == WHEEL_SHA256: return Path(c), ''
    try:
        r = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', 'musicnn==0.1.0', '-d', str(tmp_dir), '-q'],
                           capture_output=True, text=True, timeout=60)
    except (subprocess.TimeoutExpired, OSError) as e: return None, f'pip download failed: {e}'
    found = sorted(tmp_dir.glob('musicnn-0.1.0*.whl'))
    return (found[0], '') if found else (None, 'pip download failed: ' + ((r.stderr or r.stdout).strip().splitlines() or ['no output'])[-1])


def test_conversion_reproduces_shipped_files(tmp_path):
    wheel, why = find_wheel(tmp_path)
    if wheel is None:
        print(f'musicnn wheel unavailable: {why}')
        pytest.skip(f'musicnn 0.1.0 wheel unavailable ({why}); set GENRIFLOW_MUSICNN_WHEEL to its path')
    out = tmp_path / 'out'
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'convert_musicnn.py'), str(wheel), '--out', str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    from genriflow.musicnn_net import WEIGHTS_DIR
    for f in SHIPPED: assert (out / f).read_bytes() == (WEIGHTS_DIR / f).read_bytes(), f


def test_reader_rejects_a_corrupt_checkpoint(tmp_path):
    wheel, why = find_wheel(tmp_path)
    if wheel is None: pytest.skip(f'musicnn 0.1.0 wheel unavailable ({why})')
    import zipfile
    t = tool()
    z = zipfile.ZipFile(wheel)
    index, data = z.read('musicnn/MSD_musicnn/.index'), bytearray(z.read('musicnn/MSD_musicnn/.data-00000-of-00001'))
    tensors = t.read_checkpoint(index, [bytes(data)], 'MSD')
    assert len(tensors) == 150 and sum(v.size for k, v in tensors.items() if not t.is_optimizer_state(k)) == 792_079
    data[1234] ^= 1
    with pytest.raises(t.ConvertError, match='CRC32C mismatch'): t.read_checkpoint(index, [bytes(data)], 'MSD')
    bad_index = bytearray(index); bad_index[100] ^= 1
    with pytest.raises(t.ConvertError, match='CRC32C mismatch|misread'): t.read_checkpoint(bytes(bad_index), [bytes(data)], 'MSD')
