#!/usr/bin/env python3
"""Two soak.py stream processes side by side (one per silo): clips/s, latency, failures and sizes per window, with the
events of events.log (lines '<HH:MM:SS.mmm> <epoch> <text>') marked. Usage: soak-cluster-analyse.py A.jsonl B.jsonl [events.log]"""
import json, sys
A = [json.loads(l) for l in open(sys.argv[1])]; B = [json.loads(l) for l in open(sys.argv[2])]
events = []
if len(sys.argv) > 3:
    for l in open(sys.argv[3]):
        p = l.split(' ', 2)
        try: events.append((float(p[1]), p[2].strip()[:70]))
        except (IndexError, ValueError): pass
t0 = min(A[0]['t'], B[0]['t']) - 10
def delta(rows, i, k):
    return rows[i]['counts'].get(k, 0) - (rows[i - 1]['counts'].get(k, 0) if i else 0)
def fails(rows, i):
    keys = set(rows[i]['counts']) | (set(rows[i - 1]['counts']) if i else set())
    return {k: delta(rows, i, k) for k in sorted(keys) if (k.startswith('clip_') or k.startswith('label_') and k != 'label_200'
            or k == 'busy' or k.endswith(('_0', '_503', '_500', '_502'))) and not k.endswith('_bytes') and delta(rows, i, k)}
print('t(s)  clips/s A  B  total | clip p50/p99 A | B | label p50/p99 A | B | RSS A B | redis MB | AOF MB | failures')
ev = list(events)
for i in range(min(len(A), len(B))):
    a, b = A[i], B[i]
    while ev and ev[0][0] <= max(a['t'], b['t']):
        print(f"      --- {ev[0][0] - t0:6.1f} s: {ev[0][1]}"); ev.pop(0)
    dta = a['t'] - (A[i - 1]['t'] if i else a['t'] - 10); dtb = b['t'] - (B[i - 1]['t'] if i else b['t'] - 10)
    ca, cb = delta(A, i, 'clips') / dta, delta(B, i, 'clips') / dtb
    la, lb = a['lat'].get('clip', {}), b['lat'].get('clip', {}); ya, yb = a['lat'].get('label', {}), b['lat'].get('label', {})
    r = a.get('redis') or {}
    f = {**{f'A:{k}': v for k, v in fails(A, i).items()}, **{f'B:{k}': v for k, v in fails(B, i).items()}}
    print(f"{a['t'] - t0:5.0f} {ca:6.1f} {cb:6.1f} {ca + cb:6.1f} | {la.get('p50')}/{la.get('p99')} | {lb.get('p50')}/{lb.get('p99')} | "
          f"{ya.get('p50')}/{ya.get('p99')} | {yb.get('p50')}/{yb.get('p99')} | {a.get('rss_mb')} {b.get('rss_mb')} | "
          f"{r.get('used_memory', 0) / 2**20:.1f} | {r.get('aof_current_size', 0) / 2**20:.1f} | {f or ''}")
for e in ev: print(f"      --- {e[0] - t0:6.1f} s: {e[1]}")
print('totals A', A[-1]['counts']); print('totals B', B[-1]['counts'])
