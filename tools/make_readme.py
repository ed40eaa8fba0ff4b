"""Write README.md from nbs/index.ipynb, offline (nbdev-readme needs Quarto, which cannot be installed here).

    python tools/make_readme.py           # write README.md
    python tools/make_readme.py --check   # exit 1 when README.md is not what index.ipynb gives

The README is the notebook as the docs home page shows it: markdown cells as they are, code cells with their saved
outputs, `#| hide` / `#| include: false` cells left out, `#| echo: false` cells shown by their output only, and links
to other notebooks pointed at `nbs/`. Re-run the notebook's cells first when they change:
`nbdev-test nbs/index.ipynb --save && nbdev-clean`.
"""
from __future__ import annotations
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INDEX, README = ROOT / 'nbs' / 'index.ipynb', ROOT / 'README.md'
HEADER = '<!-- Generated from nbs/index.ipynb by `python tools/make_readme.py`: edit the notebook, not this file. -->\n'
IMAGES = ('image/png', 'image/jpeg', 'image/svg+xml', 'image/gif')


def _src(x) -> str: return ''.join(x) if isinstance(x, list) else (x or '')


def _options(code: str) -> tuple[dict, str]:
    "The `#|` directives at the top of a code cell (`{'hide': True, 'echo': 'false', ...}`), and the code without them."
    lines, opts = code.split('\n'), {}
    while lines and lines[0].startswith('#|'):
        k, _, v = lines.pop(0)[2:].strip().partition(':')
        k = k.split()[0] if k.split() else ''
        opts[k] = v.strip().lower() or True
    return opts, '\n'.join(lines).strip('\n')


def _fence(text: str, lang: str = '') -> str:
    ticks = '`' * max(3, 1 + max((len(m) for m in re.findall(r'`+', text)), default=0))
    return f'{ticks}{lang}\n{text.rstrip(chr(10))}\n{ticks}'


def _links(md: str) -> str:
    "Relative links to notebooks (`02_audio.ipynb#x`) -> `nbs/02_audio.ipynb#x`, so they work from the repository root."
    return re.sub(r'\]\((?![a-zA-Z][\w+.-]*:|/|#|nbs/)([^)\s]+\.ipynb(?:#[^)\s]*)?)\)', r'](nbs/\1)', md)


def _output(out: dict, where: str) -> str:
    kind = out.get('output_type')
    if kind == 'stream':
        return '' if out.get('name') == 'stderr' else _fence(_src(out.get('text')))
    if kind == 'error': raise SystemExit(f'{where}: a cell has a saved error output; re-run the notebook')
    data = out.get('data') or {}
    if any(m in data for m in IMAGES) and 'text/markdown' not in data:
        raise SystemExit(f'{where}: image outputs cannot go into the README; link a figure from figures/ instead')
    if 'text/markdown' in data: return _links(_src(data['text/markdown']).strip('\n'))
    if 'text/plain' in data: return _fence(_src(data['text/plain']))
    return ''


def readme(index: Path = INDEX) -> str:
    "The README text for a notebook."
    nb = json.loads(index.read_text())
    parts = []
    for i, c in enumerate(nb['cells']):
        src = _src(c.get('source'))
        if c['cell_type'] == 'markdown':
            if src.strip(): parts.append(_links(src.strip('\n')))
            continue
        if c['cell_type'] != 'code': continue
        opts, code = _options(src)
        if opts.get('hide') or opts.get('include') == 'false' or 'export' in opts: continue
        if opts.get('echo') != 'false' and code.strip(): parts.append(_fence(code, 'python'))
        if opts.get('output') != 'false':
            parts += [o for o in (_output(out, f'{index.name} cell {i}') for out in c.get('outputs', [])) if o]
    return HEADER + '\n' + '\n\n'.join(parts) + '\n'


def main(argv: list[str]) -> int:
    text = readme()
    if '--check' in argv:
        if README.exists() and README.read_text() == text: return 0
        print(f'{README} is out of date with {INDEX}: run `python tools/make_readme.py`', file=sys.stderr)
        return 1
    README.write_text(text)
    print(f'wrote {README} from {INDEX}')
    return 0


if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
