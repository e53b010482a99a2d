"""Issue #29 item 7: a reader who opens a notebook in JupyterLab (`make lab`) changes no tracked file. The real JupyterLab, started as
`make lab` starts it in a clone of this repository's HEAD, and a real headless Chromium (test_watch.py's `browser`)."""
import json, os, signal, socket, subprocess, urllib.request
import pytest
from conftest import ROOT, BIN
from test_watch import browser, _wait_for  # noqa: F401 (`browser` is a fixture)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

@pytest.mark.slow
def test_opening_a_notebook_in_jupyterlab_changes_no_tracked_file(tmp_path, browser):
    """`make lab` in a clone, with settings of its own in a fresh home (autosave every second, no browser, a port and a token):
    Chromium opens nbs/04_train.ipynb, its kernel starts and goes idle, JupyterLab autosaves it, Ctrl+S is pressed and the file is
    saved again (the server's file times say so: Ctrl+S alone saves it when autosave is off), and `git status` stays empty."""
    repo, home = tmp_path/'repo', tmp_path/'home'
    subprocess.run(['git', 'clone', '-q', str(ROOT), str(repo)], check=True)
    docmanager = home/'.jupyter/lab/user-settings/@jupyterlab/docmanager-extension'
    docmanager.mkdir(parents=True)
    (docmanager/'plugin.jupyterlab-settings').write_text(json.dumps({'autosaveInterval': 1}))
    (home/'.jupyter/jupyter_server_config.json').write_text(json.dumps({'ServerApp': {'open_browser': False, 'ip': '127.0.0.1'}}))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    token = os.urandom(8).hex()
    env = {**os.environ, 'HOME': str(home), 'JUPYTER_PORT': str(port), 'JUPYTER_PORT_RETRIES': '0', 'JUPYTER_TOKEN': token}
    log = tmp_path/'lab.log'
    with open(log, 'w') as out:
        p = subprocess.Popen(['make', '-s', '-o', 'install', 'lab', f'JUPYTER={BIN}/jupyter'], cwd=repo, env=env, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}/'
    def api(path):
        request = urllib.request.Request(base + 'api/' + path, headers={'Authorization': f'token {token}'})
        return json.loads(urllib.request.urlopen(request, timeout=30).read())
    def up():
        assert p.poll() is None, log.read_text()[-3000:]
        try: return bool(api('status'))
        except OSError: return False
    saved = lambda: api('contents/04_train.ipynb?content=0')['last_modified']
    try:
        _wait_for(up, 'JupyterLab to start')
        committed = saved()
        browser.get(f'{base}lab/tree/04_train.ipynb?token={token}')
        idle = lambda: [s['kernel']['execution_state'] for s in api('sessions') if s['path'] == '04_train.ipynb'] == ['idle']
        _wait_for(idle, "the notebook's kernel to start and go idle")
        _wait_for(lambda: saved() != committed, 'an autosave')
        autosaved = saved()
        ActionChains(browser).key_down(Keys.CONTROL).send_keys('s').key_up(Keys.CONTROL).perform()
        _wait_for(lambda: saved() != autosaved, 'a save after Ctrl+S')
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=30)
    status = subprocess.run(['git', 'status', '--porcelain'], cwd=repo, capture_output=True, text=True, check=True).stdout
    diff = subprocess.run(['git', 'diff'], cwd=repo, capture_output=True, text=True).stdout
    assert status == '', status + diff[:3000]
