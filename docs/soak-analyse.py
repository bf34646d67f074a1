#!/usr/bin/env python3
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] if len(sys.argv) > 1 else '/tmp/soak/samples.jsonl')]
keys = ['rss_mb', 'gc_heap_mb', 'threads', 'fds', 'grains.db', 'grains.db-wal', 'reminders.db', 'reminders.db-wal', 'dir:clips', 'dir:alert-clips', 'dir:normal-clips',
        'files:clips', 'files:alert-clips', 'files:normal-clips', 'files_total', 'data_total', 'metrics_series', 'metrics_bytes', 'log_bytes', 'write_bytes', 'cpu_s']
print('minute clips ' + ' '.join(keys))
for r in rows:
    print(r['minute'], r['counts'].get('clips'), ' '.join(str(r.get(k)) for k in keys))
print()
print('latency p50/p99 ms per minute')
names = ['clip', 'label', 'machines_page', 'alerts', 'label_list', 'hot_scores', 'machine']
print('minute ' + ' '.join(names))
for r in rows:
    print(r['minute'], ' '.join(f"{r['lat'].get(n, {}).get('p50')}/{r['lat'].get(n, {}).get('p99')}" for n in names))
print()
def slope(k, frm):
    xs = [(r['counts'].get('clips', 0), r.get(k)) for r in rows if r['minute'] >= frm and r.get(k) is not None]
    if len(xs) < 2: return None
    n = len(xs); mx = sum(x for x, _ in xs) / n; my = sum(y for _, y in xs) / n
    sxx = sum((x - mx) ** 2 for x, _ in xs)
    return sum((x - mx) * (y - my) for x, y in xs) / sxx if sxx else None
last = rows[-1]
half = last['minute'] / 2
print(f"growth per 1,000 clips (first half / second half of the soak), final value; clips total {last['counts'].get('clips')}")
for k in keys:
    a, b = slope(k, 0), slope(k, half)
    print(f"{k:22s} all {a and a * 1000:14.1f}  2nd half {b and b * 1000:14.1f}  final {last.get(k)}")
print('counts', last['counts'])
