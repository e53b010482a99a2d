"vgg_bench runs on a tiny setting and reports its ratios (a benchmark, not a timed test)."
import json
import pytest
from conftest import run_cli

def test_vgg_bench_tiny(tmp_path):
    out = tmp_path/'bench.json'
    r = run_cli('vgg_bench', '--device', 'cpu', '--model', 'vgg08', '--n_images', '200', '--floor_steps', '2', '--workers', '0',
                '--threads', '1', '--repeat', '2', '--out', out)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    for k in ('overhead_vs_floor', 'speedup_vs_baseline', 'bf16_speedup', 'floor_step_s', 'ours_images_per_s', 'baseline_images_per_s',
              'gradflow_fused_s', 'gradflow_per_weight_s'):
        assert k in res
    assert res['threads'] == 1 and res['overhead_vs_floor'] > 0 and res['speedup_vs_baseline'] > 0
    assert len(res['rounds']['floor_step_s']) == 2 and res['floor_step_s'] == min(res['rounds']['floor_step_s'])   # the best round
    assert res['bf16_speedup'] is None or res['bf16_speedup'] > 0
    assert 'overhead_vs_floor' in r.stdout and 'grad-flow recorder' in r.stdout and '1 threads' in r.stdout.splitlines()[0]

def test_vgg_bench_bad_input(tmp_path):
    r = run_cli('vgg_bench', '--device', 'cpu', '--n_images', '50')
    assert r.returncode == 2 and 'at least two batches' in r.stderr
    for args, msg in ((['--compile', 'fast'], 'use one of off, default, reduce-overhead'), (['--pack', '0'], '--pack must be ≥ 1'), (['--repeat', '0'], '--repeat must be ≥ 1')):
        r = run_cli('vgg_bench', '--device', 'cpu', '--model', 'vgg08', '--n_images', '200', *args)
        assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr

TINY = ['--device', 'cpu', '--model', 'vgg08', '--n_images', '200', '--floor_steps', '2', '--workers', '0', '--threads', '1', '--no_bf16', '--repeat', '1']

@pytest.mark.slow
def test_vgg_bench_compile_and_pack(tmp_path):
    "--compile times the compiled engine; --pack 2 times two processes training at once on the device and projects the packed grid."
    out = tmp_path/'bench.json'
    r = run_cli('vgg_bench', *TINY, '--compile', 'default', '--pack', '2', '--out', out)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res['compile'] == 'default' and res['compiled_images_per_s'] > 0 and res['compile_speedup'] > 0 and 'compile_error' not in res
    assert res['pack'] == 2 and res['packed_images_per_s'] > 0 and res['pack_speedup'] > 0
    assert res['projected_paper_grid_packed_s'] == pytest.approx(res['projected_paper_grid_sequential_s'] / res['pack_speedup'])
    assert '2 packed, total' in r.stdout and 'compile_speedup' in r.stdout and 'pack_speedup' in r.stdout

def test_vgg_bench_failed_compile_is_reported_and_the_rest_stands(tmp_path):
    "No working C++ compiler: the compiled row says why (table and JSON); every other number is still measured and written."
    out = tmp_path/'bench.json'
    r = run_cli('vgg_bench', *TINY, '--compile', 'default', '--out', out,
                env={'CXX': '/bin/false', 'TORCHINDUCTOR_CACHE_DIR': str(tmp_path/'inductor')})
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res['compiled_images_per_s'] is None and res['compile_speedup'] is None and 'compiler' in res['compile_error']
    assert res['overhead_vs_floor'] > 0 and res['speedup_vs_baseline'] > 0 and res['projection_engine'] == 'off'
    assert 'ours compiled  failed: --compile default failed' in r.stdout
