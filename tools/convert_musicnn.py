#!/usr/bin/env python3
"""Convert musicnn's pretrained taggers (MSD_musicnn, MTT_musicnn) from the musicnn 0.1.0 wheel to safetensors.

    python tools/convert_musicnn.py musicnn-0.1.0-py3-none-any.whl [--out genriflow/musicnn]

Get the wheel with `pip download --no-deps musicnn==0.1.0` (do not install it: it pins numpy<1.17 and TF 1).
The TensorFlow checkpoints are read straight from the wheel (a zip) by the small reader below: the `.index` file
is an SSTable (LevelDB table format) whose values are `BundleEntryProto` protobuf messages, parsed by hand; every
block's and every tensor's masked CRC32C is checked. Neither TensorFlow nor protobuf is needed: numpy and
safetensors only. Adam slots and beta powers are dropped; kernels are converted to the layouts of
`genriflow.musicnn_net.MusicnnNet`. The output is byte-identical on every run.

Writes into --out: msd.safetensors, mtt.safetensors, msd.json, mtt.json (tags, sources, hashes, licence notice)
and LICENSE (musicnn's ISC licence, copied from the wheel).
"""
from __future__ import annotations
import argparse, hashlib, json, os, struct, sys, tempfile, zipfile
from pathlib import Path
import numpy as np

WHEEL_SHA256 = 'f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa'  # musicnn-0.1.0-py3-none-any.whl on PyPI
LICENSE_MEMBER = 'musicnn-0.1.0.dist-info/LICENSE.md'
MODELS = {'msd': 'MSD_musicnn', 'mtt': 'MTT_musicnn'}
FORMAT_VERSION = 1

class ConvertError(Exception):
    "A wheel or checkpoint this tool cannot convert; the message names the file and the reason."

# ---------------------------------------------------------------- CRC32C (Castagnoli), numpy-vectorised

def _crc_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8): t = np.where(t & 1, (t >> 1) ^ np.uint32(0x82F63B78), t >> 1).astype(np.uint32)
    return t

_TABLE = _crc_table()
_TABLE_PY = [int(v) for v in _TABLE]

def _crc_update_py(reg: int, data: bytes) -> int:
    for b in data: reg = _TABLE_PY[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg

def _op_apply(cols: list, x: int) -> int:
    "Apply a GF(2)-linear map of the 32-bit CRC register, given as its 32 columns."
    out, i = 0, 0
    while x:
        if x & 1: out ^= cols[i]
        x >>= 1; i += 1
    return out

def _op_zeros(n: int) -> list:
    "The map 'feed n zero bytes' as 32 columns (square-and-multiply)."
    one = [_TABLE_PY[(1 << i) & 0xFF] ^ ((1 << i) >> 8) for i in range(32)]
    result = [1 << i for i in range(32)]
    while n:
        if n & 1: result = [_op_apply(one, c) for c in result]
        one = [_op_apply(one, c) for c in one]
        n >>= 1
    return result

def crc32c(data: bytes, chunk: int = 4096) -> int:
    "CRC-32C of `data`: long inputs run as many chunks in parallel in numpy, then combine by linearity."
    if len(data) < 4 * chunk: return _crc_update_py(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    n_chunks = -(-len(data) // chunk)
    pad = n_chunks * chunk - len(data)  # leading zero bytes leave a zero register unchanged
    a = np.frombuffer(b'\0' * pad + bytes(data), dtype=np.uint8).reshape(n_chunks, chunk)
    reg = np.zeros(n_chunks, dtype=np.uint32)
    for j in range(chunk): reg = _TABLE[(reg ^ a[:, j]) & 0xFF] ^ (reg >> 8)
    shift, acc = _op_zeros(chunk), 0
    for r in reg.tolist(): acc = _op_apply(shift, acc) ^ r
    init = _op_apply(_op_zeros(len(data)), 0xFFFFFFFF)  # the initial register, carried through every byte
    return (acc ^ init) ^ 0xFFFFFFFF

def unmask(masked: int) -> int:
    "Undo LevelDB/TensorFlow's CRC masking."
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF

# ---------------------------------------------------------------- SSTable (LevelDB table format)

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = buf[pos]; pos += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80: return out, pos
        shift += 7

def _block(buf: bytes, offset: int, size: int, what: str) -> bytes:
    "A block's contents, after checking its trailer (compression type 0, masked CRC32C of contents + type)."
    if offset + size + 5 > len(buf): raise ConvertError(f'{what}: block at {offset} runs past the end of the file')
    contents, kind = buf[offset:offset + size], buf[offset + size]
    (stored,) = struct.unpack_from('<I', buf, offset + size + 1)
    if unmask(stored) != crc32c(buf[offset:offset + size + 1]): raise ConvertError(f'{what}: CRC32C mismatch in block at {offset}')
    if kind != 0: raise ConvertError(f'{what}: compressed block (type {kind}) not supported')
    return contents

def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    "Decode the prefix-compressed key/value entries of a block (restart points only mark where keys restart)."
    (n_restarts,) = struct.unpack_from('<I', block, len(block) - 4)
    end, pos, key, out = len(block) - 4 - 4 * n_restarts, 0, b'', []
    while pos < end:
        shared, pos = _varint(block, pos); unshared, pos = _varint(block, pos); vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]; pos += unshared
        out.append((key, block[pos:pos + vlen])); pos += vlen
    return out

def read_sstable(buf: bytes, what: str) -> list[tuple[bytes, bytes]]:
    "Every (key, value) of an SSTable, in order."
    if len(buf) < 48 or struct.unpack_from('<Q', buf, len(buf) - 8)[0] != 0xDB4775248B80FB57:
        raise ConvertError(f'{what}: not an SSTable (bad footer magic)')
    pos = len(buf) - 48
    _, pos = _varint(buf, pos); _, pos = _varint(buf, pos)  # metaindex handle (unused)
    ioff, pos = _varint(buf, pos); isize, pos = _varint(buf, pos)
    out = []
    for _, handle in _block_entries(_block(buf, ioff, isize, what)):
        off, p = _varint(handle, 0); size, _ = _varint(handle, p)
        out += _block_entries(_block(buf, off, size, what))
    keys = [k for k, _ in out]
    if keys != sorted(keys): raise ConvertError(f'{what}: keys out of order (misread)')
    return out

# ---------------------------------------------------------------- protobuf wire format, by hand

def parse_proto(buf: bytes) -> dict[int, list]:
    "Field number -> list of values (varints as int, fixed32/64 as int, length-delimited as bytes)."
    fields, pos = {}, 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0: v, pos = _varint(buf, pos)
        elif wire == 1: v = struct.unpack_from('<Q', buf, pos)[0]; pos += 8
        elif wire == 2: n, pos = _varint(buf, pos); v = buf[pos:pos + n]; pos += n
        elif wire == 5: v = struct.unpack_from('<I', buf, pos)[0]; pos += 4
        else: raise ConvertError(f'protobuf wire type {wire} not supported')
        fields.setdefault(num, []).append(v)
    return fields

# TensorFlow DataType enum -> numpy dtype (the numeric ones)
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64, 10: np.bool_,
          17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}

def parse_entry(value: bytes) -> dict:
    "A BundleEntryProto: dtype=1, shape=2 (TensorShapeProto: dim=2 {size=1}), shard_id=3, offset=4, size=5, crc32c=6, slices=7."
    f = parse_proto(value)
    shape = [] if 2 not in f else [parse_proto(d).get(1, [0])[0] for d in parse_proto(f[2][0]).get(2, [])]
    return dict(dtype=f.get(1, [0])[0], shape=shape, shard_id=f.get(3, [0])[0], offset=f.get(4, [0])[0],
                size=f.get(5, [0])[0], crc32c=f.get(6, [0])[0], sliced=7 in f)

def read_checkpoint(index: bytes, shards: list[bytes], what: str) -> dict[str, np.ndarray]:
    "Every tensor of a TF2-style checkpoint bundle, by variable name; each entry's CRC32C is checked."
    entries = read_sstable(index, what)
    if not entries or entries[0][0] != b'': raise ConvertError(f'{what}: no BundleHeaderProto under the empty key')
    header = parse_proto(entries[0][1])
    if header.get(1, [1])[0] != len(shards) or header.get(2, [0])[0] != 0:
        raise ConvertError(f'{what}: expected {len(shards)} little-endian shard(s), header says {header}')
    out = {}
    for key, value in entries[1:]:
        name, e = key.decode(), parse_entry(value)
        if e['sliced']: raise ConvertError(f'{what}: {name} is a partitioned variable (not supported)')
        if e['dtype'] not in DTYPES: raise ConvertError(f'{what}: {name} has TF dtype {e["dtype"]} (not supported)')
        raw = shards[e['shard_id']][e['offset']:e['offset'] + e['size']]
        if len(raw) != e['size'] or unmask(e['crc32c']) != crc32c(raw): raise ConvertError(f'{what}: {name}: CRC32C mismatch (corrupt or misread)')
        a = np.frombuffer(raw, dtype=np.dtype(DTYPES[e['dtype']]).newbyteorder('<'))
        if a.size != int(np.prod(e['shape'])): raise ConvertError(f'{what}: {name}: {a.size} values for shape {e["shape"]}')
        out[name] = a.reshape(e['shape']).astype(DTYPES[e['dtype']])
    return out

def is_optimizer_state(name: str) -> bool:
    "Adam's slots and its beta powers (and the step counter): training state, not the model."
    return name.endswith(('/Adam', '/Adam_1')) or name in ('beta1_power', 'beta2_power', 'global_step')

# ---------------------------------------------------------------- the musicnn graph -> genriflow.musicnn_net.MusicnnNet

N_MELS, TIMBRAL, TEMPORAL, MIDEND, FRONT, UNITS, N_TAGS = 96, ((7, 38), (7, 67)), (128, 64, 32), 64, 561, 200, 50

def layer_map() -> list[tuple[str, str, str]]:
    "(torch module, TF layer, kind) in TF's creation order, which gave the automatic names."
    layers, conv, bn = [('bn_input', 'batch_normalization', 'bn')], 0, 1
    for prefix, n in (('timbral', 2), ('temporal', 3), ('midend', 3)):
        for i in range(n):
            layers += [(f'{prefix}.{i}.conv', f'conv2d{"_" + str(conv) if conv else ""}', 'conv1d' if prefix == 'midend' else 'conv2d'),
                       (f'{prefix}.{i}.bn', f'batch_normalization_{bn}', 'bn')]
            conv += 1; bn += 1
    layers += [('pool_bn', 'batch_normalization_9', 'bn'), ('dense', 'dense', 'dense'), ('dense_bn', 'batch_normalization_10', 'bn'),
               ('out', 'dense_1', 'dense')]
    return layers

def expected_tf_shapes() -> dict[str, tuple]:
    "TF kernel shapes implied by the architecture (musicnn models.py): a misread or a wrong mapping fails here."
    k = {'conv2d': (*TIMBRAL[0], 1, 204), 'conv2d_1': (*TIMBRAL[1], 1, 204)}
    for i, t in enumerate(TEMPORAL): k[f'conv2d_{2 + i}'] = (t, 1, 1, 51)
    k.update({'conv2d_5': (7, FRONT, 1, MIDEND), 'conv2d_6': (7, MIDEND, 1, MIDEND), 'conv2d_7': (7, MIDEND, 1, MIDEND),
              'dense': (2 * (FRONT + 3 * MIDEND), UNITS), 'dense_1': (UNITS, N_TAGS)})
    bn = [1, 204, 204, 51, 51, 51, MIDEND, MIDEND, MIDEND, 2 * (FRONT + 3 * MIDEND), UNITS]
    k.update({f'batch_normalization{"_" + str(i) if i else ""}': (n,) for i, n in enumerate(bn)})
    return k

LAYOUT = {'conv2d': 'kernel (kh, kw, in, out) -> weight permute(3, 2, 0, 1)',
          'conv1d': 'kernel (7, in, 1, out) -> [:, :, 0, :] -> weight permute(2, 1, 0)',
          'dense': 'kernel (in, out) -> weight .T'}

def convert(tf: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[dict]]:
    "TF variables -> (torch state_dict of MusicnnNet as float32 numpy, a row per torch tensor naming its source)."
    shapes, sd, rows = expected_tf_shapes(), {}, []
    def put(name, src, a, how):
        sd[name] = np.ascontiguousarray(a, dtype=np.float32)
        rows.append(dict(torch=name, tf=src, tf_shape=list(tf[src].shape), shape=list(sd[name].shape), layout=how))
    for mod, layer, kind in layer_map():
        want = shapes[layer]
        if kind == 'bn':
            for t_name, tf_name in (('weight', 'gamma'), ('bias', 'beta'), ('running_mean', 'moving_mean'), ('running_var', 'moving_variance')):
                src = f'{layer}/{tf_name}'
                if tf[src].shape != want: raise ConvertError(f'{src}: shape {tf[src].shape}, expected {want}')
                put(f'{mod}.{t_name}', src, tf[src], f'{tf_name} -> {t_name}')
            continue
        src = f'{layer}/kernel'
        if tf[src].shape != want: raise ConvertError(f'{src}: shape {tf[src].shape}, expected {want}')
        w = tf[src]
        w = w.transpose(3, 2, 0, 1) if kind == 'conv2d' else w[:, :, 0, :].transpose(2, 1, 0) if kind == 'conv1d' else w.T
        put(f'{mod}.weight', src, w, LAYOUT[kind])
        if tf[f'{layer}/bias'].shape != (want[-1],): raise ConvertError(f'{layer}/bias: shape {tf[layer + "/bias"].shape}')
        put(f'{mod}.bias', f'{layer}/bias', tf[f'{layer}/bias'], 'bias')
    return sd, rows

# ---------------------------------------------------------------- the wheel -> files

def _labels(config_py: str, var: str) -> list[str]:
    "A tag list from musicnn/configuration.py (a literal list; read with ast, nothing executed)."
    import ast
    for node in ast.parse(config_py).body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == var for t in node.targets): return list(ast.literal_eval(node.value))
    raise ConvertError(f'configuration.py: no {var}')

def convert_wheel(wheel: str | Path, out: str | Path, force: bool = False) -> list[Path]:
    "Convert both models of the musicnn wheel into `out`; return the files written."
    from safetensors.numpy import save
    wheel, out = Path(wheel), Path(out)
    if not wheel.is_file(): raise ConvertError(f'{wheel}: no such file')
    data = wheel.read_bytes(); sha = hashlib.sha256(data).hexdigest()
    if sha != WHEEL_SHA256 and not force: raise ConvertError(f'{wheel}: sha256 {sha} is not musicnn 0.1.0\'s ({WHEEL_SHA256}); --force to try anyway')
    try: z = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile: raise ConvertError(f'{wheel}: not a wheel (zip)') from None
    license_text = z.read(LICENSE_MEMBER).decode('utf-8')
    config_py = z.read('musicnn/configuration.py').decode('utf-8')
    written = []
    def write(path, blob):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
        with os.fdopen(fd, 'wb') as f: f.write(blob)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path); written.append(path)
    write(out / 'LICENSE', license_text.encode('utf-8'))
    for short, name in MODELS.items():
        what = f'{wheel.name}:musicnn/{name}'
        index = z.read(f'musicnn/{name}/.index'); shard = z.read(f'musicnn/{name}/.data-00000-of-00001')
        tf = read_checkpoint(index, [shard], what)
        model_vars = {k: v for k, v in tf.items() if not is_optimizer_state(k)}
        sd, rows = convert(model_vars)
        unused = sorted(set(model_vars) - {r['tf'] for r in rows})
        if unused: raise ConvertError(f'{what}: variables not mapped: {unused}')
        blob = save(sd, metadata={'format': 'pt'})
        write(out / f'{short}.safetensors', blob)
        tags = _labels(config_py, f'{short.upper()}_LABELS')
        if len(tags) != N_TAGS: raise ConvertError(f'{what}: {len(tags)} tags')
        meta = dict(format_version=FORMAT_VERSION, model=name, tags=tags,
                    weights=f'{short}.safetensors', weights_sha256=hashlib.sha256(blob).hexdigest(),
                    n_values=int(sum(a.size for a in sd.values())),
                    source=dict(wheel=wheel.name, wheel_sha256=sha, checkpoint=[f'musicnn/{name}/.index', f'musicnn/{name}/.data-00000-of-00001'],
                                checkpoint_sha256=hashlib.sha256(shard).hexdigest(), n_tf_variables=len(tf),
                                n_optimizer_variables_dropped=len(tf) - len(model_vars),
                                experiment_result=z.read(f'musicnn/{name}/experiment.result').decode('utf-8').strip()),
                    notice=('Weights converted from musicnn 0.1.0 (Pons & Serra, 2019), distributed under the ISC licence below; '
                            'converted copy, layouts changed for PyTorch, values unchanged.'),
                    license=license_text, layers=rows)
        write(out / f'{short}.json', (json.dumps(meta, indent=1, ensure_ascii=False) + '\n').encode('utf-8'))
    return written

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('wheel', help='musicnn-0.1.0-py3-none-any.whl (pip download --no-deps musicnn==0.1.0)')
    p.add_argument('--out', default=str(Path(__file__).resolve().parents[1] / 'genriflow' / 'musicnn'), help='output folder')
    p.add_argument('--force', action='store_true', help='convert a wheel whose sha256 differs from musicnn 0.1.0')
    a = p.parse_args(argv)
    try: files = convert_wheel(a.wheel, a.out, a.force)
    except (ConvertError, KeyError, OSError) as e:
        print(f'convert_musicnn: {e}', file=sys.stderr); return 1
    for f in files: print(f'{f}  {f.stat().st_size:,} bytes')
    return 0

if __name__ == '__main__':
    sys.exit(main())
