"""Issue: watching and reading the study outside Jupyter. TensorBoard's own event reader finds every epoch of a smoke sweep's rows;
a real headless Chromium (Debian's, driven through its ChromeDriver) reads the docs site and TensorBoard's dashboard, each served
on 127.0.0.1. With VGG_REPORT_SCREENSHOTS=<folder> the two browser tests also save what the browser showed (nbs/measured/ holds the
committed screenshots)."""
import functools, http.server, os, runpy, shutil, signal, subprocess, sys, threading, time, urllib.parse, urllib.request, json
from contextlib import contextmanager
from pathlib import Path
import pandas as pd, pytest
from conftest import ROOT

BROWSER_PACKAGES = 'chromium chromium-driver'
SHOTS = os.environ.get('VGG_REPORT_SCREENSHOTS')
SITE = runpy.run_path(str(ROOT/'scripts/site.py'))          # `make site`'s script, its functions

@pytest.fixture(scope='module')
def browser():
    "Headless Chromium through ChromeDriver, both Debian's, found on PATH (never downloaded: Selenium gets both paths)."
    chromium, chromedriver = shutil.which('chromium'), shutil.which('chromedriver')
    assert chromium and chromedriver, ("Debian's Chromium and ChromeDriver are missing: `make install` installs them when run as root, "
                                       f"else run: sudo apt-get install --no-install-recommends {BROWSER_PACKAGES}")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    opts = Options()
    opts.binary_location = chromium
    for a in ('--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-dev-shm-usage',
              '--window-size=1200,900'): opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

@contextmanager
def serve(folder: Path):
    "`folder` over HTTP on 127.0.0.1 and a free port, in a thread; yields its address."
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}/'
    finally: srv.shutdown(); srv.server_close()

def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r: return r.status
    except urllib.error.HTTPError as e: return e.code

def png_outputs(nb: Path) -> int:
    return sum('image/png' in o.get('data', {}) for c in json.loads(nb.read_text())['cells'] for o in c.get('outputs', []))

# The docs site --------------------------------------------------------------------------------------------------------------------

def test_report_page_without_a_report(tmp_path):
    "A checkout without a built report still gets its report page, saying how to build one."
    (tmp_path/'src').mkdir()
    text = SITE['report_page'](tmp_path/'src', tmp_path/'no-report')
    assert 'No report has been built' in text and 'make report' in text and not (tmp_path/'src/report').exists()

_PAGE = """return {imgs: Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]),
                  links: Array.from(document.links).map(a => a.href),
                  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)}"""

@pytest.mark.slow
def test_site_in_a_browser(tmp_path, browser):
    """`make site`'s script builds the site (with a report to show: a PDF and a figure); every page loads in Chromium without console
    errors, every image has loaded, every internal link (and its #anchor) resolves, every library notebook has a page with its figures."""
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    built = tmp_path/'built'
    (built/'report').mkdir(parents=True); (built/'figures').mkdir()
    fig, ax = plt.subplots(figsize=(3, 2)); ax.plot([0, 1], [1, 0])
    fig.savefig(built/'figures/fig_1_test.png'); fig.savefig(built/'report/report.pdf'); plt.close(fig)
    r = subprocess.run([sys.executable, str(ROOT/'scripts/site.py'), '--out', str(tmp_path/'site'), '--report_from', str(built)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0 and r.stderr.strip() == '', r.stdout[-2000:] + r.stderr[-4000:]      # -W: no warning either
    html = tmp_path/'site/html'
    pages = sorted(p.relative_to(html).as_posix() for p in html.rglob('*.html'))
    for nb in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')): assert f'{nb.stem}.html' in pages, nb.name
    with serve(html) as base:
        seen = {}
        for page in pages:
            browser.get(base + page)
            seen[page] = browser.execute_script(_PAGE)
            severe = [l['message'] for l in browser.get_log('browser') if l['level'] == 'SEVERE']
            assert not severe, (page, severe)
            assert all(ok and w > 0 for _, ok, w in seen[page]['imgs']), (page, [i for i in seen[page]['imgs'] if not i[2]])
            if SHOTS and page == '03_hooks.html':                           # at its figure: the gradient flow at initialisation
                browser.execute_script("const r = document.querySelector('.cell_output img').getBoundingClientRect(); "
                                       "window.scrollTo({top: window.scrollY + r.top - 250, behavior: 'instant'})")   # furo scrolls smoothly
                browser.save_screenshot(str(Path(SHOTS)/'site_03_hooks.png'))
        links = {l for p in seen.values() for l in p['links'] if l.startswith(base)}
        codes = {u: status(u) for u in {urllib.parse.urldefrag(l).url for l in links}}
        assert all(c == 200 for c in codes.values()), {u: c for u, c in codes.items() if c != 200}
        for l in links:
            url, frag = urllib.parse.urldefrag(l)
            target = url[len(base):] or 'index.html'
            if frag and target in seen: assert urllib.parse.unquote(frag) in seen[target]['ids'], l
        for nb in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')):
            assert len(seen[f'{nb.stem}.html']['imgs']) >= png_outputs(nb), nb.name
        assert any(i[0].endswith('fig_1_test.png') for i in seen['report.html']['imgs'])
        pdf = next(l for l in seen['report.html']['links'] if l.endswith('.pdf'))
        with urllib.request.urlopen(pdf) as f: assert f.read(5) == b'%PDF-'
    assert len(pages) >= 25 and 'vgg_report.saving.TensorBoardCB' in seen['api/saving.html']['ids']

# TensorBoard --------------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_tensorboard_reader_finds_every_epoch_of_a_sweep(paper):
    "TensorBoard's own reader finds, for each row of the smoke sweep, every epoch's scalars and gradient flow, and the heatmap."
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    runs, _ = paper
    rows = sorted((runs/'smoke-synthetic').glob('*/metrics.json'))
    assert len(rows) == 11
    for m in rows:
        out = m.parent
        acc = EventAccumulator(str(out/'tb'), size_guidance={'scalars': 0, 'images': 0}); acc.Reload()
        tags = acc.Tags()
        steps = {t: [s.step for s in acc.Scalars(t)] for t in tags['scalars']}
        layers = pd.read_csv(out/'grad_flow.csv').layer.unique()
        assert {'loss/train', 'loss/val', 'accuracy/train', 'accuracy/val', 'schedule/lr', 'time/epoch_seconds'} <= set(steps), out.name
        assert sorted(t for t in steps if t.startswith('grad_flow/')) == [f'grad_flow/{i:02d}_{l}' for i, l in enumerate(layers)]
        assert steps == {t: [1, 2] for t in steps}, (out.name, steps)
        assert [i.step for i in acc.Images('grad_flow/heatmap')] == [2]
        h = pd.read_csv(out/'history.csv')
        assert [s.value for s in acc.Scalars('accuracy/val')] == pytest.approx(h.val_acc.tolist(), rel=1e-6)

def _wait_for(cond, what, timeout=90):
    t0 = time.time()
    while not cond():
        assert time.time() - t0 < timeout, f'waited {timeout} s for {what}'
        time.sleep(0.5)

@pytest.mark.slow
def test_tensorboard_shows_two_rows_in_a_browser(paper, tmp_path, browser):
    """`make board` on a run set of two rows of the smoke sweep: TensorBoard's HTTP API lists both runs with their scalars, one point
    per epoch, and its dashboard, rendered by Chromium, shows both runs and their charts."""
    rows = ('vgg_08', 'bn-baseline')
    run_set = tmp_path/'smoke-synthetic'
    for slug in rows: shutil.copytree(paper[0]/'smoke-synthetic'/slug, run_set/slug)
    p = subprocess.Popen(['make', '-s', '-o', 'install', 'board', f'RUN_SET={run_set}'], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        line = p.stdout.readline()
        assert line.startswith(f'TensorBoard on {run_set}: http://127.0.0.1:'), line
        base = line.split(': ', 1)[1].split()[0]
        api = lambda path: json.loads(urllib.request.urlopen(base + path, timeout=30).read())
        def listed():
            try: return sorted(api('data/runs')) == [f'{s}/tb' for s in sorted(rows)]
            except OSError: return False
        _wait_for(listed, 'TensorBoard to list both runs')
        for slug in rows:
            run = urllib.parse.quote(f'{slug}/tb')
            _wait_for(lambda: 'loss/train' in api(f'data/plugin/scalars/tags?run={run}').get(f'{slug}/tb', {}), f'the scalars of {slug}')
            tags = api(f'data/plugin/scalars/tags?run={run}')[f'{slug}/tb']
            assert {'loss/val', 'accuracy/val', 'schedule/lr', 'grad_flow/00_input_conv_conv_0'} <= set(tags)
            for tag in ('loss/train', 'accuracy/val'):
                assert [s[1] for s in api(f'data/plugin/scalars/scalars?run={run}&tag={urllib.parse.quote(tag)}')] == [1, 2]
        body = lambda: browser.find_element('tag name', 'body').text
        browser.get(base + '#timeseries')                                 # a chart per tag, a line per run, and a legend naming them
        _wait_for(lambda: all(body().count(f'{s}/tb') >= 3 for s in rows) and 'accuracy\n/val' in body(), 'the time series of both runs')
        if SHOTS:
            time.sleep(2)                                                 # the lines draw after their data arrives
            browser.save_screenshot(str(Path(SHOTS)/'tensorboard_two_rows.png'))
        browser.get(base + '#custom_scalars')                             # every layer's mean |grad| in one chart
        _wait_for(lambda: 'mean |grad| per layer' in body() and all(f'{s}/tb' in body() for s in rows), 'the gradient-flow chart')
        n_layers = sum(len(pd.read_csv(run_set/s/'grad_flow.csv').layer.unique()) for s in rows)
        _wait_for(lambda: f'Matches ({n_layers})' in body(), f'the chart to match the {n_layers} layers of the two runs')
        if SHOTS:
            time.sleep(2)
            browser.save_screenshot(str(Path(SHOTS)/'tensorboard_grad_flow.png'))
    finally:
        os.killpg(p.pid, signal.SIGTERM); p.wait(timeout=30)
