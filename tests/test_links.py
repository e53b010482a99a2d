"""Issue: a README a newcomer finishes, and the guide it links to. Every relative link of the README, of the guide's
pages (docs_site/guide/*.md), of nbs/index.ipynb and of the study names a file of the repository (and a heading of it,
for a `#section`), as a code host resolves them; the site's build points each of them at its own copy of the page, and
shows the measurements of nbs/measured/ that a page asks for as tables. Fast: no Sphinx, no browser
(tests/test_watch.py opens the built site in Chromium and follows every link there)."""
import json, re, runpy, subprocess
from pathlib import Path, PurePosixPath
import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = runpy.run_path(str(ROOT/'scripts/site.py'))          # `make site`'s script, its functions
LINK = re.compile(r'\]\(([^)\s]+)\)')                        # a Markdown link's or image's target: ](target)
FENCE = re.compile(r'^(```|~~~).*?^\1', re.M | re.S)

def pages() -> dict:
    "The Markdown a reader meets first, by its path in the repository: README, guide, the notebooks' index, the study."
    files = [ROOT/'README.md', *sorted((ROOT/'docs_site/guide').glob('*.md')), ROOT/'nbs/the_study.md']
    out = {p.relative_to(ROOT).as_posix(): p.read_text() for p in files}
    cells = json.loads((ROOT/'nbs/index.ipynb').read_text())['cells']
    out['nbs/index.ipynb'] = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    return out

def links(text: str) -> list:
    "The relative link targets of Markdown `text`, outside its code blocks."
    return [t for t in LINK.findall(FENCE.sub('', text)) if not re.match(r'[a-z]+:', t)]

def slugs(text: str) -> set:
    "The anchors a code host gives the headings of Markdown `text` (GitHub's rule, which the site's MyST follows)."
    out, seen = set(), {}
    for h in re.findall(r'^#{1,6} +(.+?) *$', FENCE.sub('', text), re.M):
        s = re.sub(r'[^\w\- ]', '', h.lower()).replace(' ', '-')
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f'{s}-{n}')
    return out

def repository_files() -> set:
    "The files a clone has: tracked, or new and not ignored."
    r = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                       capture_output=True, text=True, check=True)
    return set(r.stdout.splitlines())

def test_every_relative_link_names_a_file_of_the_repository():
    "Each relative link of the README, the guide, nbs/index.ipynb and the study names a file a clone has (and heading)."
    files, bad, n = repository_files(), [], 0
    texts = pages()
    for page, text in texts.items():
        for target in links(text):
            n += 1
            path, _, frag = target.partition('#')
            repo = PurePosixPath(*SITE['_normal']((PurePosixPath(page).parent/path).parts)).as_posix() if path else page
            if repo not in files: bad.append(f'{page}: {target} ({repo} is not a file of the repository)')
            elif frag and repo.endswith('.md') and frag not in slugs(texts.get(repo) or (ROOT/repo).read_text()):
                bad.append(f'{page}: {target} (no such heading)')
    assert not bad, bad
    assert n >= 50                           # the README and the guide link to each other and to the notebooks
    readme = links(texts['README.md'])
    for page in sorted((ROOT/'docs_site/guide').glob('*.md')):
        assert f'docs_site/guide/{page.name}' in readme, f'the README links to no guide page {page.name}'

def test_the_readme_is_short():
    "The README a newcomer finishes: at most about 150 lines; the rest is in the guide."
    assert len((ROOT/'README.md').read_text().splitlines()) <= 150

def test_the_site_points_every_link_at_its_own_page(tmp_path):
    """The site's sources, as `make site` assembles them: every relative link of the README and of the guide names a
    page or file the site has (the notebooks' folder is its root, the guide guide/); each guide page in the contents."""
    src = tmp_path/'src'
    SITE['assemble'](src, tmp_path/'no-report')
    for page in [src/'readme.md', *sorted((src/'guide').glob('*.md'))]:
        for target in links(page.read_text()):
            path = target.partition('#')[0]
            assert not path or (page.parent/path).exists(), (page.relative_to(src), target)
    assert sorted(p.stem for p in (src/'guide').glob('*.md')) == sorted(SITE['GUIDE_PAGES'])
    index = (src/'index.md').read_text()
    assert all(f'guide/{p}\n' in index for p in SITE['GUIDE_PAGES'])
    performance = (src/'guide/performance.md').read_text()
    assert '<!-- measured:' not in performance                    # every measurement shown, as a table
    assert '| ours | 17.4 | 5,738 |' in performance              # nbs/measured/h100-fastest-kernels.json

def test_a_link_to_a_file_the_site_lacks_stops_the_build(tmp_path):
    "A link the site cannot follow (a test file, a path out of the repository) is one error naming page and link."
    (tmp_path/'guide').mkdir()
    with pytest.raises(ValueError, match=r'docs_site/guide/x\.md: the link to \.\./\.\./tests/test_links\.py names '
                                         r'tests/test_links\.py, which the site does not have'):
        SITE['site_links']('see [it](../../tests/test_links.py)', 'docs_site/guide/x.md', tmp_path)
    with pytest.raises(ValueError, match='climbs out of the repository'):
        SITE['site_links']('[up](../../../x.md)', 'docs_site/guide/x.md', tmp_path)
    (tmp_path/'03_hooks.ipynb').write_text('{}')
    text = '[a](../../nbs/03_hooks.ipynb#hooks), [b](running.md), [c](#here), [d](https://nbdev.fast.ai)'
    (tmp_path/'guide/running.md').write_text('')
    assert SITE['site_links'](text, 'docs_site/guide/x.md', tmp_path) == \
        '[a](../03_hooks.ipynb#hooks), [b](running.md), [c](#here), [d](https://nbdev.fast.ai)'
    assert SITE['site_links']('[g](docs_site/guide/running.md#x)', 'README.md', tmp_path) == '[g](guide/running.md#x)'

def test_measurements_show_as_tables(tmp_path):
    """A page's `<!-- measured: ... -->` line becomes the file as a table: a benchmark as `vgg_bench` prints it, the GPU
    train check's verdicts and runs, the suite's test costs slowest first with their totals; a file not there yet is one
    line saying so; a JSON file of a kind the site does not know stops the build, naming it."""
    bench = SITE['measured']('nbs/measured/cpu-1thread-bench.json')
    assert '| floor | 740.6 | 135 |' in bench and 'ours in each round\\: 113, 61, 131, 119 images\\/s' in bench
    (tmp_path/'nbs/measured').mkdir(parents=True)
    costs = [dict(test='tests/test_a.py::test_fast', seconds=0.4, what='a | b'),
             dict(test='tests/test_b.py::test_slow[x]', seconds=80.25, what='the slow one')]
    (tmp_path/'nbs/measured/test_costs.json').write_text(json.dumps(dict(tests=costs, total_seconds=80.65)))
    shown = SITE['measured']('nbs/measured/test_costs.json', tmp_path)
    assert shown.index('test_slow[x]') < shown.index('test_fast') and '| 80.2 |' in shown and 'a \\| b' in shown
    assert '- total\\_seconds: 80\\.65' in shown
    (tmp_path/'nbs/measured/test_costs.json').write_text(json.dumps(costs))            # a bare list: no totals
    assert SITE['measured']('nbs/measured/test_costs.json', tmp_path).count('| `tests/') == 2
    run = dict(status='complete', val_acc=0.128, test_acc=0.125, val_loss=3.9, train_loss=4.0, seconds=12.5)
    check = dict(date='2026-12-08', device='NVIDIA H100 80GB HBM3', versions=dict(torch='2.14.1'), git_commit='abc',
                 passed=True, runs={'VGG_08': run},
                 checks=[dict(check='VGG_08 repeated in a new process', identical=True, differs_in=[],
                              must_be_identical=True)])
    (tmp_path/'nbs/measured/gpu-train-check.json').write_text(json.dumps(check))
    shown = SITE['measured']('nbs/measured/gpu-train-check.json', tmp_path)
    assert 'every check passed' in shown and '| VGG\\_08 repeated in a new process | True | True |  |' in shown
    assert '| VGG\\_08 | complete | 0.1280 | 0.1250 |' in shown
    missing = SITE['measured']('nbs/measured/nothing.json', tmp_path)
    assert missing == '*No measurement yet: `nbs/measured/nothing.json` is not there.*'
    (tmp_path/'nbs/measured/odd.json').write_text('{"a": 1}')
    with pytest.raises(ValueError, match=r'nbs/measured/odd\.json: the site does not know how to show this file'):
        SITE['measured']('nbs/measured/odd.json', tmp_path)

def test_a_timed_make_report_is_recorded_and_shown(tmp_path):
    """scripts/time_report.py's record of a fresh clone's `make report`: the wall time, each row's seconds read from its
    run's metrics and params, the manifest's claims; the site shows it as a line and a table of the claims."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('time_report', ROOT/'scripts/time_report.py')
    tr = importlib.util.module_from_spec(spec); spec.loader.exec_module(tr)
    clone = tmp_path/'clone'
    subprocess.run(['git', 'init', '-q', str(clone)], check=True)
    (clone/'report').mkdir()
    claims = [dict(claim='the baseline learning rate 1e-3 is the best', verdict='held', evidence='a lead of 4.37 points',
                   key='BestLr')]
    (clone/'report/manifest.json').write_text(json.dumps(dict(run_set='quick-synthetic-bf16', claims=claims)))
    for row, secs in (('BN-Baseline', 101.4), ('VGG_08', 23.0)):
        run = clone/'runs/quick-synthetic-bf16'/row.lower()
        run.mkdir(parents=True)
        (run/'metrics.json').write_text(json.dumps(dict(status='complete', wall_seconds=secs)))
        (run/'params.json').write_text(json.dumps(dict(row=row)))
    d = tr.record(clone, 1150.0, '2026-12-07T13:06:15+00:00', '0.1, 1.9, 3.2', 'make report')
    assert (d['minutes'], d['n_rows'], d['run_set']) == (19.2, 2, 'quick-synthetic-bf16')
    assert sorted((r['row'], r['seconds']) for r in d['rows']) == [('BN-Baseline', 101.4), ('VGG_08', 23.0)]
    assert d['claims'] == [{k: claims[0][k] for k in ('claim', 'verdict', 'evidence')}]
    (tmp_path/'nbs/measured').mkdir(parents=True)
    (tmp_path/'nbs/measured/make_report_quick.json').write_text(json.dumps(d))
    shown = SITE['measured']('nbs/measured/make_report_quick.json', tmp_path)
    assert 'took 19\\.2 minutes' in shown and 'each row 23 to 101 s of training' in shown
    assert '| the baseline learning rate 1e\\-3 is the best | held | a lead of 4\\.37 points |' in shown

def test_a_recorded_suite_run_with_a_failure_exits_1(tmp_path, capsys):
    """`scripts/test_costs.py --timeline` makes the record of a run that already happened and exits as that run did: 0 when
    every test passed, 1 when one failed (the record, written either way, counts it). pytest's own seconds come from its log."""
    main = runpy.run_path(str(ROOT/'scripts/test_costs.py'))['main']
    line = lambda test, outcome, start: json.dumps(dict(test=test, when='call', start=start, stop=start + 2, worker='gw0',
                                                        outcome=outcome, slow=False, what='what it proves'))
    (tmp_path/'log').write_text('== 1 failed, 1 passed in 9.50s ==\n')
    for outcome, code in (('passed', 0), ('failed', 1)):
        (tmp_path/'t.jsonl').write_text(line('tests/test_a.py::test_a', 'passed', 100) + '\n' + line('tests/test_b.py::test_b', outcome, 102) + '\n')
        assert main(['--timeline', str(tmp_path/'t.jsonl'), '--pytest_log', str(tmp_path/'log'), '--host', 'here',
                     '--out', str(tmp_path/'rec.json')]) == code
        rec = json.loads((tmp_path/'rec.json').read_text())
        assert (rec['passed'], rec['failed'], rec['pytest_seconds']) == (2 - code, code, 9.5) and rec['host'] == 'here'
