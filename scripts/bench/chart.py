"""The bench's chart: for every figure of ours, how many times as fast as the tutorial's Python
and as the raw floor it is, as bars on a log scale around 1x, with each row's target marked.
Drawn by hand as SVG from scripts/bench.sh's results.csv; standard library only.

Usage: chart.py RESULTS.csv MACHINE.txt OUT.svg
"""
import math
import sys
from xml.sax.saxutils import escape

from results import TARGETS, comparisons, ratio_text, read

NAMES = {
    'pipe-items': 'pipe, small items',
    'pipe-bulk': 'pipe, bulk',
    'echo': 'echo round trip, p50',
    'echo-load': 'echo under load',
    'queue': 'queue',
    'counter': 'counter',
    'semaphore': 'semaphore',
    'startup': 'start-up',
    'shm-bulk': 'shm:, bulk',
    'shm-items': 'shm:, small items',
    'shm-echo': 'shm:, echo round trip, p50',
    'shm-idle': 'shm:, idle CPU',
}
PYTHON, FLOOR = '#3572A5', '#b5651d'  # Python's blue; rust
# shm: rows: ours against our own first transport of its targets (local:, stdio, unix:), drawn
# where Python's bar goes (those rows have no Python figure).
OTHER = '#2e8b57'
LABEL_W, PLOT_W, RIGHT = 330, 480, 40
BAR_H, GAP, TOP = 9, 8, 78


def main(csv_path, machine_path, out_path):
    rows = [c for c in comparisons(read(csv_path)) if c['ours']['unit'] != 'us p99']
    machine = [l for l in open(machine_path).read().splitlines() if l]
    ratios = [r for c in rows for r in (c['vs_python'], c['vs_floor'], c['vs_other']) if r]
    lo = min([0.1] + [r / 1.5 for r in ratios])
    hi = max([10.0] + [r * 1.5 for r in ratios])
    lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))

    def x(r):
        return LABEL_W + PLOT_W * (math.log10(r) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    width = LABEL_W + PLOT_W + RIGHT
    row_h = 2 * BAR_H + GAP
    height = TOP + row_h * len(rows) + 60
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           '<text x="10" y="20" font-size="14" font-weight="bold">baozi-ipc: how many times as fast '
           'as the tutorial\'s Python and as the raw floor (one run, log scale)</text>']
    for i, line in enumerate(machine[:2]):
        svg.append(f'<text x="10" y="{36 + 13 * i}" fill="#555">{escape(line)}</text>')
    # Legend.
    ly = TOP - 14
    for j, (colour, words) in enumerate([(PYTHON, 'ours vs Python'), (FLOOR, 'ours vs raw floor'),
                                         (OTHER, 'shm: vs our other'), ('#000', 'target')]):
        lx = LABEL_W - 200 + 130 * j
        if colour == '#000':
            svg.append(f'<line x1="{lx + 5}" y1="{ly - 9}" x2="{lx + 5}" y2="{ly + 1}" stroke="#000" '
                       'stroke-width="2"/>')
        else:
            svg.append(f'<rect x="{lx}" y="{ly - 8}" width="12" height="9" fill="{colour}"/>')
        svg.append(f'<text x="{lx + 16}" y="{ly}">{words}</text>')
    # Row backgrounds, then the grid over them: powers of ten, 1x in bold.
    bottom = TOP + row_h * len(rows)
    for i in range(0, len(rows), 2):
        svg.append(f'<rect x="0" y="{TOP + row_h * i - GAP / 2}" width="{width}" height="{row_h}" '
                   'fill="#f4f4f4"/>')
    p = lo
    while p <= hi * 1.0001:
        gx = x(p)
        bold = abs(p - 1) < 1e-9
        svg.append(f'<line x1="{gx:.1f}" y1="{TOP - 4}" x2="{gx:.1f}" y2="{bottom}" '
                   f'stroke="{"#000" if bold else "#ccc"}" stroke-width="{1.5 if bold else 1}"/>')
        svg.append(f'<text x="{gx:.1f}" y="{bottom + 14}" text-anchor="middle">{p:g}x</text>')
        p *= 10
    svg.append(f'<text x="{LABEL_W + PLOT_W / 2}" y="{bottom + 30}" text-anchor="middle" fill="#555">'
               'right of 1x: ours is faster (rates: ours / theirs; times: theirs / ours)</text>')
    for i, c in enumerate(rows):
        o = c['ours']
        y = TOP + row_h * i
        label = f"{NAMES.get(o['row'], o['row'])}: {o['case']}"
        svg.append(f'<text x="{LABEL_W - 8}" y="{y + BAR_H + 3}" text-anchor="end">{escape(label)}</text>')
        first = (c['vs_other'], OTHER) if c['vs_other'] is not None else (c['vs_python'], PYTHON)
        for j, (r, colour) in enumerate([first, (c['vs_floor'], FLOOR)]):
            by = y + j * BAR_H
            if r is None:
                continue
            x0, x1 = sorted((x(1), x(r)))
            svg.append(f'<rect x="{x0:.1f}" y="{by}" width="{max(x1 - x0, 1):.1f}" height="{BAR_H - 1}" '
                       f'fill="{colour}"/>')
            svg.append(f'<text x="{x1 + 3 if r >= 1 else x0 - 3:.1f}" y="{by + BAR_H - 1}" font-size="9" '
                       f'text-anchor="{"start" if r >= 1 else "end"}">{ratio_text(r)}</text>')
        unit, targets, *prefix = TARGETS.get(o['row'], (None, []))
        if o['unit'] == unit and o['case'].startswith(prefix[0] if prefix else ''):
            shown_other = False
            for against, threshold, _ in targets:
                if against == 'absolute' or (against.startswith('case:') and shown_other):
                    continue
                shown_other = shown_other or against.startswith('case:')
                j = 1 if against == 'floor' else 0
                tx = x(threshold)
                svg.append(f'<line x1="{tx:.1f}" y1="{y + j * BAR_H - 1}" x2="{tx:.1f}" '
                           f'y2="{y + (j + 1) * BAR_H}" stroke="#000" stroke-width="2"/>')
    svg.append('</svg>')
    with open(out_path, 'w') as f:
        f.write('\n'.join(svg) + '\n')


if __name__ == '__main__':
    main(*sys.argv[1:])
