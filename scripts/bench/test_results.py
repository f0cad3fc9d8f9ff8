"""Checks of results.py and chart.py on made-up hyperfine output, standard library only:
`python3 scripts/bench/test_results.py` (scripts/bench.sh runs it before it measures).

A run of 0 s (hyperfine's resolution, once its shell's start-up is taken away: it happens
to the floor's fastest commands) is "n/a", never a division by zero.
"""
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart  # noqa: E402
import results  # noqa: E402


def hyperfine_json(path, *times):
    """A hyperfine --export-json file: one command per list of run times (seconds)."""
    with open(path, 'w') as f:
        json.dump({'results': [{'command': f'cmd{i}', 'times': list(t)}
                               for i, t in enumerate(times)]}, f)


class ZeroSeconds(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        self.csv, self.machine = os.path.join(d, 'results.csv'), os.path.join(d, 'machine.txt')
        with open(self.machine, 'w') as f:
            f.write('machine: test\nwhen: now\n')

    def tearDown(self):
        self.dir.cleanup()

    def measure(self, name, unit, work, *times_and_specs):
        js = os.path.join(self.dir.name, f'{name}.json')
        times, specs = times_and_specs[::2], times_and_specs[1::2]
        hyperfine_json(js, *times)
        results.from_hyperfine(self.csv, js, unit, work, list(specs))

    def report(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            results.report(self.csv, self.machine, os.path.join(self.dir.name, 'table.md'))
        return out.getvalue()

    def test_a_floor_of_0_s_is_n_a_not_a_division_by_zero(self):
        t = 'pipe, small items'
        self.measure('items', 'items/s', 1000,
                     [0.5, 0.25], f'pipe-items|{t}|stdio|ours||',
                     [0.0, 0.0], f'pipe-items|{t}|stdio|floor||',
                     [1.0, 1.0], f'pipe-items|{t}|stdio|python||')
        self.measure('startup', 'ms', 0,
                     [0.002, 0.002], 'startup|start-up|one|ours||',
                     [0.0, 0.0], 'startup|start-up|one|floor||')
        text = self.report()
        stdio = next(l for l in text.splitlines() if l.startswith('stdio '))
        self.assertIn('n/a', stdio)  # the floor's figure and the ratio to it
        self.assertIn('3.0k (2.0k-4.0k)', stdio)  # ours, from both runs
        self.assertIn('3.00x', stdio)  # against Python: still drawn
        one = next(l for l in text.splitlines() if l.startswith('one '))
        # ours 2.00 (2.00-2.00), floor n/a, no Python (-), x floor n/a
        self.assertEqual(one.split()[2:7], ['2.00', '(2.00-2.00)', 'n/a', '-', 'n/a'], one)
        self.assertIn('targets: 1 met, 1 missed or not measured', text)
        chart.main(self.csv, self.machine, os.path.join(self.dir.name, 'bench.svg'))

    def test_a_small_ratio_keeps_two_digits_and_names_its_floor(self):
        q = 'queue: items'
        self.measure('queue', 'items/s', 1000,
                     [0.25], f'queue|{q}|1 x 1, through Redis Streams|ours|1 x 1|redis-benchmark',
                     [0.001], f'queue|{q}|redis-benchmark|floor||')
        text = self.report()
        self.assertIn('0.004x', text)  # not 0.00x
        self.assertIn('[floor: redis-benchmark]', text)

    def test_a_run_of_0_s_among_others_leaves_the_median_of_the_rest(self):
        self.measure('bulk', 'GiB/s', 2, [1.0, 0.0, 4.0], 'pipe-bulk|bulk|stdio|ours||')
        line = results.read(self.csv)[0]
        self.assertEqual((line['median'], line['min'], line['max']), (1.25, 0.5, 2.0))
        self.assertEqual(line['values'], '2 n/a 0.5')


if __name__ == '__main__':
    unittest.main()
