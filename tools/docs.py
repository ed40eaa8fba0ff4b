"""Helpers for the offline docs build (tools/build_docs.sh). Standard library + PyYAML only.

    python tools/docs.py sidebar            # write nbs/sidebar.yml from the notebooks in nbs/
    python tools/docs.py prepare _proc      # after nbdev-proc-nbs: make nbdev's doc links relative for smalldocs
    python tools/docs.py finish _proc _docs # after smalldocs: move the site to _docs, add redirects for nbdev's page names
    python tools/docs.py hints              # cells that mix imports with other code (nbdev runs them in the docs build)
    python tools/docs.py split-imports NB.. # move such cells' top-level imports into cells of their own (then nbdev-clean)
"""
from __future__ import annotations
import ast, html, json, re, shutil, sys
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'

# Sidebar sections: each starts at the notebook of that name (the part after the number) and runs to the next one.
SECTIONS = [('files', 'Foundations'), ('audio', 'Audio and features'), ('lstm', 'Models'),
            ('musicnn_net', 'The pretrained tagger'), ('bundle_check', 'Training and evaluation'),
            ('unsupervised', 'Unsupervised'), ('tempo', 'Tempo and mood'), ('inference', 'Classifying a library'),
            ('explain', 'Why this genre?'), ('multilabel', 'Your labels, beets and the command line')]


def notebooks(nbs: Path = NBS) -> list[Path]:
    "The notebooks of the site, in reading order: index first, then by name."
    return sorted((p for p in nbs.glob('*.ipynb') if not p.name.startswith(('_', '.'))),
                  key=lambda p: ('' if p.stem == 'index' else p.name))


def sidebar(nbs: Path = NBS) -> dict:
    "Quarto sidebar contents: index, then the notebooks in reading order, grouped by `SECTIONS`."
    contents, starts, section = [], dict(SECTIONS), None
    for p in notebooks(nbs):
        if p.stem == 'index': contents.append('index.ipynb'); continue
        name = starts.get(re.sub(r'^\d+[a-z]?_', '', p.stem))
        if name or section is None:
            section = {'section': name or 'More', 'contents': []}; contents.append(section)
        section['contents'].append(p.name)
    return {'website': {'sidebar': {'contents': contents}}}


def write_sidebar(nbs: Path = NBS) -> Path:
    "Write `nbs/sidebar.yml` (only when it changes)."
    text = '# Written by `python tools/docs.py sidebar` (run by tools/build_docs.sh): do not edit.\n'
    text += yaml.safe_dump(sidebar(nbs), sort_keys=False)
    out = nbs / 'sidebar.yml'
    if not out.exists() or out.read_text() != text: out.write_text(text)
    return out


def _front(nb: dict) -> dict:
    "The YAML front matter nbdev puts in a processed notebook's first raw cell."
    c = nb['cells'][0] if nb.get('cells') else {}
    src = ''.join(c.get('source', ''))
    m = re.match(r'\s*---\n(.*?)\n---', src, re.S) if c.get('cell_type') == 'raw' else None
    return (yaml.safe_load(m.group(1)) or {}) if m else {}


def page_names(proc: Path) -> dict[str, str]:
    "Map nbdev's page name (`output-file`, e.g. audio.html) to the page smalldocs writes (02_audio.html)."
    store = proc / '.page-names.json'  # `prepare` strips output-file from the notebooks, so keep what it found
    out = json.loads(store.read_text()) if store.exists() else {}
    out = {k: v for k, v in out.items() if (proc / v).with_suffix('.ipynb').exists()}
    for p in proc.glob('*.ipynb'):
        fm = _front(json.loads(p.read_text()))
        if fm.get('output-file'): out[str(fm['output-file'])] = p.with_suffix('.html').name
        elif p.with_suffix('.html').name not in out.values(): out[p.with_suffix('.html').name] = p.with_suffix('.html').name
    store.write_text(json.dumps(out, indent=1, sort_keys=True))
    return out


def site_url(proc: Path) -> str:
    "The site url nbdev writes into nbdev.yml (doc_host + doc_baseurl)."
    y = yaml.safe_load((proc / 'nbdev.yml').read_text()) or {}
    return str((y.get('website') or {}).get('site-url') or '').rstrip('/')


def _relink(text: str, base: str, names: dict) -> str:
    "Links to nbdev's page names (`store.html`, absolute or relative) -> the page smalldocs writes (`07_store.html`)."
    if base:
        pat = re.compile(re.escape(base) + r'/([\w.-]+\.html)')
        text = pat.sub(lambda m: names.get(m.group(1), m.group(1)), text)
    # Markdown links by page name, as prose writes them so that renumbering the notebooks cannot stale them
    return re.sub(r'(\]\()([\w.-]+\.html)(?=[#)])', lambda m: m.group(1) + names.get(m.group(2), m.group(2)), text)


def prepare(proc: Path) -> int:
    "Rewrite the processed notebooks for smalldocs: relative doc links, no `output-file`, no `format-links`."
    base, names, n = site_url(proc), page_names(proc), 0
    for p in sorted(proc.glob('*.ipynb')):
        raw = p.read_text()
        nb = json.loads(raw)
        for c in nb['cells']:
            if c['cell_type'] == 'markdown':
                c['source'] = _relink(''.join(c['source']), base, names)
            elif c['cell_type'] == 'raw' and c is nb['cells'][0]:
                c['source'] = re.sub(r'(?m)^output-file:.*\n', '', ''.join(c['source']))
            for o in c.get('outputs', []):
                d = o.get('data') or {}
                if 'text/markdown' in d:
                    md = d['text/markdown']
                    d['text/markdown'] = _relink(''.join(md) if isinstance(md, list) else md, base, names)
        new = json.dumps(nb, indent=1, ensure_ascii=False)
        if new != raw: p.write_text(new); n += 1
    y = proc / 'nbdev.yml'
    if y.exists():
        cfg = yaml.safe_load(y.read_text()) or {}
        if cfg.pop('format-links', None) is not None: y.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return n


_PLAIN = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _importish(n: ast.stmt) -> bool:
    "An import, or `matplotlib.use(...)` (harmless, and it belongs with the imports)."
    if isinstance(n, (ast.Import, ast.ImportFrom)): return True
    f = n.value.func if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) else None
    return isinstance(f, ast.Attribute) and f.attr == 'use' and isinstance(f.value, ast.Name) and f.value.id == 'matplotlib'


def mixed_import_cells(nbs: Path = NBS) -> list[str]:
    "Cells that nbdev runs while building the docs (any cell with an import) and that also run other code."
    out = []
    for p in notebooks(nbs):
        for i, c in enumerate(json.loads(p.read_text())['cells']):
            if c['cell_type'] != 'code': continue
            src = ''.join(c['source'])
            dirs = {l[2:].strip().split(':')[0].strip() for l in src.splitlines() if l.startswith('#|')}
            if dirs & {'export', 'exports', 'exporti', 'exec_doc'} or re.search(r'(?m)^#\|\s*eval:\s*false', src): continue
            code = '\n'.join('' if l.lstrip().startswith(('%', '!')) else l for l in src.splitlines())
            try: tree = ast.parse(code)
            except SyntaxError: continue
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree)) and \
               any(not (isinstance(n, _PLAIN) or _importish(n)) for n in tree.body):
                first = next((l for l in src.splitlines() if l.strip() and not l.startswith('#|')), '')
                out.append(f'{p.relative_to(nbs.parent)} cell {i}: {first[:70]}')
    return out


def _split(src: str) -> tuple[str, str] | None:
    "A cell's top-level imports (with its `#|` directives) and the rest of its code; None when it has nothing to split."
    lines = src.split('\n')
    k = next((i for i, l in enumerate(lines) if not l.startswith('#|')), len(lines))
    dirs, body = lines[:k], '\n'.join(lines[k:]).encode()
    try: tree = ast.parse(body)
    except SyntaxError: return None
    imps = [n for n in tree.body if _importish(n)]
    if not imps or len(imps) == len(tree.body): return None
    starts = [0]
    for l in body.split(b'\n'): starts.append(starts[-1] + len(l) + 1)
    segs = [(starts[n.lineno - 1] + n.col_offset, starts[n.end_lineno - 1] + n.end_col_offset) for n in imps]
    imports = '\n'.join(body[a:b].decode() for a, b in segs)
    rest = body
    for a, b in reversed(segs): rest = rest[:a] + rest[b:]
    kept = []
    for old, new in zip(body.decode().split('\n'), rest.decode().split('\n')) if rest.count(b'\n') == body.count(b'\n') else []:
        new = re.sub(r';\s*$', '', re.sub(r'^(\s*);\s*', r'\1', new))
        if new.strip() or not old.strip(): kept.append(new)
    if not kept: return None
    head = '\n'.join(dirs) + '\n' if dirs else ''
    return head + imports, head + '\n'.join(kept).strip('\n')


def split_imports(path: Path) -> tuple[int, list[str]]:
    "Move the top-level imports of each mixed cell of a notebook into a cell of their own, just before it."
    nb = json.loads(path.read_text())
    cells, n = [], 0
    flagged = {int(re.search(r' cell (\d+):', l).group(1)) for l in mixed_import_cells(path.parent) if l.startswith(f'{path.parent.name}/{path.name} ')}
    for i, c in enumerate(nb['cells']):
        parts = _split(''.join(c['source'])) if i in flagged else None
        if parts:
            imp = {**c, 'source': parts[0].splitlines(keepends=True), 'outputs': [], 'execution_count': None}
            if 'id' in c: imp['id'] = c['id'] + 'i'
            cells.append(imp); c = {**c, 'source': parts[1].splitlines(keepends=True)}; n += 1
        cells.append(c)
    nb['cells'] = cells
    if n: path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    left = [l for l in mixed_import_cells(path.parent) if l.startswith(f'{path.parent.name}/{path.name} ')]
    return n, left


REDIRECT = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{t}</title>'
            '<meta http-equiv="refresh" content="0; url={t}"><link rel="canonical" href="{t}"></head>'
            '<body><p>Moved to <a href="{t}">{t}</a>.</p></body></html>\n')


def method_links(docs: Path) -> list[tuple[str, str, str]]:
    "Point links to methods that have no entry of their own (`x.html#genrecnn.embed`) at their class's entry."
    pages = {p.name: p.read_text() for p in docs.glob('*.html')}
    ids = {n: set(re.findall(r'\bid="([^"]+)"', t)) for n, t in pages.items()}
    changed = []
    def fix(m, page):
        target, anchor = m.group(1) or page, m.group(2)
        if target not in ids or anchor in ids[target] or '.' not in anchor: return m.group(0)
        cls = anchor.rsplit('.', 1)[0]
        if cls not in ids[target]: return m.group(0)
        changed.append((page, f'{target}#{anchor}', f'{target}#{cls}'))
        return f'href="{m.group(1)}#{cls}"'
    for name, text in pages.items():
        new = re.sub(r'href="([\w.-]*\.html)?#([^"]+)"', lambda m: fix(m, name), text)
        if new != text: (docs / name).write_text(new)
    return sorted(set(changed))


def finish(proc: Path, docs: Path) -> int:
    "Move the rendered site from `proc/_docs` to `docs`; add redirect pages for nbdev's own page names."
    built = proc / docs.name
    if not (built / 'index.html').exists(): sys.exit(f'{built}: no index.html; did smalldocs render fail?')
    if docs.exists(): shutil.rmtree(docs)
    shutil.move(str(built), str(docs))
    for f in ('nbdev.yml', 'sidebar.yml'): (docs / f).unlink(missing_ok=True)  # config, copied as resources
    for page, link, to in method_links(docs):
        print(f'{page}: no show_doc entry for {link}; the link goes to {to} instead')
    n = 0
    for nbdev_name, page in page_names(proc).items():
        if nbdev_name != page and not (docs / nbdev_name).exists():
            (docs / nbdev_name).write_text(REDIRECT.format(t=html.escape(page))); n += 1
    return n


if __name__ == '__main__':
    cmd, *args = sys.argv[1:] or ['help']
    if cmd == 'sidebar': print(f'wrote {write_sidebar(Path(args[0]) if args else NBS)}')
    elif cmd == 'prepare': print(f'prepared {prepare(Path(args[0]))} notebook(s) in {args[0]} for smalldocs')
    elif cmd == 'finish': print(f'site in {args[1]} ({finish(Path(args[0]), Path(args[1]))} redirect page(s))')
    elif cmd == 'hints':
        cells = mixed_import_cells()
        if cells:
            print('nbdev-proc-nbs runs every code cell that contains an import (to render the API docs), so a cell that\n'
                  'mixes imports with test code runs there without the names the rest of the notebook defines (and does\n'
                  "its work again). Move these cells' imports into cells of their own (cells counted from 0);\n"
                  '`python tools/docs.py split-imports nbs/NN_name.ipynb` does it:')
            print('\n'.join('  ' + c for c in cells))
    elif cmd == 'split-imports':
        for a in args:
            n, left = split_imports(Path(a))
            print(f'{a}: split {n} cell(s)' + ''.join(f'\n  still runs in the docs build (an import inside a block): {l}' for l in left))
    else: sys.exit(__doc__)
