"vgg_bench runs on a tiny setting and reports its ratios (a benchmark, not a timed test)."
import json
from conftest import run_cli

def test_vgg_bench_tiny(tmp_path):
    out = tmp_path/'bench.json'
    r = run_cli('vgg_bench', '--device', 'cpu', '--model', 'vgg08', '--n_images', '200', '--floor_steps', '2', '--workers', '0',
                '--threads', '1', '--out', out)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    for k in ('overhead_vs_floor', 'speedup_vs_baseline', 'bf16_speedup', 'floor_step_s', 'ours_images_per_s', 'baseline_images_per_s'):
        assert k in res
    assert res['threads'] == 1 and res['overhead_vs_floor'] > 0 and res['speedup_vs_baseline'] > 0
    assert res['bf16_speedup'] is None or res['bf16_speedup'] > 0
    assert 'overhead_vs_floor' in r.stdout and '1 threads' in r.stdout.splitlines()[0]

def test_vgg_bench_bad_input(tmp_path):
    r = run_cli('vgg_bench', '--device', 'cpu', '--n_images', '50')
    assert r.returncode == 2 and 'at least two batches' in r.stderr
