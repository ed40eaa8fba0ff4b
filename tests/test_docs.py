"""The docs site and the README: build the site with `bash tools/build_docs.sh`, open every page in headless Chromium
(the DevTools protocol over a pipe, standard library only) and check what a reader sees; check README.md is in sync.

Chromium is the Debian package `chromium` (`.ci/run` installs it). Without it the browser tests skip, except under
CI (`CI` set), where they fail. The home page screenshot is saved to test-artifacts/home.png (and the features page
to test-artifacts/features.png).
"""
from __future__ import annotations
import base64, json, os, re, select, shutil, subprocess, sys, tempfile, threading, time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS, DOCS, ARTIFACTS = ROOT / 'nbs', ROOT / '_docs', ROOT / 'test-artifacts'
FEATURES_FIGURES = 4  # chroma, tonnetz, mel, MFCC


def notebooks() -> list[Path]:
    "The notebooks in nbs/: each must have a page."
    return sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))


def chromium() -> str | None:
    "The Chromium (or Chrome) executable: $CHROMIUM, else the first one on PATH."
    if os.environ.get('CHROMIUM'): return os.environ['CHROMIUM']
    return next((p for n in ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable') if (p := shutil.which(n))), None)


# ------------------------------------------------------------------ a small DevTools protocol client

class Browser:
    "Headless Chromium driven over `--remote-debugging-pipe` (JSON messages ending in NUL on fds 3 and 4)."
    def __init__(self, exe: str, width=1280, height=1000):
        self.profile = tempfile.mkdtemp(prefix='genriflow-chromium-')
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        def fds():  # the child reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_chrome_r, 3); os.dup2(from_chrome_w, 4)
        args = [exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage', '--hide-scrollbars', '--mute-audio', f'--window-size={width},{height}',
                f'--user-data-dir={self.profile}', '--remote-debugging-pipe', 'about:blank']
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     pass_fds=(3, 4), preexec_fn=fds)
        os.close(to_chrome_r); os.close(from_chrome_w)
        self._buf, self._id, self.events = b'', 0, []
        self.session = None

    def _read(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while b'\0' not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError(f'Chromium did not answer in {timeout} s')
            chunk = os.read(self._r, 1 << 20)
            if not chunk: raise RuntimeError('Chromium closed the DevTools pipe: ' + self.proc.stderr.read().decode()[-2000:])
            self._buf += chunk
        msg, self._buf = self._buf.split(b'\0', 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = '', timeout: float = 30) -> dict:
        "Send a command (to the attached page unless `session=None`) and return its result."
        self._id += 1
        msg = {'id': self._id, 'method': method, 'params': params or {}}
        sid = self.session if session == '' else session
        if sid: msg['sessionId'] = sid
        os.write(self._w, json.dumps(msg).encode() + b'\0')
        while True:
            m = self._read(timeout)
            if m.get('id') == self._id:
                if 'error' in m: raise RuntimeError(f'{method}: {m["error"]}')
                return m.get('result', {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        "Wait for an event of the attached page (events that arrived earlier count)."
        end = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.events):
                if m.get('method') == method and m.get('sessionId') == self.session: return self.events.pop(i)
            self.events.append(self._read(max(0.01, end - time.monotonic())))

    def open_page(self):
        "Create a tab and attach to it."
        tid = self.send('Target.createTarget', {'url': 'about:blank'}, session=None)['targetId']
        self.session = self.send('Target.attachToTarget', {'targetId': tid, 'flatten': True}, session=None)['sessionId']
        for m in ('Page.enable', 'Runtime.enable'): self.send(m)

    def goto(self, url: str, timeout: float = 30):
        self.events = [e for e in self.events if e.get('method') != 'Page.loadEventFired']
        r = self.send('Page.navigate', {'url': url})
        if r.get('errorText'): raise RuntimeError(f'{url}: {r["errorText"]}')
        self.wait_event('Page.loadEventFired', timeout)

    def js(self, expr: str, timeout: float = 30):
        "Evaluate JavaScript in the page (promises awaited) and return its value."
        r = self.send('Runtime.evaluate', {'expression': expr, 'awaitPromise': True, 'returnByValue': True}, timeout=timeout)
        if 'exceptionDetails' in r: raise RuntimeError(f'JavaScript error: {r["exceptionDetails"]}')
        return r['result'].get('value')

    def screenshot(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.send('Page.captureScreenshot', {'format': 'png'})['data']))

    def close(self):
        try: self.send('Browser.close', session=None, timeout=5)
        except Exception: pass
        try: self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        for fd in (self._r, self._w):
            try: os.close(fd)
            except OSError: pass
        shutil.rmtree(self.profile, ignore_errors=True)


# What the test reads from each page once its images have loaded or failed
PAGE_JS = r"""(async () => {
  await Promise.all([...document.images].map(i => i.complete ? null :
        new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 10000); })));
  return {
    title: document.title,
    h1: (document.querySelector('h1') || {}).textContent || '',
    text: document.body.innerText,
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    images: [...document.images].map(i => ({src: i.src.slice(0, 80), width: i.naturalWidth, complete: i.complete,
                                             output: !!i.closest('.cell-output')})),
    api: [...document.querySelectorAll('h3[id]')].map(h => ({id: h.id, name: h.textContent.trim(),
          doc: (h.nextElementSibling ? h.nextElementSibling.textContent : '') + ' ' +
               ((h.nextElementSibling && h.nextElementSibling.nextElementSibling) ? h.nextElementSibling.nextElementSibling.textContent : '')})),
  };
})()"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope='module')
def site() -> Path:
    "Build the docs site with the one documented command; return its folder."
    t0 = time.perf_counter()
    r = subprocess.run(['bash', str(ROOT / 'tools' / 'build_docs.sh')], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f'tools/build_docs.sh failed:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}'
    warnings = [l for l in r.stderr.splitlines() if l.startswith('warning:')]
    print(f'docs built in {time.perf_counter() - t0:.1f} s; smalldocs warnings: {warnings}')
    return DOCS


@pytest.fixture(scope='module')
def pages(site) -> dict:
    "Every page reachable from the home page and every notebook's page, as the browser sees it: {path: page data}."
    exe = chromium()
    if not exe:
        if os.environ.get('CI'): pytest.fail('CI is set but Chromium is not installed: apt-get install -y chromium')
        pytest.skip('Chromium is not installed (apt-get install -y chromium); CI would fail here')
    server = ThreadingHTTPServer(('127.0.0.1', 0), partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{server.server_address[1]}/'
    browser = Browser(exe)
    out, errors = {}, []
    try:
        browser.open_page()
        todo = ['index.html'] + [p.stem + '.html' for p in notebooks()]
        while todo:
            path = todo.pop(0)
            if path in out or not (site / path).is_file(): continue
            browser.events.clear()
            browser.goto(base + path)
            data = browser.js(PAGE_JS)
            data['exceptions'] = [e['params']['exceptionDetails'].get('text', '') + ' ' +
                                  str(e['params']['exceptionDetails'].get('exception', {}).get('description', ''))[:300]
                                  for e in browser.events if e.get('method') == 'Runtime.exceptionThrown']
            out[path] = data
            if path == 'index.html': browser.screenshot(ARTIFACTS / 'home.png')
            if path == '04_features.html':
                browser.js("(() => { document.documentElement.style.scrollBehavior = 'auto'; const i = document.querySelector('.cell-output img');"
                           " if (i) window.scrollTo(0, i.getBoundingClientRect().top + window.scrollY - 250); })()")
                time.sleep(0.3)
                browser.screenshot(ARTIFACTS / 'features.png')
            for link in data['links']:
                u = urlparse(link)
                target = unquote(u.path).lstrip('/')
                if link.startswith(base) and target.endswith('.html') and target not in out: todo.append(target)
        for d in out.values(): d['base'] = base
    finally:
        browser.close()
        server.shutdown()
    return out


def _page_name(nb: Path) -> str: return nb.stem + '.html'


# ------------------------------------------------------------------ the site

def test_every_notebook_has_a_page(pages):
    missing = [nb.name for nb in notebooks() if _page_name(nb) not in pages]
    assert not missing, f'notebooks without a docs page: {missing}'
    for nb in notebooks():
        p = pages[_page_name(nb)]
        title = next((re.match(r'#\s+(.+)', ''.join(c['source'])).group(1).strip()
                      for c in json.loads(nb.read_text())['cells']
                      if c['cell_type'] == 'markdown' and re.match(r'#\s+', ''.join(c['source']))), None)
        assert title and title in p['h1'], f'{nb.name}: page heading {p["h1"]!r}, notebook title {title!r}'
        assert len(p['text']) > 300, f'{nb.name}: its page is nearly empty'
        assert not p['exceptions'], f'{nb.name}: JavaScript errors on its page: {p["exceptions"]}'


def test_sidebar_lists_every_notebook(pages):
    home = pages['index.html']
    linked = {unquote(urlparse(l).path).lstrip('/') for l in home['links']}
    missing = [nb.name for nb in notebooks() if _page_name(nb) not in linked]
    assert not missing, f'the home page (sidebar and notebook table) does not link to: {missing}'


def test_features_page_shows_its_figures(pages):
    p = pages['04_features.html']
    figs = [i for i in p['images'] if i['output']]
    loaded = [i for i in figs if i['complete'] and i['width'] > 0]
    assert len(loaded) >= FEATURES_FIGURES, f'features page: {len(loaded)} figures loaded of {len(figs)}: {figs}'


def test_every_image_loads(pages):
    broken = [(path, i['src']) for path, p in pages.items() for i in p['images'] if not (i['complete'] and i['width'] > 0)]
    assert not broken, f'images that did not load: {broken}'


def _api_symbols() -> dict[str, list[str]]:
    "The exported public functions and classes, by notebook page: {page: [anchor, ...]} from genriflow/_modidx.py."
    src = (ROOT / 'genriflow' / '_modidx.py').read_text()
    d = {}
    exec(compile(src, '_modidx.py', 'exec'), d)
    by_nbdev_page = {}
    for mod, syms in d['d']['syms'].items():
        for name, (link, _) in syms.items():
            short = name[len(mod) + 1:]
            if '.' in short or short.startswith('_'): continue
            page, _, anchor = link.partition('#')
            by_nbdev_page.setdefault(page, []).append(anchor)
    ours = {re.sub(r'^\d+_', '', nb.stem) + '.html': _page_name(nb) for nb in notebooks()}
    return {ours.get(k, k): v for k, v in by_nbdev_page.items()}


def test_api_reference(pages):
    expected = _api_symbols()
    for must in ('load_audio', 'extract', 'featureconfig'):
        assert any(must in v for v in expected.values()), f'{must} is not exported (genriflow/_modidx.py)'
    problems = []
    for page, anchors in expected.items():
        if page not in pages: problems.append(f'{page}: no page'); continue
        shown = {re.sub(r'-\d+$', '', a['id']): a for a in pages[page]['api']}  # `main-1` when a `## main` heading exists
        for a in anchors:
            if a not in shown: problems.append(f'{page}: no show_doc entry for {a}')
            elif len(shown[a]['doc'].strip()) < len(shown[a]['name']) + 5: problems.append(f'{page}: {a} has no signature or docstring')
    assert not problems, 'API reference gaps:\n' + '\n'.join(problems)


def test_no_broken_links(pages, site):
    ids = {path: set(p['ids']) for path, p in pages.items()}
    base = next(iter(pages.values()))['base']
    broken = []
    for path, p in pages.items():
        for link in p['links']:
            if not link.startswith(base): continue  # external sites are not checked offline
            url, frag = urldefrag(link)
            target = unquote(urlparse(url).path).lstrip('/') or 'index.html'
            if target.endswith('/'): target += 'index.html'
            f = site / target
            if not f.is_file(): broken.append(f'{path} -> {link} (no such file)'); continue
            if frag and target.endswith('.html'):
                known = ids.get(target) or set(re.findall(r'\bid="([^"]+)"', f.read_text(errors='replace')))
                if unquote(frag) not in known: broken.append(f'{path} -> {link} (no element with id {frag!r})')
    assert not broken, 'broken links:\n' + '\n'.join(sorted(set(broken)))


def test_home_page(pages):
    home = pages['index.html']
    text = home['text']
    for must in ('pip install torch==2.13.0 -e . && genriflow demo',
                 'pip install torch==2.13.0 -e ".[dev]" && nbdev-test && pytest tests',
                 'load_audio', 'extract', 'GenreClassifier', 'seed', 'bash tools/build_docs.sh'):
        assert must in text, f'the home page does not show {must!r}'
    assert (ARTIFACTS / 'home.png').stat().st_size > 10_000, 'the home page screenshot is (nearly) empty'


# ------------------------------------------------------------------ the README

def test_readme_matches_index():
    "README.md is generated from nbs/index.ipynb; it must be regenerated after the notebook changes."
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr or r.stdout


def test_readme_has_the_two_setup_commands():
    text = (ROOT / 'README.md').read_text()
    blocks = re.findall(r'```bash\n(.*?)\n```', text, re.S)
    assert 'pip install torch==2.13.0 -e . && genriflow demo' in blocks
    assert 'pip install torch==2.13.0 -e ".[dev]" && nbdev-test && pytest tests' in blocks


def test_readme_quick_tour_runs_as_pasted(tmp_path):
    "The README's ```python blocks, pasted in order into a fresh Python session, run without error."
    text = (ROOT / 'README.md').read_text()
    blocks = re.findall(r'```python\n(.*?)\n```', text, re.S)
    assert len(blocks) >= 3, 'the quick tour has code blocks'
    script = tmp_path / 'tour.py'
    script.write_text('\n'.join(blocks) + '\n')
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
