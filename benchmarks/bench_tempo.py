"""Benchmark tempo estimation: genriflow's `bpm` against `librosa.feature.tempo` with its defaults, on songs of known tempo.

The songs are made here (written once to a cache folder, 22050 Hz mono wav) so their tempo is known exactly:
  - click tracks (`genriflow.tempo.click_track`) at 60, 70, ..., 200 BPM, 30 s each;
  - demo-synthesizer clips (`genriflow.synth.render_clip`), 8 genres x 4 seeds (seeds 100-103: the notebook and its
    hand-tuning looked at seeds 0-4), 30 s each, their tempo read from the synthesizer's first random draw
    (`genriflow.tempo.demo_tempo`);
  - songs with a tempo change: two click tracks and two demo splices of two genres; the reference tempo is the one
    that plays for the longer part (two thirds) of the song.

genriflow runs as `classify` does: `MusicnnClassifier.predict_many` (the default tagger, decoding windows in worker
processes), so the tag-informed tempo prior is part of what is measured; the same run also reports genriflow without
the tags (the tempo prior from the onset rate only). librosa gets the whole file at its default 22050 Hz
(`librosa.load`) and every default of `librosa.feature.tempo`.

MIREX measures: Acc1, the estimate within 4% of the reference; Acc2, within 4% of the reference or of x2, x3, 1/2, 1/3.

    python benchmarks/bench_tempo.py [--workers 0] [--cache DIR]

Last line: tempo_acc1=<a> tempo_acc2=<b> librosa_acc1=<c> librosa_acc2=<d>
"""
import argparse, os, tempfile, time
from pathlib import Path
import numpy as np
import soundfile as sf
import songs  # benchmarks/songs.py

SR = 22050
CLICKS = list(range(60, 201, 10))
DEMO_SEEDS = (100, 101, 102, 103)
CHANGES = [('click', [(90, 10.0), (135, 20.0)]), ('click', [(170, 20.0), (120, 10.0)]),
           ('demo', [('rock', 10.0), ('disco', 20.0)]), ('demo', [('hiphop', 20.0), ('metal', 10.0)])]


def song_list() -> list:
    "(file name, kind, spec, reference BPM) for every song of the benchmark."
    from genriflow.tempo import demo_tempo
    from genriflow.synth import DEMO_GENRES
    out = [(f'click_{b:03d}.wav', 'click', [(b, 30.0)], float(b)) for b in CLICKS]
    out += [(f'demo_{g}_{s}.wav', 'demo', [(g, 30.0, s)], demo_tempo(g, s)) for g in DEMO_GENRES for s in DEMO_SEEDS]
    for i, (kind, parts) in enumerate(CHANGES):
        if kind == 'click': ref = max(parts, key=lambda p: p[1])[0]
        else: parts = [(g, secs, 200 + i) for g, secs in parts]; ref = demo_tempo(*max(parts, key=lambda p: p[1])[::2])
        out.append((f'change_{i}.wav', kind, parts, float(ref)))
    return out


def make_song(path: str, index: int) -> str:
    "Render song `index` of `song_list()` and write it atomically."
    from genriflow.tempo import click_track
    from genriflow.synth import render_clip
    _, kind, parts, _ = song_list()[index]
    y = click_track([(b, s) for b, s in parts], sr=SR, seed=index) if kind == 'click' else \
        np.concatenate([render_clip(g, secs, SR, seed) for g, secs, seed in parts])
    tmp = path + '.part.wav'
    sf.write(tmp, y, SR, subtype='PCM_16')
    os.replace(tmp, path)
    return path


def accuracy(estimates: list, refs: list) -> tuple[float, float]:
    "MIREX Acc1 (within 4%) and Acc2 (within 4% of x1, x2, x3, 1/2 or 1/3 the reference)."
    def within(e, r, factors): return any(abs(e - r * f) <= 0.04 * r * f for f in factors) if np.isfinite(e) else False
    a1 = np.mean([within(e, r, (1,)) for e, r in zip(estimates, refs)])
    a2 = np.mean([within(e, r, (1, 2, 3, 1 / 2, 1 / 3)) for e, r in zip(estimates, refs)])
    return float(a1), float(a2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workers', type=int, default=0, help='decoding processes; 0: every usable CPU')
    ap.add_argument('--cache', default=str(Path(tempfile.gettempdir()) / 'genriflow-bench-tempo'))
    a = ap.parse_args()
    import librosa, torch
    from genriflow.tempo import estimate_tempo, tempo_prior
    from genriflow.files import resolve_workers, usable_cpus
    from genriflow.tagger import MusicnnClassifier, musicnn_windows
    workers = resolve_workers(a.workers)
    specs = song_list()
    paths = songs.library(Path(a.cache), [s[0] for s in specs], make_song, workers)
    refs = [s[3] for s in specs]
    print(f'{len(paths)} songs of known tempo: {len(CLICKS)} click tracks, {len(DEMO_SEEDS) * 8} demo clips, '
          f'{len(CHANGES)} with a tempo change; {usable_cpus()} usable CPUs, load {os.getloadavg()[0]:.2f}')

    t0 = time.perf_counter()
    clf = MusicnnClassifier.load(device='cpu')
    rows = {p.path: p.row() for p in clf.predict_many(paths, workers=workers, progress=False)}
    t_ours = time.perf_counter() - t0
    ours = [float(rows[p]['bpm']) for p in paths]
    no_tags = []
    for p in paths:  # the same estimate with the tags left out of the prior (onset rate only)
        sig = musicnn_windows(p)['signals']
        no_tags.append(estimate_tempo(sig['tempogram'], tempo_prior(None, sig['onset_rate']))['bpm'])
    t0 = time.perf_counter()
    theirs = [float(librosa.feature.tempo(y=librosa.load(p)[0], sr=SR)[0]) for p in paths]
    t_lib = time.perf_counter() - t0

    groups = dict(click=[i for i, s in enumerate(specs) if s[0].startswith('click')],
                  demo=[i for i, s in enumerate(specs) if s[0].startswith('demo')],
                  change=[i for i, s in enumerate(specs) if s[0].startswith('change')], all=list(range(len(specs))))
    for name, est in (('genriflow (tags + onset prior)', ours), ('genriflow without tags', no_tags), ('librosa defaults', theirs)):
        print(f'{name:31s} ' + '  '.join(f'{g} Acc1 {accuracy([est[i] for i in ix], [refs[i] for i in ix])[0]:.2f} '
                                           f'Acc2 {accuracy([est[i] for i in ix], [refs[i] for i in ix])[1]:.2f}'
                                           for g, ix in groups.items()))
    print('misses (Acc1) of genriflow: ' + ', '.join(f'{specs[i][0]} {refs[i]:.0f}->{ours[i]:.0f}' for i in range(len(specs))
                                                  if not accuracy([ours[i]], [refs[i]])[0]))
    print(f'time: genriflow {t_ours:.1f} s for the whole tagging run (genres, moods and tempo, tagger load included); '
          f'librosa {t_lib:.1f} s for tempo alone on the decoded files')
    a1, a2 = accuracy(ours, refs)
    l1, l2 = accuracy(theirs, refs)
    print(f'tempo_acc1={a1:.3f} tempo_acc2={a2:.3f} librosa_acc1={l1:.3f} librosa_acc2={l2:.3f}')


if __name__ == '__main__':
    main()
