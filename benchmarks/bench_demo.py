"""Time `genriflow demo` as a user runs it: the installed command, as a subprocess, in a fresh temporary folder.

    python benchmarks/bench_demo.py            # the default demo (the README's first command)
    python benchmarks/bench_demo.py --full     # the larger run behind `genriflow demo --full`
    python benchmarks/bench_demo.py --baseline # also time `--full` in the same run and print the ratio

Prints the machine (CPUs, load average before and after: other work on the machine slows the demo), the time of
each of the demo's steps (read from its own `[  t s] k/4 ...` lines), and last `demo_s=<wall seconds>`.
"""
import argparse, os, re, shutil, subprocess, sys, tempfile, time

STEP = re.compile(r'^\[\s*([0-9.]+) s\] (\S+) (.*)$')
BUDGET_S = 180.0  # the demo's promise on 2 cores

def _load() -> str:
    try: return ' '.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError: return 'unknown'

def run_demo(extra:list) -> tuple[float, list, str]:
    "(wall seconds, [(step, seconds since launch when its line arrived, what)], stdout) of one demo run."
    exe = shutil.which('genriflow') or sys.exit('bench_demo: no `genriflow` command on PATH (pip install the project)')
    lines, steps = [], []
    with tempfile.TemporaryDirectory(prefix='bench-demo-') as tmp:
        t0 = time.perf_counter()
        with subprocess.Popen([exe, 'demo', '--out', 'demo', '--no-progress', *extra],  # demo/ in the temporary folder
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp,
                              env=dict(os.environ, MPLBACKEND='Agg')) as proc:
            for line in proc.stdout:  # the demo flushes each step line: its arrival time is the step's start
                lines.append(line.rstrip('\n'))
                if (m := STEP.match(lines[-1])): steps.append((m[2], time.perf_counter() - t0, m[3]))
        wall = time.perf_counter() - t0
    out = '\n'.join(lines)
    if proc.returncode != 0: sys.exit(f'bench_demo: genriflow demo exited {proc.returncode}\n{out}')
    return wall, steps, out

def report(wall:float, steps:list, stdout:str):
    "Each step's duration (to the next step line), then the accuracy lines the demo printed."
    print(f'  {"start":<6} {steps[0][1] if steps else wall:7.1f} s  python start and imports, until the first step line')
    for (name, start, what), end in zip(steps, [s for _, s, _ in steps[1:]] + [wall]):
        print(f'  {name:<6} {end - start:7.1f} s  {what[:90]}')
    for line in stdout.splitlines():
        if 'accuracy' in line or line.startswith(('training:', 'the pretrained tagger')): print('  |', line[:150])

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--full', action='store_true', help='time `genriflow demo --full`')
    p.add_argument('--baseline', action='store_true', help='also time `--full` and print default / full')
    a = p.parse_args()
    print(f'machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), load average before: {_load()}')
    wall, steps, out = run_demo(['--full'] if a.full else [])
    print(f'genriflow demo{" --full" if a.full else ""}:'); report(wall, steps, out)
    print(f'load average after: {_load()}')
    if a.baseline and not a.full:
        full_wall, full_steps, full_out = run_demo(['--full'])
        print('genriflow demo --full (baseline):'); report(full_wall, full_steps, full_out)
        print(f'full_s={full_wall:.1f} ratio demo/full={wall / full_wall:.2f}')
    print(f'budget: {wall / BUDGET_S:.2f} of {BUDGET_S:g} s')
    print(f'demo_s={wall:.1f}')
