"""The bench's results: one CSV line per figure (the median of several runs, its min and max,
every run's value), written by scripts/bench.sh as it measures, then read back for the table,
the targets and the chart. Standard library only.

  results.py hyperfine CSV JSONS UNIT WORK SPEC...  one figure per command of hyperfine
                                                     --export-json files (JSONS: their paths,
                                                     ':'-separated: rounds of the same commands;
                                                     a SPEC per command, in order)
  results.py add CSV SPEC UNIT VALUE...             one figure from values measured by hand
  results.py report CSV MACHINE MARKDOWN            the table, ratios and targets (stdout), and
                                                     the same table in Markdown

SPEC is `row|title|case|who|python case|floor case`: who is ours, floor or python; the two
cases name the figures ours is compared with (empty: the same case).
A UNIT with "/s" is a rate (WORK / seconds, higher is better); "ms" is milliseconds and "us"
microseconds (lower is better). A run that took 0 s (below hyperfine's resolution, once it
has taken its own shell's start-up away) measured nothing: it is kept as "n/a", the figure
is the median of the other runs, "n/a" when none is left, and no ratio is drawn from it.
"""
import csv
import json
import math
import os
import statistics
import sys

FIELDS = ['row', 'title', 'case', 'who', 'unit', 'median', 'min', 'max', 'runs', 'values',
          'python_case', 'floor_case', 'command']

# Per row: the unit the target is about, then the targets: (against, threshold, words), and
# optionally the prefix of the cases they are for (the shm rows' other cases are ours too,
# there to be compared with). A threshold is on the speed ratio (how many times as fast as
# the other ours is), except 'absolute', which is on the figure itself (lower is better).
# Against 'case:X' is ours in the same row, in the case named with X in place of the prefix.
TARGETS = {
    'pipe-items': ('items/s', [('python', 100, 'at least 100x Python Pipe')]),
    'pipe-bulk': ('GiB/s', [('floor', 0.9, 'at least 0.9x the raw floor'),
                            ('python', 1.0, "above Python's send_bytes")]),
    'echo': ('us p50', [('floor', 1 / 1.15, 'p50 within 1.15x of the raw floor')]),
    'queue': ('items/s', [('python', 10, 'at least 10x Python Queue')]),
    'counter': ('decrements/s', [('python', 50, 'at least 50x Python Manager counter')]),
    'semaphore': ('entries/s', [('python', 3, 'at least 3x Python Semaphore')]),
    'startup': ('ms', [('absolute', 5.0, 'under 5 ms')]),
    'shm-bulk': ('GiB/s', [('floor', 0.8, 'at least 0.8x its raw ring'),
                           ('case:local:', 3, 'at least 3x local:'),
                           ('case:stdio', 10, 'at least 10x stdio')], 'shm:'),
    'shm-items': ('items/s', [('case:stdio', 1.0, 'at least stdio')], 'shm:'),
    'shm-echo': ('us p50', [('case:unix:', 10, 'p50 at most 0.1x unix:')], 'shm:'),
    'shm-idle': ('% CPU', [('absolute', 0.11, '0% (at most one 10 ms tick in 10 s)')]),
}


def rate(unit):
    return '/s' in unit


def spec_fields(spec):
    parts = spec.split('|')
    if len(parts) != 6:
        sys.exit(f'results.py: bad SPEC {spec!r}: row|title|case|who|python case|floor case')
    row, title, case, who, py_case, fl_case = parts
    return dict(row=row, title=title, case=case, who=who,
                python_case=py_case or case, floor_case=fl_case or case)


def measured(v):
    """A figure that measured something (not "n/a": NaN, infinite or None)."""
    return v is not None and math.isfinite(v)


def append(path, spec, unit, values, command=''):
    values = [None if v in (None, 'n/a') else float(v) for v in values]
    good = [v for v in values if measured(v)]
    nan = float('nan')
    line = spec_fields(spec)
    line.update(unit=unit, median=statistics.median(good) if good else nan,
                min=min(good, default=nan), max=max(good, default=nan), runs=len(values),
                values=' '.join(f'{v:.6g}' if measured(v) else 'n/a' for v in values),
                command=command)
    new = not os.path.exists(path)
    with open(path, 'a', newline='') as f:
        w = csv.DictWriter(f, FIELDS)
        if new:
            w.writeheader()
        w.writerow(line)


def from_hyperfine(path, jsons, unit, work, specs):
    rounds = []
    for js in jsons.split(':'):
        with open(js) as f:
            rounds.append(json.load(f)['results'])
    for js, results in zip(jsons.split(':'), rounds):
        if len(results) != len(specs):
            sys.exit(f'results.py: {js} has {len(results)} commands, {len(specs)} specs given')
    for i, spec in enumerate(specs):
        r = rounds[0][i]
        times = [t for results in rounds for t in results[i]['times']]
        # 0 s: nothing measured (see the top), not a division by zero.
        if unit == 'ms':
            values = [t * 1e3 if t > 0 else None for t in times]
        elif rate(unit):
            values = [float(work) / t if t > 0 else None for t in times]
        else:
            sys.exit(f'results.py: unit {unit!r} is not a rate or ms')
        append(path, spec, unit, values, r['command'])


def read(path):
    with open(path, newline='') as f:
        lines = list(csv.DictReader(f))
    for line in lines:
        for k in ('median', 'min', 'max'):
            line[k] = float(line[k])
    return lines


def show(v, unit):
    if not measured(v):
        return 'n/a'
    if unit == 'GiB/s':
        return f'{v:.2f}'
    if rate(unit):
        if v >= 1e6:
            return f'{v / 1e6:.2f}M' if v < 1e7 else f'{v / 1e6:.1f}M'
        if v >= 1e3:
            return f'{v / 1e3:.1f}k' if v < 1e5 else f'{v / 1e3:.0f}k'
        return f'{v:.0f}'
    if unit == 'ms':
        return f'{v:.2f}'
    return f'{v:.1f}'


def figure(line):
    if line is None:
        return '-'
    u = line['unit']
    if int(line['runs']) == 1 or not measured(line['median']):
        return show(line['median'], u)
    return f"{show(line['median'], u)} ({show(line['min'], u)}-{show(line['max'], u)})"


def speed(ours, other):
    """How many times as fast as `other` ours is (>1: ours is faster)."""
    if ours is None or other is None:
        return None
    if not all(measured(x['median']) and x['median'] > 0 for x in (ours, other)):
        return None
    if rate(ours['unit']):
        return ours['median'] / other['median']
    return other['median'] / ours['median']


def ratio_text(r, other=None):
    """A ratio as the table shows it: '-' where there is no figure to compare with, 'n/a' where
    there is one (`other`) but a ratio cannot be drawn (a figure of 0 or n/a)."""
    if r is None:
        return '-' if other is None else 'n/a'
    if r < 0.1:
        return f'{r:.2g}x'  # 0.0045x, not 0.00x
    return f'{r:.0f}x' if r >= 100 else f'{r:.1f}x' if r >= 10 else f'{r:.2f}x'


def comparisons(lines):
    """Every figure of ours, with the floor's and Python's it is compared with, and its targets."""
    index = {(l['row'], l['case'], l['who'], l['unit']): l for l in lines}
    out = []
    for l in lines:
        if l['who'] != 'ours':
            continue
        fl = index.get((l['row'], l['floor_case'], 'floor', l['unit']))
        py = index.get((l['row'], l['python_case'], 'python', l['unit']))
        verdicts = []
        vs_other = None
        unit, targets, *prefix = TARGETS.get(l['row'], (None, []))
        prefix = prefix[0] if prefix else ''
        # Redis Streams is shown beside our broker for comparison; the target is the broker's.
        if l['unit'] == unit and 'Redis' not in l['case'] and l['case'].startswith(prefix):
            for against, threshold, words in targets:
                if against == 'absolute':
                    if not measured(l['median']):
                        verdicts.append(f'{words}: not measured')
                        continue
                    met = l['median'] < threshold
                else:
                    if against.startswith('case:'):
                        case = against[5:] + l['case'][len(prefix):]
                        other = index.get((l['row'], case, 'ours', l['unit']))
                    else:
                        other = fl if against == 'floor' else py
                    r = speed(l, other)
                    if against.startswith('case:') and vs_other is None:
                        vs_other = r
                    if r is None:
                        verdicts.append(f'{words}: not measured')
                        continue
                    # "above" is strict (never slower than Python); "at least" is not.
                    met = r > threshold if words.startswith('above') else r >= threshold
                verdicts.append(f"{words}: {'met' if met else 'missed'}")
        out.append(dict(ours=l, floor=fl, python=py, vs_floor=speed(l, fl), vs_python=speed(l, py),
                        vs_other=vs_other, verdicts=verdicts))
    return out


def report(path, machine, markdown):
    lines = read(path)
    rows = comparisons(lines)
    with open(machine) as f:
        print(f.read().rstrip())
    print('Each figure: the median of its runs (min-max). "x floor", "x Python": how many times as')
    print('fast as the raw floor, or as Python, ours is (above 1: faster; for latencies and ms,')
    print('the inverse ratio of the times).')
    title = md_title = None
    md = ['| row | case | ours | raw floor | Python | ours vs floor | ours vs Python | target |',
          '|---|---|---|---|---|---|---|---|']
    width = max([len(c['ours']['case']) for c in rows] + [4])
    for c in rows:
        o = c['ours']
        if o['title'] != title:
            title = o['title']
            print(f'\n== {title}')
            print(f"{'case':<{width}}  {'unit':<13} {'ours':<27} {'raw floor':<27} "
                  f"{'Python':<27} {'x floor':>8} {'x Python':>9}  target")
        verdict = '; '.join(c['verdicts'])
        if c['python'] is not None and c['python']['case'] != o['case']:
            verdict += f"{'  ' if verdict else ''}[Python: {c['python']['case']}]"
        if c['floor'] is not None and c['floor']['case'] != o['case']:
            verdict += f"{'  ' if verdict else ''}[floor: {c['floor']['case']}]"
        print(f"{o['case']:<{width}}  {o['unit']:<13} {figure(o):<27} {figure(c['floor']):<27} "
              f"{figure(c['python']):<27} {ratio_text(c['vs_floor'], c['floor']):>8} "
              f"{ratio_text(c['vs_python'], c['python']):>9}  {verdict}")
        first, md_title = md_title != title, title  # the row's title on its first line only
        md.append(f"| {title if first else ''} | {o['case']} ({o['unit']}) | {figure(o)} | "
                  f"{figure(c['floor'])} | "
                  f"{figure(c['python'])} | {ratio_text(c['vs_floor'], c['floor'])} | "
                  f"{ratio_text(c['vs_python'], c['python'])} | {verdict or '-'} |")
    # Python figures with no figure of ours to compare with (a row whose program is absent).
    alone = [l for l in lines if l['who'] == 'python'
             and not any(c['python'] is l for c in rows)]
    for l in alone:
        print(f"\n(Python only: {l['title']}: {l['case']}: {figure(l)} {l['unit']})")
    verdicts = [v for c in rows for v in c['verdicts']]
    met = sum(v.endswith(': met') for v in verdicts)
    print(f'\ntargets: {met} met, {len(verdicts) - met} missed or not measured')
    with open(markdown, 'w') as f:
        f.write('\n'.join(md) + '\n')


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'hyperfine':
        from_hyperfine(args[0], args[1], args[2], args[3], args[4:])
    elif cmd == 'add':
        append(args[0], args[1], args[2], args[3:])
    elif cmd == 'report':
        report(*args)
    else:
        sys.exit(__doc__)
