"vgg_bench runs on a tiny setting and reports its ratios (a benchmark, not a timed test)."
import json, math, subprocess, sys
import pytest
from conftest import run_cli, call_cli, one_error_line

def check_consistent(res):
    "Every ratio and projection in vgg_bench's JSON is the one its own measurements give, and each best is the best of its rounds."
    rounds = res['rounds']
    assert len(rounds['floor_step_s']) == res['repeat'] and all(len(v) == res['repeat'] for v in rounds.values())
    assert res['floor_step_s'] == min(rounds['floor_step_s']) and res['ours_images_per_s'] == max(rounds['ours_images_per_s'])
    assert res['baseline_images_per_s'] == max(rounds['baseline_images_per_s'])
    assert res['ours_step_s'] == pytest.approx(res['batch_size'] / res['ours_images_per_s'])
    assert res['overhead_vs_floor'] == pytest.approx(res['ours_step_s'] / res['floor_step_s'])
    assert res['speedup_vs_baseline'] == pytest.approx(res['ours_images_per_s'] / res['baseline_images_per_s'])
    if res['bf16_images_per_s'] is not None: assert res['bf16_speedup'] == pytest.approx(res['bf16_images_per_s'] / res['ours_images_per_s'])
    else: assert res['bf16_speedup'] is None
    fastest = res['ours_images_per_s'] if res['projection_engine'] == 'off' else res['compiled_images_per_s']
    epoch_s = 47500 / fastest + 2500 / res['eval_ours_images_per_s']
    assert res['projected_full_run_s'] == pytest.approx(100 * epoch_s) and res['projected_paper_grid_sequential_s'] == pytest.approx(1100 * epoch_s)
    # the recorders' costs are differences of two timings (a noisy host can make them slightly negative): present and finite
    assert res['gradflow_step_s'] > 0 and all(math.isfinite(res[k]) for k in ('gradflow_fused_s', 'gradflow_public_s', 'gradflow_per_weight_s'))

@pytest.mark.slow
def test_vgg_bench_tiny_and_a_compile_that_fails(tmp_path):
    """`vgg_bench` end to end at its smallest (VGG_08, 200 images, two rounds, bf16 too), asked for a compiled engine on a machine
    without a working C++ compiler (CXX=/bin/false, a fresh compile cache): exit 0, the compiled row says why (table and JSON),
    and every other number is still measured and written, in a record whose numbers agree with each other and with the table."""
    out = tmp_path/'bench.json'
    r = run_cli('vgg_bench', '--device', 'cpu', '--model', 'vgg08', '--n_images', '200', '--floor_steps', '2', '--workers', '0',
                '--threads', '1', '--repeat', '2', '--compile', 'default', '--out', out,
                env={'CXX': '/bin/false', 'TORCHINDUCTOR_CACHE_DIR': str(tmp_path/'inductor')})
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res['threads'] == 1 and res['repeat'] == 2 and res['model'] == 'vgg08' and res['n_images'] == 200
    assert res['compiled_images_per_s'] is None and res['compile_speedup'] is None and 'compiler' in res['compile_error']
    assert res['projection_engine'] == 'off' and res['bf16_images_per_s'] is not None
    check_consistent(res)
    ratios = next(l for l in r.stdout.splitlines() if l.strip().startswith('ratios:'))     # the table says what the file says
    assert f"overhead_vs_floor {res['overhead_vs_floor']:.3f}" in ratios and f"speedup_vs_baseline {res['speedup_vs_baseline']:.2f}" in ratios
    assert 'grad-flow recorder' in r.stdout and '1 threads' in r.stdout.splitlines()[0]
    assert 'ours compiled  failed: --compile default failed' in r.stdout

def test_vgg_bench_bad_input(tmp_path):
    r = run_cli('vgg_bench', '--device', 'cpu', '--n_images', '50')           # a real process: one line, exit 2
    assert r.returncode == 2 and 'at least two batches' in one_error_line(r)
    for args, msg in ((['--compile', 'fast'], 'use one of off, default, reduce-overhead'), (['--pack', '0'], '--pack must be ≥ 1'),
                      (['--repeat', '0'], '--repeat must be ≥ 1'), (['--threads', '0'], '--threads must be ≥ 1'),
                      (['--out', '/proc/no/bench.json'], 'cannot write there')):
        r = call_cli('vgg_bench', '--device', 'cpu', '--model', 'vgg08', '--n_images', '200', *args)
        assert r.returncode == 2 and msg in one_error_line(r), r.stderr

TINY = ['--device', 'cpu', '--model', 'vgg08', '--n_images', '200', '--floor_steps', '2', '--workers', '0', '--threads', '1', '--no_bf16', '--repeat', '1']

@pytest.mark.slow
def test_vgg_bench_compile_and_pack(tmp_path):
    "--compile times the compiled engine; --pack 2 times two processes training at once on the device and projects the packed grid."
    out = tmp_path/'bench.json'
    r = run_cli('vgg_bench', *TINY, '--compile', 'default', '--pack', '2', '--out', out)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res['compile'] == 'default' and 'compile_error' not in res
    assert res['compile_speedup'] == pytest.approx(res['compiled_images_per_s'] / res['ours_images_per_s'])
    check_consistent(res)
    fastest = res['ours_images_per_s'] if res['projection_engine'] == 'off' else res['compiled_images_per_s']
    assert res['pack'] == 2 and res['pack_speedup'] == pytest.approx(res['packed_images_per_s'] / fastest)
    assert res['projected_paper_grid_packed_s'] == pytest.approx(res['projected_paper_grid_sequential_s'] / res['pack_speedup'])
    assert '2 packed, total' in r.stdout and 'compile_speedup' in r.stdout and 'pack_speedup' in r.stdout

def test_bench_runs_as_a_module_and_leaves_argparse_alone():
    "`python -m vgg_report.bench` (what `make gpu-check` runs) parses its options; importing the package patches nothing in argparse."
    r = subprocess.run([sys.executable, '-m', 'vgg_report.bench', '--bogus'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == ['error: unrecognized arguments: --bogus (see vgg_bench --help)'], r.stderr
    import argparse, vgg_report.core, vgg_report.sweep
    assert argparse.ArgumentParser.error.__module__ == 'argparse'
