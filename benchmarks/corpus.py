"""A real-music corpus from Debian's freely licensed game soundtracks, and non-music probes, for calibrating the tagger.

    python benchmarks/corpus.py [--cache ~/.cache/genriflow/corpus] [--packages supertux-data ...] [--no-probes]

1. `apt-get download` the .deb files of `PACKAGES` (only those) into CACHE/debs (done downloads are skipped);
2. extract only their audio (also from the zip archives some games pack it in) into CACHE/audio/PACKAGE/...;
3. keep the files of at least 30 s that genriflow decodes, and write CACHE/manifest.csv: package, path, duration,
   sha256, and the embedded GENRE/ARTIST/TITLE tags (mutagen). Files of 4-30 s under a sound-effects folder go to
   CACHE/effects.csv (non-music probes where the corpus has them);
4. write the non-music probes to CACHE/probes/ and CACHE/probes.csv (kind, path): espeak-ng speech in several
   languages and voices, alone and over quiet noise (skipped with a message when espeak-ng is absent), noise of
   three colours, tones and chords, digital silence (`genriflow.zeroshot.probe_signals`).

Every step is resumable: what is already there is kept. The audio never goes into the repository.
"""
import argparse, csv, hashlib, io, os, shutil, subprocess, sys, tarfile, zipfile
from pathlib import Path
import numpy as np
import soundfile as sf

PACKAGES = ('supertux-data', 'hedgewars-data', 'ufoai-music', 'warzone2100-music', 'hyperrogue-music', 'singularity-music',
            'drascula-music', 'flare-game', 'xmoto-data', 'planetblupi-music-ogg', 'lincity-ng-data', 'zaz-data')
AUDIO = ('.ogg', '.oga', '.opus', '.mp3', '.flac', '.wav', '.mod', '.xm', '.s3m', '.it')
ARCHIVES = ('.pk3', '.zip')  # ufoai packs its music in a zip
MIN_SONG, MIN_EFFECT = 30.0, 4.0  # seconds
EFFECT_DIRS = ('sound', 'sounds', 'sfx', 'effects', 'soundfx')
DEFAULT_CACHE = Path.home() / '.cache' / 'genriflow' / 'corpus'
ESPEAK = [('en', 'en'), ('en+f3', 'en'), ('de', 'de'), ('fr+m3', 'fr'), ('es', 'es'), ('it+f2', 'it'), ('ru', 'ru'),
          ('ja', 'ja'), ('hi', 'hi'), ('pt+m5', 'pt')]
TEXTS = {'en': 'The weather today is cloudy with some rain in the afternoon. Please remember to close the window before you '
               'leave, and call me when you arrive at the station so that we can plan the rest of the evening together.',
         'de': 'Heute ist das Wetter wechselhaft, am Nachmittag kann es regnen. Bitte schliess das Fenster, bevor du gehst, '
               'und ruf mich an, wenn du am Bahnhof angekommen bist, damit wir den Abend zusammen planen koennen.',
         'fr': 'Aujourd hui le temps est nuageux avec un peu de pluie dans l apres-midi. N oublie pas de fermer la fenetre '
               'avant de partir, et appelle-moi quand tu arrives a la gare pour que nous organisions la soiree.',
         'es': 'Hoy el tiempo esta nublado con algo de lluvia por la tarde. Recuerda cerrar la ventana antes de salir y '
               'llamame cuando llegues a la estacion para que podamos planear el resto de la noche juntos.',
         'it': 'Oggi il tempo e nuvoloso con un po di pioggia nel pomeriggio. Ricordati di chiudere la finestra prima di '
               'uscire e chiamami quando arrivi alla stazione, cosi possiamo organizzare il resto della serata.',
         'ru': 'Сегодня облачно, после обеда возможен дождь. Пожалуйста, закрой окно перед уходом и позвони мне, когда '
               'приедешь на вокзал, чтобы мы могли вместе спланировать остаток вечера.',
         'ja': 'きょうはくもりで、ごごからあめがふるかもしれません。でかけるまえにまどをしめて、えきについたらでんわしてください。'
               'それから、いっしょにこんばんのよていをきめましょう。',
         'hi': 'आज मौसम बादलों वाला है और दोपहर में बारिश हो सकती है। जाने से पहले खिड़की बंद कर देना और स्टेशन पहुँचकर मुझे फोन '
               'करना, ताकि हम साथ में शाम की योजना बना सकें।',
         'pt': 'Hoje o tempo esta nublado com um pouco de chuva a tarde. Lembra-te de fechar a janela antes de sair e '
               'liga-me quando chegares a estacao para planearmos o resto da noite juntos.'}


def download(cache: Path, packages=PACKAGES) -> dict:
    "package -> its .deb in cache/debs, downloading the missing ones with apt-get (run `apt-get update` first)."
    debs = cache / 'debs'; debs.mkdir(parents=True, exist_ok=True)
    have = lambda p: sorted(debs.glob(f'{p}_*.deb'))
    missing = [p for p in packages if not have(p)]
    if missing:
        print('downloading', ' '.join(missing), flush=True)
        r = subprocess.run(['apt-get', 'download', *missing], cwd=debs, capture_output=True, text=True)
        if r.returncode: print(f'apt-get download failed ({r.returncode}): {r.stderr.strip()[-500:]}', file=sys.stderr)
    return {p: have(p)[-1] for p in packages if have(p)}


def _write(dest: Path, data: bytes):
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + '.part'); tmp.write_bytes(data); os.replace(tmp, dest)


def extract(deb: Path, dest: Path) -> list:
    "Extract only the audio files of a .deb (and of the zip archives inside it) under `dest`; returns their paths."
    done = dest / '.extracted'
    if done.exists(): return [dest / l for l in done.read_text().splitlines() if l]
    out = []
    tar = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', str(deb)], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=tar.stdout, mode='r|') as tf:
        for m in tf:
            name = m.name.lstrip('./')
            if not m.isfile() or not name.lower().endswith(AUDIO + ARCHIVES): continue
            data = tf.extractfile(m).read()
            if name.lower().endswith(ARCHIVES):
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    for zi in z.infolist():
                        if zi.filename.lower().endswith(AUDIO):
                            rel = f'{name}/{zi.filename}'; _write(dest / rel, z.read(zi)); out.append(rel)
            else: _write(dest / name, data); out.append(name)
    if tar.wait(): raise RuntimeError(f'{deb}: dpkg-deb failed')
    done.write_text('\n'.join(out) + '\n')
    return [dest / r for r in out]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''): h.update(block)
    return h.hexdigest()


def embedded_tags(path: Path) -> dict:
    "GENRE, ARTIST and TITLE as the file carries them ('' when absent or unreadable)."
    import mutagen
    try: f = mutagen.File(path, easy=True)
    except Exception: f = None
    get = lambda k: '; '.join(str(v) for v in (f.get(k) or [])) if f is not None and f.tags is not None else ''
    return dict(genre=get('genre'), artist=get('artist'), title=get('title'))


def describe(path: Path) -> dict|None:
    "Duration of a file genriflow decodes (its first and last seconds read), or None when it cannot."
    from genriflow.audio import audio_info, load_audio, AudioError
    try:
        d = audio_info(path)['duration']
        load_audio(path, sr=16000, offset=0.0, duration=1.0); load_audio(path, sr=16000, offset=max(d - 2.0, 0), duration=1.0)
        return dict(duration=round(float(d), 2))
    except (AudioError, Exception): return None


def build_corpus(cache: Path, packages=PACKAGES) -> tuple[list, list]:
    "Download, extract and describe: (songs of >= 30 s, sound effects of 4-30 s), each a list of dicts."
    from tqdm import tqdm
    songs, effects, skipped = [], [], {}
    for pkg, deb in download(cache, packages).items():
        files = extract(deb, cache / 'audio' / pkg)
        for f in tqdm(files, desc=pkg, unit='file', leave=False):
            d = describe(f)
            if d is None: skipped['not decodable'] = skipped.get('not decodable', 0) + 1; continue
            rel = str(f.relative_to(cache / 'audio' / pkg))
            effect = any(part.lower() in EFFECT_DIRS for part in Path(rel).parts[:-1])
            if d['duration'] >= MIN_SONG and not effect:
                songs.append(dict(package=pkg, path=str(f), file=rel, duration=d['duration'], sha256=_sha256(f), **embedded_tags(f)))
            elif effect and MIN_EFFECT <= d['duration'] < MIN_SONG:
                effects.append(dict(kind='effect', package=pkg, path=str(f), file=rel, duration=d['duration']))
            else: skipped['under 30 s'] = skipped.get('under 30 s', 0) + 1
    print(f'{len(songs)} songs, {len(effects)} sound effects; skipped: {skipped}')
    return songs, effects


def espeak_available() -> bool: return shutil.which('espeak-ng') is not None


def speak(text: str, voice: str, dest: Path) -> Path:
    "espeak-ng speech of `text` in `voice`, as a wav file."
    subprocess.run(['espeak-ng', '-v', voice, '-s', '150', '-w', str(dest), text], check=True, capture_output=True)
    return dest


def make_probes(folder: Path, sr: int = 22050) -> list:
    "Write the non-music probes (30 s each) to `folder`; rows of kind and path. Speech needs espeak-ng."
    from genriflow.zeroshot import probe_signals
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (kind, y) in probe_signals(sr=sr, seconds=30.0).items():
        p = folder / f'{name}.wav'
        if not p.exists(): sf.write(p, y, sr)
        rows.append(dict(kind=kind, path=str(p), file=p.name))
    if not espeak_available(): print('espeak-ng not installed: no speech probes (apt-get install espeak-ng)'); return rows
    rng = np.random.default_rng(0)
    for voice, lang in ESPEAK:
        p, noisy = folder / f'speech-{voice}.wav', folder / f'speech-{voice}-noise.wav'
        if not p.exists():
            raw = speak(TEXTS[lang], voice, folder / f'raw-{voice}.wav')
            y, r = sf.read(raw, dtype='float32'); raw.unlink()
            y = np.tile(y, int(np.ceil(30 * r / len(y))))[:30 * r]  # long enough for the windows
            sf.write(p, 0.5 * y / np.abs(y).max(), r)
            sf.write(noisy, 0.5 * y / np.abs(y).max() + 0.01 * rng.standard_normal(len(y)).astype(np.float32), r)
        rows += [dict(kind='speech', path=str(p), file=p.name), dict(kind='speech', path=str(noisy), file=noisy.name)]
    return rows


def write_csv(rows: list, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + '.part'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ['path']); w.writeheader(); w.writerows(rows)
    os.replace(path.with_name(path.name + '.part'), path)


def read_csv(path: Path) -> list:
    with open(path, newline='') as f: return list(csv.DictReader(f))


def ensure(cache: Path = DEFAULT_CACHE, packages=PACKAGES, probes: bool = True) -> dict:
    "The corpus, the effects and the probes, built once and reused: {'songs': [...], 'effects': [...], 'probes': [...]}."
    cache = Path(cache).expanduser()
    man, eff, pro = cache / 'manifest.csv', cache / 'effects.csv', cache / 'probes.csv'
    if not man.exists():
        songs, effects = build_corpus(cache, packages); write_csv(songs, man); write_csv(effects, eff)
    out = dict(songs=read_csv(man), effects=read_csv(eff) if eff.exists() else [])
    out['songs'] = [s for s in out['songs'] if s['package'] in packages]
    if probes:
        if not pro.exists() or (espeak_available() and not any(r['kind'] == 'speech' for r in read_csv(pro))):
            write_csv(make_probes(cache / 'probes'), pro)
        out['probes'] = read_csv(pro)
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cache', type=Path, default=DEFAULT_CACHE, help='cache folder (default %(default)s)')
    ap.add_argument('--packages', nargs='+', default=list(PACKAGES), choices=PACKAGES)
    ap.add_argument('--no-probes', action='store_true')
    a = ap.parse_args()
    c = ensure(a.cache, tuple(a.packages), not a.no_probes)
    by = {}
    for s in c['songs']: by[s['package']] = by.get(s['package'], 0) + 1
    print('songs per package:', by)
    print(f"songs={len(c['songs'])} effects={len(c['effects'])} probes={len(c.get('probes', []))} "
          f"tagged={sum(bool(s['genre']) for s in c['songs'])}")
