"Issue: the report (figures, tables, verdicts, PDF) from a smoke run set, its guards, and reproducibility."
import hashlib, json, math, os, re, shutil, subprocess
from pathlib import Path
import pytest
from conftest import ROOT, run_cli, run_make, call_cli, one_error_line, shared
from vgg_report.study import GRIDS, PAPER_GRID, COMPARED
from vgg_report.runset import load_run_set
from vgg_report.tables import fmt_acc, fmt_loss
from vgg_report.figures import FIGURES
from vgg_report.report import write_report_files
from vgg_report.rundir import read_json, write_json

pytestmark = pytest.mark.slow
SMOKE = ['--profile', 'smoke', '--dataset', 'synthetic']

# Reading the PDF itself (PyMuPDF): matplotlib writes its text in DejaVu Sans, LaTeX in Latin Modern, so a span set in DejaVu is a
# word inside a figure, at the size it is printed; typewriter spans (LMMono) are hashes and commands, not numbers.
FIGURE_FONT, TYPEWRITER = 'DejaVu', 'LMMono'
_NUMBER = re.compile(r'(?<![\w.])\d[\d,]*(?:\.\d+)?(?!\w|\.\d)')

def pdf_spans(pdf) -> list:
    "Every non-blank text span of `pdf` as `(page index, span)`, a span with its text, font and printed size in points."
    import pymupdf
    with pymupdf.open(pdf) as doc:
        return [(i, s) for i, page in enumerate(doc) for b in page.get_text('dict')['blocks'] for line in b.get('lines', ())
                for s in line['spans'] if s['text'].strip()]

def figure_words(pdf) -> list:
    "The words inside the PDF's figures, each `(page index, text, printed size in points)`."
    return [(i, s['text'], s['size']) for i, s in pdf_spans(pdf) if FIGURE_FONT in s['font']]

def unreadable_numbers(text: str) -> list:
    "The numbers of `text` printed at a precision no reader compares: more than 5 significant digits, or a raw float."
    bad = []
    for m in _NUMBER.finditer(text):
        tok = m.group().replace(',', '')
        whole, _, dec = tok.partition('.')
        digits = (whole + dec).lstrip('0') if dec else whole.strip('0')
        if len(digits) > 5 or (len(dec) > 2 and len(digits) > 2): bad.append(m.group())
    return bad

def main_text(pdf) -> str:
    "The PDF's text in reading order up to the references (the appendix's hashes are not numbers), typewriter left out."
    text = ' '.join(s['text'] for _, s in pdf_spans(pdf) if TYPEWRITER not in s['font'])
    return text.split('References')[0]

def pdf_blocks(pdf) -> list:
    "The PDF's blocks of text (a paragraph, a caption, a table's cell), each with its lines joined (at a hyphen, by it)."
    import pymupdf
    with pymupdf.open(pdf) as doc:
        return [re.sub(r'-\n', '-', b[4]).replace('\n', ' ') for page in doc for b in page.get_text('blocks')]

def pdf_captions(pdf) -> list:
    "Every figure's and table's caption, as text."
    return [b for b in pdf_blocks(pdf) if re.match(r'(Figure|Table) \d+:', b)]

def named_rows(text: str, names) -> list:
    "The row names of `names` that `text` names, as whole names (`RC` is not named by `BN+RC`)."
    return [n for n in names if re.search(rf'(?<![\w+\-=/]){re.escape(n)}(?![\w+\-=/])', text)]

def print_problems(pdf, log: str, present, dataset='synthetic', profile='smoke') -> dict:
    "What a reader of the printed PDF would trip over, by kind; every list empty when the PDF reads well."
    words = figure_words(pdf)
    assert len(words) > 100, words                                  # the figures' text is there to be read
    text = ' '.join(s['text'] for _, s in pdf_spans(pdf))
    broken = text.replace('- ', '').count('distinguishable') - text.count('distinguishable')     # at a line's end
    ran = {'synthetic' if dataset == 'synthetic' else 'CIFAR-100', profile}
    abstract = ' '.join(main_text(pdf).split('Abstract', 1)[1].split('Introduction', 1)[0].split())
    absent = [r.name for r in GRIDS['all'] if r.name not in present]
    return {'under 6 pt': [(i, w, round(s, 1)) for i, w, s in words if s < 6],
            'accuracy without its unit': [w for _, w, _ in words if 'accuracy' in w and '%' not in w],
            'numbers': unreadable_numbers(main_text(pdf)),
            'overfull lines': re.findall(r'Overfull \\hbox.*', log),
            'abstract without the data and profile': [] if ran <= set(re.findall(r'[\w-]+', abstract)) else [abstract],
            'captions naming absent rows': [(c[:60], named_rows(c, absent)) for c in pdf_captions(pdf) if named_rows(c, absent)],
            'hyphenated verdicts': ['distinguishable'] * broken}

def _tree(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in ('figures', 'report') if (root/d).exists() for p in sorted((root/d).rglob('*')) if p.is_file()}

def _generated(tree) -> list:
    "The files of a build that come from the runs: figures, tables and numbers.tex."
    return [k for k in tree if k.startswith('figures/') or k.startswith('report/tables/') or k == 'report/numbers.tex']

def _checkout_outputs():
    return {p: (ROOT/p).read_bytes() for d in ('figures', 'report') for p in map(str, (ROOT/d).rglob('*')) if Path(p).is_file()}

@pytest.fixture(scope='session')
def built(paper, tmp_path_factory):
    """The report of the paper fixture's run set, built once, by the README's command for a smoke report: `make report
    PROFILE=smoke`, on a copy of the runs without their checkpoints (a finished run's status and report need none) and into a
    folder of its own: its sweep finds the 11 rows finished and trains nothing (test_make.py reads what it printed). Returns the
    copy of the runs, the output folder, make's output and the PDF's text."""
    def build(out):
        runs = out.parent/'report-runs'
        shutil.copytree(paper[0]/'smoke-synthetic', runs/'smoke-synthetic', ignore=shutil.ignore_patterns('*.pt'))
        before = {str(p): p.stat().st_mtime_ns for d in ('figures', 'report') for p in (ROOT/d).rglob('*')}
        r = run_make('report', 'PROFILE=smoke', 'DATASET=synthetic', f'RUNS_DIR={runs}', f'REPORT_OUT={out}')
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        after = {str(p): p.stat().st_mtime_ns for d in ('figures', 'report') for p in (ROOT/d).rglob('*')}
        assert before == after, 'the report wrote into the checkout'
        text = subprocess.run(['pdftotext', str(out/'report/report.pdf'), '-'], capture_output=True, text=True, check=True).stdout
        return dict(runs=str(runs), stdout=r.stdout, text=text)
    out, res = shared(tmp_path_factory, 'report', build)
    return Path(res['runs']), out, res['stdout'], res['text']

def test_pdf_has_every_row_and_number(built):
    """The smoke report's PDF names every row of the paper grid with its accuracies and loss as the tables format them, and
    lists no extended row that was not swept."""
    runs, out, stdout, text = built
    assert f"PDF: {out/'report/report.pdf'}" in stdout
    for row in PAPER_GRID:
        assert row.name in text, row.name
    # the extended rows were not swept: no table, figure or appendix lists them as missing, row by row
    for t in ('tab_extended', 'tab_provenance', 'tab_remedies', 'tab_paper_vs_ours'):
        names = [l.split(' & ')[0] for l in (out/'report/tables'/f'{t}.tex').read_text().splitlines() if ' & ' in l]
        assert not {'RC', 'BN+RC', 'BN+RC-x10', 'Dense', 'BN+Dense', 'VGG_08-seed=10', 'RC-seed=10'} & set(names), (t, names)
    for row in PAPER_GRID:
        m = read_json(runs/'smoke-synthetic'/row.slug/'metrics.json')
        for k, f in (('val_acc', fmt_acc), ('test_acc', fmt_acc), ('train_loss', fmt_loss)):
            assert f(m[k]) in text, (row.name, k, f(m[k]))

def test_the_pdf_reads_in_print(built):
    """The smoke report's PDF itself, as printed: every word in a figure at 6 pt or more, every accuracy axis in %, no number at a
    precision nobody compares (581035381227.52), no overfull line, an abstract that names the data and profile that ran,
    captions that name only rows the run set holds, and no verdict broken across lines ("distin-guish-able")."""
    runs, out, _, _ = built
    present = {r.row.name for r in load_run_set('smoke', 'synthetic', runs).values()}
    problems = print_problems(out/'report/report.pdf', (out/'report/report.log').read_text(errors='replace'), present)
    assert not any(problems.values()), {k: v[:8] for k, v in problems.items() if v}

def test_the_manifest_is_the_pdfs_twin(built):
    """report/manifest.json holds the PDF's caveat, each figure and table under the number LaTeX gave it with the caption the PDF
    prints, in the PDF's order, and the claims; every caption links to its notebook's page on the docs site."""
    import pymupdf
    from vgg_report.prose import doc_url
    _, out, _, text = built
    m = json.loads((out/'report/manifest.json').read_text())
    flat = ' '.join(text.split())
    assert m['run_set'] == 'smoke-synthetic' and ' '.join(m['caveat'].split()[:12]) in flat, m['caveat']
    same = lambda s: ' '.join(s.split()).replace('-', '').replace('’', "'")      # a line broken at a hyphen, curly quotes
    printed = {c.split(':')[0]: same(c) for c in pdf_captions(out/'report/report.pdf')}
    for kind, items in (('Figure', m['figures']), ('Table', m['tables'])):
        assert [f['number'] for f in items] == list(range(1, len(items) + 1)), items      # the PDF's order
        for f in items:                                    # the caption's words up to its first symbol set in math
            words = ' '.join(re.split(r'\|grad\||log10|±|−', f['caption'])[0].split())
            assert printed[f"{kind} {f['number']}"].startswith(same(f"{kind} {f['number']}: {words}")), (f, printed)
    assert len(m['figures']) == len(FIGURES) and [c['verdict'] for c in m['claims']][:2] == ['held', 'held'], m['claims']
    with pymupdf.open(out/'report/report.pdf') as doc:
        links = {lk.get('uri') for page in doc for lk in page.get_links()}
    assert {doc_url(f['notebook']) for f in m['figures'] + m['tables']} <= links, links

def test_first_page_states_profile_and_synthetic_data(built):
    """The PDF's first page says where its numbers come from: smoke profile, synthetic data, not comparable with the paper."""
    _, _, _, text = built
    first = ' '.join(text.split('\f')[0].split())
    assert 'Where these numbers come from' in first and 'smoke' in first and 'synthetic' in first and 'comparable' in first
    assert 'A smoke run set only shows that every step of the study runs: its numbers mean nothing.' in first

def test_figures_embedded_and_both_formats(built):
    """Every figure is written as PNG and PDF, and LaTeX included each PDF figure in the report."""
    _, out, _, _ = built
    log = (out/'report/report.log').read_text(errors='replace')
    for name in FIGURES:
        assert (out/'figures'/f'{name}.png').stat().st_size > 1000
        assert f'{name}.pdf' in log, f'{name} not included in the PDF'

def test_paper_vs_reproduction_and_claims(built):
    """On synthetic data the seed report's numbers are shown beside ours for context, never compared; the five claims are in the
    PDF, each with its verdict, test and threshold; the vanishing gradient holds even on a smoke run."""
    _, out, _, text = built
    flat = ' '.join(text.split())
    from vgg_report.study import PAPER, COMPARED
    n = sum(k in PAPER[r.name] for r in PAPER_GRID if r.name in PAPER for k in COMPARED)
    assert (f'\\newcommand{{\\PaperComparison}}{{on synthetic data none of its {n} numbers is compared: the table shows them '
            f"beside this run set's for context}}") in (out/'report/numbers.tex').read_text()
    assert 'none of its' in flat and 'for context only: they are not compared, because this run set used synthetic data' in flat
    blocks = [' '.join(b.split()) for b in pdf_blocks(out/'report/report.pdf')]     # the claims table's cells among them
    for claim in ('plain VGG_38 does not learn', "early-layer gradients vanish", 'batch normalization makes VGG_38 train',
                  'learning rate 1e-3 is the best', 'batch size 100 is the best'):
        assert any(claim in b for b in blocks), claim
    tab = (out/'report/tables/tab_paper_vs_ours.tex').read_text()
    rows = [l.split(' & ') for l in tab.splitlines() if ' & ' in l][2:]             # past the two header lines
    shown = sum(n in {r.name for r in PAPER_GRID} for n in PAPER)               # a line per row of the seed report's
    assert tab.startswith('% Generated by') and 'not comparable' not in tab and len(rows) == shown, tab
    assert all(len(r) == 1 + 2 * len(COMPARED) for r in rows), tab                 # the seed report's number beside ours
    claims = (out/'report/tables/tab_claims.tex').read_text()
    verdicts = re.findall(r'& (held|did not hold|not distinguishable|missing) & ', claims)
    assert len(verdicts) == 5 and claims.count('one-sided t-test at level 5\\%, Bonferroni over the settings') == 2, claims
    for line in (l for l in claims.splitlines() if 'is the best' in l):     # a judged best-setting claim states its threshold
        assert '& missing &' in line or re.search(r': here \d+\.\d\d points', line), line
        assert '& not distinguishable &' not in line or re.search(r'four times out of five: \d+\.\d\d points over ', line)
    numbers = (out/'report/numbers.tex').read_text()
    assert '\\newcommand{\\ClaimGradientsVanishVerdict}{held}' in numbers     # even a smoke run shows the vanishing gradient

@pytest.fixture(scope='session')
def rebuilt(built, tmp_path_factory):
    """A second vgg_build_report on the paper run set, into a copy of the first build (`built`), once per test session. Run as
    root, as CI and these machines are, it reads the runs through a read-only bind mount, and vgg_status reads both the mount
    and the runs themselves: one build serves the rebuild test here and test_identity.py's read-only test."""
    runs, out, _, _ = built
    def build(again):
        shutil.copytree(out, again)                          # a copy of the first build, which other tests go on reading,
        for k in _generated(_tree(again)): (again/k).write_bytes(b'')    # emptied: a file the rebuild did not write would show
        read_only = os.geteuid() == 0
        ro = again.parent/'runs-read-only'
        if read_only:
            ro.mkdir()
            subprocess.run(['mount', '--bind', str(runs), str(ro)], check=True)
        try:
            if read_only:
                subprocess.run(['mount', '-o', 'remount,bind,ro', str(ro)], check=True)
                assert subprocess.run(['touch', str(ro/'x')], capture_output=True).returncode != 0     # it really is read-only
            status = {k: call_cli('vgg_status', *SMOKE, '--runs_dir', d, '--json') for k, d in (('ro', ro), ('rw', runs))} if read_only else {}
            r = run_cli('vgg_build_report', *SMOKE, '--runs_dir', ro if read_only else runs, '--out', again)
        finally:
            if read_only: subprocess.run(['umount', str(ro)], check=True)
        return dict(read_only=read_only, returncode=r.returncode, output=r.stdout[-2000:] + r.stderr[-2000:],
                    status={k: dict(returncode=v.returncode, stdout=v.stdout, stderr=v.stderr[-2000:]) for k, v in status.items()})
    again, res = shared(tmp_path_factory, 'rebuilt', build)
    return again, res

def test_rebuild_with_unchanged_runs_reproduces_the_files(built, rebuilt):
    """A second vgg_build_report on the same runs, into a copy of the first build whose figures and tables were emptied (`rebuilt`:
    through a read-only mount of the runs, as root), writes them again byte-identical, and numbers.tex too."""
    _, out, _, _ = built
    again, res = rebuilt
    assert res['returncode'] == 0, res['output']
    first, second = _tree(out), _tree(again)
    generated = _generated(first)
    assert len(generated) > 20 and {k: first[k] for k in generated} == {k: second[k] for k in generated}

def test_missing_rows_are_shown_missing(paper, tmp_path):
    "A run set with three finished rows: every table is written, the other rows say `missing` (what the report notebook writes)."
    runs, _ = paper
    base = tmp_path/'runs'/'smoke-synthetic'
    for slug in ('vgg_08', 'vgg_38', 'bn-baseline'): shutil.copytree(runs/'smoke-synthetic'/slug, base/slug)
    write_report_files(load_run_set('smoke', 'synthetic', tmp_path/'runs'), 'smoke', 'synthetic', tmp_path/'out')
    lr = (tmp_path/'out/report/tables/tab_1_lr_loss.tex').read_text()
    assert 'missing' in next(l for l in lr.splitlines() if l.startswith('BN-x5 ')) and 'missing' not in next(l for l in lr.splitlines() if l.startswith('BN-Baseline '))

def test_guards(paper, tmp_path):
    "A run set that mixes profiles, or holds a run of another configuration, or none finished: one line, exit 2, nothing written."
    runs, _ = paper
    base = tmp_path/'runs'/'smoke-synthetic'
    for slug in ('vgg_08', 'vgg_38', 'bn-baseline'): shutil.copytree(runs/'smoke-synthetic'/slug, base/slug)
    # a run of another profile inside the set
    p = read_json(base/'vgg_38/params.json'); p['profile'] = 'quick'; write_json(base/'vgg_38/params.json', p)
    r = call_cli('vgg_build_report', *SMOKE, '--runs_dir', tmp_path/'runs', '--out', tmp_path/'out2')
    assert r.returncode == 2 and 'never mixes' in one_error_line(r) and not (tmp_path/'out2').exists()
    p['profile'] = 'smoke'; write_json(base/'vgg_38/params.json', p)
    # a run whose configuration no longer matches the grid
    m = read_json(base/'vgg_08/metrics.json'); m['config_hash'] = 'abcdefabcdef'; write_json(base/'vgg_08/metrics.json', m)
    r = call_cli('vgg_build_report', *SMOKE, '--runs_dir', tmp_path/'runs', '--out', tmp_path/'out3')
    assert r.returncode == 2 and 'no longer matches the grid' in one_error_line(r) and not (tmp_path/'out3').exists()
    # no finished run, from a real process
    r = run_cli('vgg_build_report', '--profile', 'quick', '--dataset', 'synthetic', '--runs_dir', tmp_path/'runs', '--out', tmp_path/'out4')
    assert r.returncode == 2 and 'no finished run' in one_error_line(r) and not (tmp_path/'out4').exists()

def test_remedies_table_figure_and_sentence_in_the_pdf(built):
    "The paper grid's run set holds plain VGG_38 (seed 0) and BN (three seeds), no other remedy: the table has those two, the sentence names the others."
    _, out, _, text = built
    tab = (out/'report/tables/tab_remedies.tex').read_text()
    rows = {l.split(' & ')[0]: l for l in tab.splitlines() if l.count(' & ') == 6}
    assert list(rows)[1:] == ['plain', 'BN'], tab          # the remedies not swept are named once, in the sentence
    assert ' 1/1 ' in rows['plain'] and ' 3/3 ' in rows['BN'] and '338,500' in rows['BN']
    numbers = (out/'report/numbers.tex').read_text()
    assert ('\\newcommand{\\RemediesVerdict}{could not be judged: it needs plain VGG\\_38 and at least two remedies with a '
            'finished run, and this run set has plain VGG\\_38 and BN}') in numbers
    flat = ' '.join(' '.join(b.split()) for b in pdf_blocks(out/'report/report.pdf'))       # paragraph by paragraph
    assert 'this run set has plain VGG_38 and BN.' in flat and 'It lacks seeds 10 and 20 of VGG_08 and VGG_38; RC, BN+RC' in flat

def test_remedies_sentence_when_they_ran(paper):
    "With plain VGG_38 and three remedies finished (two stood in by other finished runs), the sentence reports the test for the best remedy."
    from dataclasses import replace
    from vgg_report.verdicts import remedies_verdict, remedies_table, first_layer_grads
    from vgg_report.study import ROWS
    runs, _ = paper
    recs = load_run_set('smoke', 'synthetic', runs)
    recs['RC'], recs['Dense'] = replace(recs['VGG_08'], row=ROWS['RC']), replace(recs['BN-x5'], row=ROWS['Dense'])
    from vgg_report.compare import compare_settings, METRIC, CHANCE, DIVERGED
    result = lambda n: DIVERGED if recs[n].metrics['status'] == 'diverged' else recs[n].metrics[METRIC]
    score = lambda n: CHANCE if result(n) == DIVERGED else result(n)           # a diverged run scores chance
    val = lambda *names: sum(score(n) for n in names) / len(names)
    acc = {'BN': val('BN-Baseline', 'BN-seed=10', 'BN-seed=20'), 'RC': val('VGG_08'), 'Dense': val('BN-x5')}
    best = max(acc, key=acc.get)
    s = remedies_verdict(recs)
    runs = {'BN': [result(n) for n in ('BN-Baseline', 'BN-seed=10', 'BN-seed=20')], 'RC': [result('VGG_08')],
            'Dense': [result('BN-x5')]}
    n_eval = recs['BN-Baseline'].params['sizes']['test']
    c = compare_settings(runs[best], {o: v for o, v in runs.items() if o != best}, n_eval)   # the test the sentence reports
    if c.verdict == 'held': assert s.startswith(f"{best} is the best remedy: {best} reaches {100 * acc[best]:.2f}% (mean of "), s
    else: assert s.startswith(f"no remedy is told apart as the best: {best} is not ahead of "), s
    assert f"threshold of {100 * c.thresholds[max(c.others, key=c.mean)]:.2f} points" in s, (s, c)
    assert 'BN+RC' not in s and 'BN+Dense' not in s, s            # what the run set lacks is said once, in the setup
    grad = lambda *names: sum(first_layer_grads(recs, n) for n in names) / len(names)
    lift = {k: math.log10(v / grad('VGG_38')) for k, v in
            {'BN': grad('BN-Baseline', 'BN-seed=10', 'BN-seed=20'), 'RC': grad('VGG_08'), 'Dense': grad('BN-x5')}.items()}
    lo, hi = min(lift, key=lift.get), max(lift, key=lift.get)
    assert lift[lo] > 0 and f"raises the first layer's epoch-1 gradient above plain VGG_38's, by {lift[lo]:.1f} ({lo}) to {lift[hi]:.1f} ({hi}) orders" in s, (s, lift)
    t = remedies_table(recs).set_index('remedy')
    assert t.loc['RC', 'seeds'] == '1/1' and t.loc['BN', 'seeds'] == '3/3' and t.loc['plain', 'model'] == 'vgg38'

def test_grid_file_rows_join_the_table_and_family_they_name(paper, tmp_path):
    """A grid file's `group` column puts a row into that table group's tables, in order of the varied parameter, and into the
    claims that read the group; its `family` column joins rows of other names into one line of the extended table, mean ± std."""
    runs, _ = paper
    base = tmp_path/'runs'/'smoke-synthetic'
    shutil.copytree(runs/'smoke-synthetic', base)
    for src, dst in (('bn-x1_10', 'mine-lr'), ('bn-baseline', 'mine-a'), ('bn-seed-10', 'mine-b')): shutil.copytree(base/src, base/dst)
    (tmp_path/'mine.csv').write_text('name,model,lr,seed,family,group\nMine-lr,vgg38_bn,1e-4,0,,lr\n'
                                    'Mine-a,vgg38_bn,1e-3,0,Mine,\nMine-b,vgg38_bn,1e-3,10,Mine,\n')
    recs = load_run_set('smoke', 'synthetic', tmp_path/'runs', grid=str(tmp_path/'mine.csv'))
    write_report_files(recs, 'smoke', 'synthetic', tmp_path/'out')
    tables = tmp_path/'out/report/tables'
    lr = [l.split(' & ')[0] for l in (tables/'tab_2_lr_acc.tex').read_text().splitlines() if ' & ' in l][1:]
    assert lr == ['BN-x1/10', 'Mine-lr', 'BN-Baseline', 'BN-x5', 'BN-x10', 'BN-x45'], lr
    m = read_json(base/'bn-x1_10/metrics.json')
    assert f"Mine-lr & 0.0001 & 1/1 & {fmt_acc(m['train_acc'])} & {fmt_acc(m['val_acc'])}" in (tables/'tab_2_lr_acc.tex').read_text()
    ext = {l.split(' & ')[0]: l for l in (tables/'tab_extended.tex').read_text().splitlines() if ' & ' in l}
    vals = [100 * read_json(base/s/'metrics.json')['val_acc'] for s in ('bn-baseline', 'bn-seed-10')]
    assert 'Mine-a' not in ext and ' 2/2 ' in ext['Mine'], ext
    mean, std = sum(vals) / 2, abs(vals[0] - vals[1]) / 2 ** 0.5
    assert f'{mean:.2f}\\,±\\,{std:.2f}' in ext['Mine'], (ext['Mine'], vals)
    from vgg_report.verdicts import claims
    from vgg_report.compare import METRIC, CHANCE
    score = lambda n: CHANCE if recs[n].metrics['status'] == 'diverged' else recs[n].metrics[METRIC]
    lr_claim = next(c for c in claims(recs) if c['key'] == 'BestLr')
    other = max(['BN-x1/10', 'Mine-lr', 'BN-x5', 'BN-x10', 'BN-x45'], key=score)   # the grid-file row competes
    assert f"the best other, {other} (lr {recs[other].row.lr:g}), {fmt_acc(score(other))}%" in lr_claim['evidence'], (lr_claim, other)
