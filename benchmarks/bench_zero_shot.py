"""The default tagger's zero-shot verdicts on real recordings (Debian game soundtracks) and on non-music probes.

    python benchmarks/bench_zero_shot.py [--cache ~/.cache/genriflow/corpus] [--workers 0] [--speed-songs 40] [--calibrate] [--figures]

Builds or reuses the corpus and the probes (`benchmarks/corpus.py`), tags every file once with the built-in tagger
on every core (window probabilities, level and log-mel patches cached in CACHE/tagged/, keyed by path, size and
mtime, so later runs re-apply the rules in seconds), gives each file the verdict `MusicnnClassifier` gives
(`zero_shot` on its tags and `song_signals`), and prints:
the genre distribution per package, the share of real songs flagged (no playlist, no tag: `library.confident` is
False) overall, on the calibration packages and on the held-out ones, the share of non-music probes flagged and
their kinds, the sound effects' kinds, and agreement with the embedded genre tags where they name a genre.

`--calibrate` writes genriflow/musicnn/calibration.json from the real songs of `CALIBRATION_PACKAGES` only (the
others stay held out); `--figures` writes figures/zero_shot_*.png for nbs/14_pretrained.ipynb.
Files whose own GENRE tag says "Sound FX" are sound effects, not songs, and are counted with the effects.
Speed: `--speed-songs` real songs classified afresh by `MusicnnClassifier.predict_many` (what `genriflow classify`
runs); their verdicts must match the cached ones. The CPU may be shared with other jobs: see `uptime`.
Last line: real_songs=<n> flagged_real=<share> flagged_nonmusic=<share> songs_per_s=<x>
"""
import argparse, concurrent.futures as cf, hashlib, json, os, sys, time
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # benchmarks/corpus.py

REPO = Path(__file__).resolve().parent.parent
CALIBRATION_PACKAGES = ('supertux-data', 'ufoai-music', 'hyperrogue-music', 'drascula-music', 'xmoto-data', 'lincity-ng-data')
QUANTILES = 101


def items(c: dict) -> list:
    "(group, path, extra) for every file: real songs by package, sound effects, probes by kind."
    out = []
    for s in c['songs']:
        fx = 'sound fx' in s['genre'].lower()
        out.append(('effect' if fx else 'song', s['path'], dict(package=s['package'], file=s['file'], genre_tag=s['genre'])))
    out += [('effect', e['path'], dict(package=e['package'], file=e['file'], genre_tag='')) for e in c['effects']]
    out += [('probe', p['path'], dict(package='probe', file=p['file'], probe_kind=p['kind'])) for p in c['probes']]
    return out


def cache_key(path: str) -> str:
    st = os.stat(path)
    return hashlib.sha1(f'{path}\0{st.st_size}\0{st.st_mtime_ns}'.encode()).hexdigest()[:16]


def tag_all(paths: list, folder: Path, workers: int) -> dict:
    "path -> its cached tagger outputs (.npz: window probabilities, level, duration, log-mel patches); tags the missing."
    from tqdm import tqdm
    from genriflow.files import process_pool, worker_init
    from genriflow.tagger import musicnn_windows
    from genriflow.pretrained import MusicnnTagger
    folder.mkdir(parents=True, exist_ok=True)
    where = {p: folder / f'{cache_key(p)}.npz' for p in paths}
    todo = [p for p in paths if not where[p].exists()]
    if todo:
        tagger = MusicnnTagger.load(device='auto')
        with process_pool(workers, worker_init) as pool:
            futs = {pool.submit(musicnn_windows, p): p for p in todo}
            for f in tqdm(cf.as_completed(futs), total=len(futs), desc='tagging', unit='file'):
                p, r = futs[f], f.result()
                if r['error']: np.savez(where[p], path=p, error=r['error']); continue
                o = tagger.tag_logmels(r['features'])
                np.savez(where[p], path=p, error='', msd=o['msd'], mtt=o['mtt'], level=r['level'], duration=r['duration'],
                         logmel=r['features'].astype(np.float16))
    return where


def verdict(npz: Path, tags_of: dict) -> dict:
    "A result row from cached tagger outputs, by the rules `MusicnnClassifier` applies (`zero_shot` on tags and signals)."
    from genriflow.pretrained import song_signals, SILENCE_DBFS
    from genriflow.zeroshot import zero_shot
    z = np.load(npz)
    if str(z['error']): return dict(path=str(z['path']), error=str(z['error']))
    tags = {m: dict(zip(tags_of[m], z[m].mean(0).tolist())) for m in ('msd', 'mtt')}
    signals = song_signals(z['logmel'].astype(np.float32))
    v = zero_shot(dict(tags, silent=bool(float(z['level']) < SILENCE_DBFS), signals=signals))
    return dict(path=str(z['path']), error='', genre=v['genre'] or '', best=v['best'], kind=v['kind'],
                confidence=v['confidence'], uncertain=v['uncertain'], silent=v['silent'], signals=signals, tags=tags)


def speed(paths: list, workers: int, cached: dict) -> tuple[float, float]:
    "Songs/s of `MusicnnClassifier.predict_many` (what `genriflow classify` runs) on `paths`; share matching the cache."
    from genriflow.tagger import MusicnnClassifier
    clf = MusicnnClassifier.load(device='auto')
    t0 = time.perf_counter()
    rows = [p.row() for p in clf.predict_many(paths, workers=workers, progress=True)]
    seconds = time.perf_counter() - t0
    same = [r['genre'] == cached[r['path']]['genre'] and r['kind'] == cached[r['path']]['kind'] for r in rows if not r['error']]
    return len(paths) / seconds, sum(same) / max(len(same), 1)


def calibrate(rows: list, dest: Path) -> dict:
    "The spread of the top genre score over the real music of the calibration packages, written as JSON."
    from genriflow.zeroshot import genre_scores
    top = [max(genre_scores(r['tags']).values()) for r in rows if r['kind'] == 'music']
    cal = dict(made_by='benchmarks/bench_zero_shot.py --calibrate', packages=list(CALIBRATION_PACKAGES), songs=len(top),
               what='quantiles 0, 0.01, ..., 1 of the top genre score (genre_scores) of real songs the tagger calls music',
               top_score_quantiles=[round(float(q), 5) for q in np.quantile(top, np.linspace(0, 1, QUANTILES))])
    dest.write_text(json.dumps(cal, indent=1) + '\n')
    return cal


def flagged(r: dict) -> bool:
    from genriflow.playlists import confident
    return not confident(r)


def embedded_agreement(rows: list) -> tuple[int, int, dict]:
    "(comparable songs, agreeing, other tags): an embedded GENRE is comparable when it names a vocabulary genre."
    from genriflow.zeroshot import GENRES
    n = agree = 0; other = {}
    for r in rows:
        tag = r['genre_tag'].strip().lower()
        if not tag: continue
        if tag in GENRES: n += 1; agree += r['best'] == tag
        else: other[r['genre_tag']] = other.get(r['genre_tag'], 0) + 1
    return n, agree, other


def figures(songs: list, probes: list, folder: Path):
    "Histograms of the signals for real music against the probes, and the genre distribution per package."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from genriflow.plots import save_figure
    from genriflow.zeroshot import STEADY_DB, SPEECH_PAUSES, SPEECH_FLATNESS
    sig = lambda rs, k: np.array([r['signals'][k] for r in rs if r.get('signals')])
    groups = [('real songs', songs), *[(k, [p for p in probes if p['probe_kind'] == k]) for k in ('speech', 'noise', 'tone')]]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for ax, (key, thr, log) in zip(axes, [('change', STEADY_DB, True), ('pauses', SPEECH_PAUSES, False), ('flatness', SPEECH_FLATNESS, True)]):
        allv = np.concatenate([sig(rs, key) for _, rs in groups])
        bins = np.geomspace(max(allv[allv > 0].min(), 1e-4), allv.max() * 1.1, 40) if log else np.linspace(0, allv.max() * 1.05, 40)
        for name, rs in groups:
            v = sig(rs, key); ax.hist(np.maximum(v, bins[0]), bins=bins, alpha=0.55, label=f'{name} ({len(v)})', density=False)
        ax.axvline(thr, color='k', ls='--', lw=1); ax.set_xlabel(key); ax.set_yscale('log')
        if log: ax.set_xscale('log')
    axes[0].set_ylabel('files'); axes[0].legend(fontsize=7)
    fig.suptitle('Signals of real recordings and non-music probes (dashed: the rule\'s thresholds)', fontsize=10)
    save_figure(fig, 'zero_shot_signals', folder, show=False); plt.close(fig)
    import pandas as pd
    t = pd.crosstab(pd.Series([r['package'] for r in songs], name='package'),
                    pd.Series([r['genre'] if not flagged(r) else f"({r['kind'] if r['kind'] != 'music' else 'uncertain'})"
                               for r in songs], name='verdict'))
    fig, ax = plt.subplots(figsize=(11, 4))
    t.plot.barh(stacked=True, ax=ax, colormap='tab20', width=0.8)
    ax.set_xlabel('songs'); ax.legend(fontsize=7, ncol=2, bbox_to_anchor=(1.0, 1.0)); ax.set_title('Zero-shot genres of real recordings per package')
    save_figure(fig, 'zero_shot_genres', folder, show=False); plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cache', type=Path, default=corpus.DEFAULT_CACHE)
    ap.add_argument('--workers', type=int, default=0, help='worker processes (0: every usable CPU)')
    ap.add_argument('--speed-songs', type=int, default=40, help='real songs classified afresh to measure the speed')
    ap.add_argument('--calibrate', action='store_true', help='write genriflow/musicnn/calibration.json')
    ap.add_argument('--figures', action='store_true', help='write figures/zero_shot_*.png')
    a = ap.parse_args()
    from genriflow.files import resolve_workers
    from genriflow.musicnn_net import weights_info
    c, workers = corpus.ensure(a.cache), resolve_workers(a.workers or None)
    todo = items(c)
    where = tag_all([p for _, p, _ in todo], a.cache.expanduser() / 'tagged', workers)
    tags_of = {k: weights_info(k)['tags'] for k in ('msd', 'mtt')}
    rows = [dict(verdict(where[p], tags_of), group=g, **x) for g, p, x in todo]
    if a.calibrate:
        cal = calibrate([r for r in rows if r['group'] == 'song' and r['package'] in CALIBRATION_PACKAGES and not r['error']],
                        REPO / 'genriflow' / 'musicnn' / 'calibration.json')
        print(f"calibration: {cal['songs']} songs of {', '.join(cal['packages'])}; rules re-applied with it")
        from genriflow.zeroshot import load_calibration; load_calibration.cache_clear()
        rows = [dict(r, **verdict(where[r['path']], tags_of)) for r in rows]
    errors = [r for r in rows if r['error']]
    songs = [r for r in rows if r['group'] == 'song' and not r['error']]
    probes = [r for r in rows if r['group'] == 'probe' and not r['error']]
    effects = [r for r in rows if r['group'] == 'effect' and not r['error']]
    share = lambda rs: sum(map(flagged, rs)) / max(len(rs), 1)
    print(f'{len(rows)} files: {len(songs)} real songs, {len(probes)} probes, {len(effects)} sound effects; {len(errors)} unreadable')
    for e in errors[:5]: print('  unreadable:', e['error'])
    print('\ngenres per package (flagged songs in parentheses by kind; "?": music with weak genre evidence):')
    for pkg in corpus.PACKAGES:
        rs = [r for r in songs if r['package'] == pkg]
        if not rs: continue
        counts = {}
        for r in rs:
            k = r['genre'] if not flagged(r) else ('?' + r['best'] if r['kind'] == 'music' else f"({r['kind']})")
            counts[k] = counts.get(k, 0) + 1
        print(f'  {pkg:22} {len(rs):3}  ' + ', '.join(f'{g} {n}' for g, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))
    cal_rs = [r for r in songs if r['package'] in CALIBRATION_PACKAGES]; held = [r for r in songs if r['package'] not in CALIBRATION_PACKAGES]
    print(f'\nreal songs flagged: {share(songs):.1%} of {len(songs)} (calibration packages {share(cal_rs):.1%} of {len(cal_rs)}, '
          f'held-out packages {share(held):.1%} of {len(held)}); called non-music: {sum(r["kind"] != "music" for r in songs)}')
    for r in songs:
        if r['kind'] != 'music': print(f"  called {r['kind']}: {r['package']} {r['file']}")
    print(f'non-music probes flagged: {share(probes):.1%} of {len(probes)}')
    for k in sorted({p['probe_kind'] for p in probes}):
        rs = [p for p in probes if p['probe_kind'] == k]; kinds = {}
        for p in rs: kinds[p['kind']] = kinds.get(p['kind'], 0) + 1
        print(f'  {k:8} {len(rs):3} flagged {share(rs):.0%}  called: ' + ', '.join(f'{a} {n}' for a, n in sorted(kinds.items())))
        for p in rs:
            if not flagged(p): print(f"    NOT flagged: {p['file']} -> {p['genre']} {p['confidence']:.2f}")
    kinds = {}
    for r in effects:
        k = 'music, uncertain' if r['kind'] == 'music' and flagged(r) else r['kind']; kinds[k] = kinds.get(k, 0) + 1
    print(f'sound effects (4-30 s, or tagged Sound FX; not counted above): {len(effects)}, flagged {share(effects):.0%}; kinds: {kinds}')
    n, agree, other = embedded_agreement(songs)
    print(f'embedded genre tags: {n} name a vocabulary genre, {agree} agree with the best genre; '
          f'the others name no genre of the vocabulary: {other}')
    conf = [r['confidence'] for r in songs if r['kind'] == 'music']
    print(f'confidence of real songs called music: median {np.median(conf):.2f}, 10th percentile {np.percentile(conf, 10):.2f}')
    if a.figures: figures(songs, probes, REPO / 'figures')
    sample = [r['path'] for r in songs][::max(len(songs) // a.speed_songs, 1)][:a.speed_songs]
    per_s, agree = speed(sample, workers, {r['path']: r for r in rows})
    print(f'speed: MusicnnClassifier.predict_many on {len(sample)} of the real songs, {workers} workers: {per_s:.2f} songs/s; '
          f'its verdicts match the cached ones on {agree:.0%} of them')
    print(f'real_songs={len(songs)} flagged_real={share(songs):.3f} flagged_nonmusic={share(probes):.3f} songs_per_s={per_s:.2f}')


if __name__ == '__main__':
    main()
