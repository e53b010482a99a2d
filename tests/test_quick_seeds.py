"""Issue 32, items 1 and 3: the quick profile gives every setting a best-setting claim compares BN-Baseline's three seeds
(shared, so a comparison can pair them; the full and smoke profiles run the paper grid as it is), and `--precision auto`
trains the quick profile in bf16 on a CPU with native bf16, in fp32 everywhere else, naming the run set for it. All in
this process: no run is trained."""
import re
from pathlib import Path
import pytest
import vgg_report.config as config
from vgg_report.config import select_rows, find_row, build_config, resolve_precision, run_set_name, PROFILES
from vgg_report.core import UserError
from vgg_report.runset import plan, load_run_set, toy_run
from vgg_report.study import PAPER_GRID, EXTENDED_GRID, SEEDED_ROWS, ROWS, seed_families
from vgg_report.tables import group_settings, group_table, paper_vs_ours
from vgg_report.verdicts import _Results, claims
from vgg_report.prose import precision_statement, numbers_tex

COMPARED = ['BN-x1/10', 'BN-x5', 'BN-x10', 'BN-x45', 'BN-x1/2', 'BN-x2']

def test_rows_per_profile():
    "Quick: the paper grid, then each compared setting at seeds 10 and 20 (23 rows); full and smoke: the paper grid, unchanged."
    for p in ('full', 'smoke'):
        assert select_rows('paper', profile=p) == PAPER_GRID and select_rows('all', profile=p) == PAPER_GRID + EXTENDED_GRID
    quick = select_rows('paper', profile='quick')
    assert quick[:11] == PAPER_GRID and len(quick) == 23
    assert [r.name for r in quick[11:]] == [f'{n}-seed={s}' for n in COMPARED for s in (10, 20)]
    assert select_rows('all', profile='quick') == [*PAPER_GRID, *SEEDED_ROWS, *EXTENDED_GRID]
    assert select_rows('extended', profile='quick') == EXTENDED_GRID          # no compared setting there
    assert [r.name for r in select_rows('paper', ['BN-x10-seed=20'], 'quick')] == ['BN-x10-seed=20']
    with pytest.raises(UserError, match='not in the paper grid'): select_rows('paper', ['BN-x10-seed=20'], 'smoke')

def test_seeded_rows_are_known_unique_and_keep_the_old_rows_hashes():
    "`find_row` knows every row of every profile; each has its own folder; the paper grid's configurations are unchanged."
    every = [r for g in ('paper', 'all') for p in PROFILES for r in select_rows(g, profile=p)]
    assert all(find_row(r.name) == r for r in every)
    assert len({r.slug for r in ROWS.values()}) == len(ROWS) == len(PAPER_GRID + EXTENDED_GRID) + 12
    r = find_row('BN-x1/2-seed=10')
    assert (r.model, r.lr, r.batch_size, r.seed, r.family, r.groups, r.slug) == \
        ('vgg38_bn', 1e-3, 50, 10, 'BN-x1/2', ('batch',), 'bn-x1_2-seed-10')
    assert build_config(row='BN-Baseline', profile='quick', dataset='synthetic', device='cpu',
                        precision='fp32')[0].hash == 'c44c21706d68'                   # as tests/test_engine.py has it
    own = build_config(row='BN-x5-seed=10', profile='quick', dataset='synthetic', device='cpu', precision='fp32')[0]
    base = build_config(row='BN-x5', profile='quick', dataset='synthetic', device='cpu', precision='fp32')[0]
    assert (own.seed, own.lr) == (10, base.lr) and own.hash != base.hash

def test_plan_runs_the_quick_rows_in_one_run_set(tmp_path):
    "The sweep's plan at quick: 23 jobs in one run set, the seeded ones in folders beside the others."
    jobs = plan('paper', profile='quick', dataset='synthetic', runs_dir=tmp_path, device='cpu', precision='fp32')
    assert len(jobs) == 23 and {j.folder.parent for j in jobs} == {tmp_path/'quick-synthetic'}
    assert jobs[-1].folder == tmp_path/'quick-synthetic'/'bn-x2-seed-20' and jobs[-1].cfg.seed == 20
    assert len(plan('paper', profile='smoke', dataset='synthetic', runs_dir=tmp_path, precision='auto')) == 11

def _quick_toys() -> dict:
    "A finished toy run of every row of the quick paper grid, `{name: RunRecord}`."
    return {r.name: toy_run(r) for r in select_rows('paper', profile='quick')}

def test_compared_settings_share_baseline_seeds_in_tables_and_verdicts():
    """The group tables put each compared setting's three seeds on its one line (mean ± std), and the verdicts read every
    compared setting at the same seeds as BN-Baseline, so a comparison can pair them."""
    recs = _quick_toys()
    for group, names in (('lr', ['BN-x1/10', 'BN-Baseline', 'BN-x5', 'BN-x10', 'BN-x45']),
                         ('batch', ['BN-x1/2', 'BN-Baseline', 'BN-x2'])):
        settings = group_settings(recs, group)
        assert list(settings) == names
        assert all(sorted(r.row.seed for r in rs) == [0, 10, 20] for rs in settings.values()), group
        assert all(len({r.row.family for r in rs}) == 1 for rs in settings.values())
        assert all('±' in v for v in group_table(recs, group, 'acc')['test acc'] if v != 'diverged')
    v = _Results(recs)
    assert set(v.runs('BN-Baseline')) == {0, 10, 20}
    assert all(set(v.runs(n)) == {0, 10, 20} for n in COMPARED)
    assert 'BN-x5' not in seed_families([r.row for r in recs.values()])      # not a line of the extended table
    rows = {c['key']: c for c in claims(recs)}
    assert rows and all(c['verdict'] != 'missing' for c in rows.values())

def test_load_run_set_reads_the_seeded_rows_at_quick_and_ignores_them_elsewhere(tmp_path):
    "An empty quick run set lists its 23 rows as missing; a smoke one its 11."
    quick = load_run_set('quick', 'synthetic', tmp_path, precision='fp32', device='cpu')
    assert len(quick) == 23 and {r.status for r in quick.values()} == {'missing'}
    assert len(load_run_set('smoke', 'synthetic', tmp_path, device='cpu')) == 11

@pytest.mark.parametrize('feature', ['avx512_bf16', None])
def test_precision_auto(monkeypatch, capsys, feature):
    """`auto` is bf16 at the quick profile on a CPU with native bf16 (both answers of the capability check), fp32 at full,
    smoke and custom (silently: no machine decides it), on GPUs and on CPUs without; at quick said in one line on
    stderr; a precision named is kept."""
    monkeypatch.setattr(config, 'native_bf16', lambda: feature)
    want = 'bf16' if feature else 'fp32'
    assert resolve_precision('auto', 'quick', 'cpu') == want
    line = capsys.readouterr().err
    assert line.count('\n') == 1 and line.startswith(f'precision auto: {want} ('), line
    assert (feature or 'without native bf16') in line
    assert [resolve_precision('auto', p, 'cpu') for p in ('full', 'smoke', 'custom')] == ['fp32'] * 3   # said nowhere
    assert resolve_precision('auto', 'quick', 'cuda', quiet=True) == 'fp32'
    assert resolve_precision('fp32', 'quick', 'cpu') == 'fp32' and resolve_precision('bf16', 'full', 'cpu') == 'bf16'
    assert capsys.readouterr().err == ''
    with pytest.raises(UserError, match=r"^--precision 'fp16' is not a precision; use one of auto, fp32, bf16$"):
        resolve_precision('fp16', 'quick', 'cpu')

@pytest.mark.parametrize('feature', ['amx_bf16', None])
def test_precision_auto_names_the_run_set(monkeypatch, tmp_path, feature):
    "The run set's name comes after the resolution: quick-synthetic-bf16 with native bf16, quick-synthetic without."
    monkeypatch.setattr(config, 'native_bf16', lambda: feature)
    jobs = plan('paper', ['BN-Baseline'], 'quick', 'synthetic', tmp_path, device='cpu', precision='auto', quiet=True)
    name = 'quick-synthetic-bf16' if feature else 'quick-synthetic'
    assert jobs[0].folder.parent.name == name == run_set_name('quick', 'synthetic', jobs[0].cfg.precision)
    assert jobs[0].cfg.precision == ('bf16' if feature else 'fp32')
    cfg, _ = build_config(row='BN-Baseline', profile='smoke', dataset='synthetic', device='cpu', precision='auto', quiet=True)
    assert cfg.precision == 'fp32'

def test_the_precision_statement():
    "The report says which precision the runs used and why: the macro, from the runs' recorded precision."
    recs = _quick_toys()
    for r in recs.values(): r.params['precision'] = 'bf16'
    tex = numbers_tex(recs, 'quick', 'synthetic', 'quick-synthetic-bf16', claims(recs), paper_vs_ours(recs, 'quick', 'synthetic'))
    said = re.search(r'\\newcommand\{\\PrecisionStatement\}\{(.*)\}\n', tex).group(1)
    assert said.startswith('The runs trained in bf16 autocast') and 'native bf16' in said and 'precision auto' in said
    assert precision_statement('quick', 'fp32').startswith("The runs trained in fp32, the study's precision: the default")
    assert '\\PrecisionStatement{}' in (Path(__file__).parents[1]/'report'/'report.tex').read_text()
