#!/usr/bin/env python3
"""Soak driver for an asd silo: enroll N machines from a small synthetic plant, then stream clips at a high rate with
oracle labelling (a share of requests left unanswered), probing list endpoints and sampling the silo's resources."""
import argparse, glob, http.client, json, os, random, re, subprocess, sys, threading, time, uuid

ap = argparse.ArgumentParser()
ap.add_argument('phase', choices=['enroll', 'stream', 'sample-once', 'verify'])
ap.add_argument('--port', type=int, default=5090)
ap.add_argument('--plant', default='/tmp/soak/plant/dev_data/raw')
ap.add_argument('--machines', type=int, default=1500)
ap.add_argument('--first', type=int, default=0, help='stream only machines first..first+machines-1')
ap.add_argument('--hot', type=int, default=10, help='machines that get --hot-share of the clips')
ap.add_argument('--hot-share', type=float, default=0.3)
ap.add_argument('--workers', type=int, default=6)
ap.add_argument('--minutes', type=float, default=35)
ap.add_argument('--answer', type=float, default=0.9, help='share of label requests the oracle answers')
ap.add_argument('--pid', type=int)
ap.add_argument('--data-dir', default='/tmp/soak/data')
ap.add_argument('--log', default='/tmp/soak/silo.log')
ap.add_argument('--out', default='/tmp/soak/samples.jsonl')
ap.add_argument('--sample-every', type=float, default=60)
ap.add_argument('--pidfile', help='read the silo pid from this file at each sample (follows a restarted silo; overrides --pid)')
ap.add_argument('--tag', default='', help='prefix of the clip ids (two stream processes on the same machines need different ones)')
ap.add_argument('--acks', help='stream: append each label answer (machine, clip, label, status) here as JSON lines; '
                'verify: comma-separated such files, checked against each machine\'s normalLabels + anomalousLabels')
ap.add_argument('--redis-port', type=int, help='also sample this redis-server (used_memory, AOF size, keys)')
args = ap.parse_args()
DEV, LAB, OP = os.environ['SOAK_DEV'], os.environ['SOAK_LAB'], os.environ['SOAK_OP']

types = sorted(os.listdir(args.plant))
plant = {}  # (type, mid) -> {'train': [(path, target)], 'test': [path]}
for t in types:
    for split in ('train', 'test'):
        for f in sorted(glob.glob(f'{args.plant}/{t}/{split}/*.wav')):
            mid = re.search(r'section_(\d+)', os.path.basename(f)).group(1)
            e = plant.setdefault((t, mid), {'train': [], 'test': []})
            if split == 'train': e['train'].append((f, '_target_' in os.path.basename(f)))
            else: e['test'].append(f)
keys = sorted(plant)
cache = {}
def wav(p):
    b = cache.get(p)
    if b is None: b = cache[p] = open(p, 'rb').read()
    return b

def mid(i): return f'soak.line-{i // 100:02d}.{keys[i % len(keys)][0]}-{i:04d}'
def src(i): return plant[keys[i % len(keys)]]

class Conn:
    def __init__(s): s.c = None
    def req(s, method, path, body=None, headers=None):
        for attempt in range(3):
            try:
                if s.c is None: s.c = http.client.HTTPConnection('127.0.0.1', args.port, timeout=120)
                t0 = time.perf_counter()
                s.c.request(method, path, body=body, headers=headers or {})
                r = s.c.getresponse(); data = r.read()
                return r.status, data, time.perf_counter() - t0, dict(r.getheaders())
            except (ConnectionError, http.client.HTTPException, OSError):
                s.c = None; time.sleep(1)
        return 0, b'', 0, {}

def multipart(files):
    b = uuid.uuid4().hex; parts = []
    for path, target in files:
        parts.append((f'--{b}\r\nContent-Disposition: form-data; name="{"target" if target else "source"}"; '
                      f'filename="{os.path.basename(path)}"\r\nContent-Type: audio/wav\r\n\r\n').encode() + wav(path) + b'\r\n')
    return b''.join(parts) + f'--{b}--\r\n'.encode(), f'multipart/form-data; boundary={b}'

def enroll():
    todo = list(range(args.machines)); lock = threading.Lock(); done = [0]; t0 = time.time()
    def work():
        c = Conn()
        while True:
            with lock:
                if not todo: return
                i = todo.pop(0)
            body, ct = multipart(src(i)['train'])
            while True:
                st, data, dt, h = c.req('POST', f'/api/machines/{mid(i)}/enrollment/audio', body, {'X-Api-Key': OP, 'Content-Type': ct})
                if st == 503: time.sleep(1); continue
                if st != 200: print('enroll', mid(i), st, data[:300], flush=True)
                break
            with lock:
                done[0] += 1
                if done[0] % 100 == 0: print(f'enrolled {done[0]} in {time.time() - t0:.0f} s', flush=True)
    ts = [threading.Thread(target=work) for _ in range(args.workers)]
    for t in ts: t.start()
    for t in ts: t.join()
    print(f'enrolled {args.machines} in {time.time() - t0:.0f} s', flush=True)

lat = {}  # name -> list of seconds (this window)
latlock = threading.Lock()
counts = {}
def note(name, dt, n=1):
    with latlock:
        lat.setdefault(name, []).append(dt)
def count(name, n=1):
    with latlock: counts[name] = counts.get(name, 0) + n

def pct(xs, p):
    if not xs: return None
    xs = sorted(xs); return round(1000 * xs[min(len(xs) - 1, int(p * len(xs)))], 1)

def du(path):
    try: return int(subprocess.run(['du', '-sb', path], capture_output=True, text=True).stdout.split()[0])
    except Exception: return 0

def files(path):
    n = 0
    for _, _, fs in os.walk(path): n += len(fs)
    return n

def redis_info(port):
    r = {}
    try:
        out = subprocess.run(['redis-cli', '-p', str(port), 'INFO'], capture_output=True, text=True, timeout=10).stdout
        kv = dict(l.split(':', 1) for l in out.splitlines() if ':' in l and not l.startswith('#'))
        for k in ('used_memory', 'used_memory_rss', 'used_memory_peak', 'aof_current_size', 'aof_base_size', 'aof_rewrites',
                  'instantaneous_ops_per_sec', 'connected_clients'):
            if k in kv: r[k] = int(kv[k])
        r['keys'] = int(re.search(r'keys=(\d+)', kv.get('db0', 'keys=0')).group(1))
    except Exception as e:
        r['error'] = str(e)
    return r

def sample(c, pid):
    s = {'t': time.time()}
    if args.pidfile:
        try: pid = int(open(args.pidfile).read().split()[0])
        except Exception as e: s['pidfile_error'] = str(e)
    s['pid'] = pid
    if args.redis_port: s['redis'] = redis_info(args.redis_port)
    try:
        st = open(f'/proc/{pid}/status').read()
        s['rss_mb'] = int(re.search(r'VmRSS:\s+(\d+)', st).group(1)) // 1024
        s['threads'] = int(re.search(r'Threads:\s+(\d+)', st).group(1))
        s['fds'] = len(os.listdir(f'/proc/{pid}/fd'))
        cpu = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
        s['cpu_s'] = (int(cpu[11]) + int(cpu[12])) / os.sysconf('SC_CLK_TCK')
        io = dict(l.split(': ') for l in open(f'/proc/{pid}/io').read().splitlines())
        s['write_bytes'] = int(io['write_bytes']); s['read_bytes'] = int(io['read_bytes'])
        s['dirs_clips'] = len(os.listdir(f'{args.data_dir}/clips')) if os.path.isdir(f'{args.data_dir}/clips') else 0
    except Exception as e:
        s['proc_error'] = str(e)
    d = args.data_dir
    for f in ('grains.db', 'grains.db-wal', 'grains.db-shm', 'reminders.db', 'reminders.db-wal'):
        try: s[f] = os.path.getsize(f'{d}/{f}')
        except OSError: s[f] = None
    for sub in sorted(os.listdir(d)):
        p = f'{d}/{sub}'
        if os.path.isdir(p): s[f'dir:{sub}'] = du(p); s[f'files:{sub}'] = files(p)
    s['data_total'] = du(d); s['files_total'] = files(d)
    try: s['log_bytes'] = os.path.getsize(args.log)
    except OSError: pass
    st, data, dt, h = c.req('GET', '/metrics')
    text = data.decode(errors='replace')
    series = [l for l in text.splitlines() if l and not l.startswith('#')]
    s['metrics_series'] = len(series); s['metrics_bytes'] = len(data); s['metrics_ms'] = round(dt * 1000, 1)
    for l in series:
        m = re.match(r'(dotnet_gc_heap_size_bytes|dotnet_gc_last_collection_heap_size_bytes|process_working_set_bytes|dotnet_process_memory_working_set_bytes|dotnet_gc_committed_memory_size_bytes)(\{[^}]*\})?\s+([0-9.eE+]+)', l)
        if m: s.setdefault('gc', {})[m.group(1) + (m.group(2) or '')] = float(m.group(3))
    s['gc_heap_mb'] = round(sum(v for k, v in s.get('gc', {}).items() if k.startswith('dotnet_gc_last_collection_heap_size_bytes')) / 2**20, 1)
    return s

def stream():
    acks = open(args.acks, 'a') if args.acks else None
    deadline = time.time() + args.minutes * 60
    pid = args.pid
    seq = [0]; seqlock = threading.Lock()
    pending = []  # unanswered requests to leave
    def pick():
        if random.random() < args.hot_share: return args.first + random.randrange(args.hot)
        return args.first + random.randrange(args.machines)
    def worker(w):
        c = Conn(); rnd = random.Random(w)
        while time.time() < deadline:
            i = pick(); path = rnd.choice(src(i)['test'])
            with seqlock: seq[0] += 1; n = seq[0]
            clip = f'{args.tag}w{w}-{n}'
            st, data, dt, h = c.req('POST', f'/api/machines/{mid(i)}/clips?clipId={clip}', wav(path), {'X-Api-Key': DEV, 'Content-Type': 'audio/wav'})
            if st == 503: count('busy'); time.sleep(float(h.get('Retry-After', '1')) * rnd.random()); continue
            if st != 200: count(f'clip_{st}'); print('clip', mid(i), st, data[:200], flush=True); continue
            note('clip', dt); count('clips')
            v = json.loads(data)
            if v['anomalous']: count('alerts')
            if v['labelRequested']:
                count('requests')
                if rnd.random() < args.answer:
                    label = 'anomaly' if '_anomaly_' in os.path.basename(path) else 'normal'
                    st, data, dt, h = c.req('POST', f'/api/machines/{mid(i)}/clips/{clip}/label', json.dumps({'label': label}),
                                            {'X-Api-Key': LAB, 'Content-Type': 'application/json'})
                    note('label', dt); count(f'label_{st}')
                    if acks:
                        try: already = st == 200 and json.loads(data).get('alreadyApplied', False)
                        except ValueError: already = None
                        with latlock:
                            acks.write(json.dumps({'t': round(time.time(), 3), 'm': mid(i), 'clip': clip, 'label': label, 'st': st,
                                                   'already': already}) + '\n'); acks.flush()
    def prober():
        c = Conn(); rnd = random.Random(99)
        while time.time() < deadline:
            for name, path in (('machines_page', '/api/machines?limit=1000'), ('alerts', '/api/alerts?limit=100'),
                               ('label_list', '/api/label-requests?limit=500'),
                               ('hot_scores', f'/api/machines/{mid(rnd.randrange(args.hot))}/scores'),
                               ('machine', f'/api/machines/{mid(rnd.randrange(args.machines))}')):
                st, data, dt, h = c.req('GET', path, headers={'X-Api-Key': LAB})
                if st == 200: note(name, dt); count(f'{name}_bytes', len(data))
                else: count(f'{name}_{st}')
            time.sleep(5)
    ts = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(args.workers)] + [threading.Thread(target=prober, daemon=True)]
    for t in ts: t.start()
    c = Conn(); out = open(args.out, 'a'); start = time.time()
    while time.time() < deadline + 1:
        time.sleep(max(0, min(args.sample_every, deadline + 1 - time.time())))
        s = sample(c, pid)
        with latlock:
            s['lat'] = {k: {'n': len(v), 'p50': pct(v, .5), 'p99': pct(v, .99)} for k, v in lat.items()}
            s['counts'] = dict(counts); lat.clear()
        s['minute'] = round((s['t'] - start) / 60, 1)
        out.write(json.dumps(s) + '\n'); out.flush()
        print(json.dumps({k: s.get(k) for k in ('minute', 'rss_mb', 'gc_heap_mb', 'threads', 'fds', 'grains.db', 'grains.db-wal', 'data_total', 'files_total', 'metrics_series')}),
              {k: (v['n'], v['p50'], v['p99']) for k, v in s['lat'].items()}, s['counts'].get('clips'), s.get('redis'), flush=True)

def verify():
    """Every label a silo acknowledged (200, not already applied) must be held: normalLabels + anomalousLabels of the
    machine at least the acknowledged count (an answer whose reply was lost, status 0, may be held too: counted apart)."""
    acked, unknown = {}, {}
    for f in args.acks.split(','):
        for l in open(f):
            a = json.loads(l)
            if a['st'] == 200 and not a['already']: acked.setdefault(a['m'], set()).add(a['clip'])
            elif a['st'] == 0 or a['st'] >= 500: unknown.setdefault(a['m'], set()).add(a['clip'])
    c = Conn(); lost = []; held_total = 0; extra = 0; n = 0
    for m in sorted(set(acked) | set(unknown)):
        st, data, dt, h = c.req('GET', f'/api/machines/{m}', headers={'X-Api-Key': OP})
        if st != 200: print('verify', m, st, data[:200], flush=True); lost.append((m, len(acked.get(m, ())), None)); continue
        v = json.loads(data); held = v['normalLabels'] + v['anomalousLabels']; want = len(acked.get(m, ()))
        n += 1; held_total += held
        if held < want: lost.append((m, want, held))
        elif held > want: extra += held - want
    print(json.dumps({'machines': n, 'acknowledged': sum(len(v) for v in acked.values()),
                      'unknown_outcome': sum(len(v) for v in unknown.values()), 'held': held_total,
                      'held_beyond_acknowledged': extra, 'machines_short': len(lost),
                      'short': [{'m': m, 'acknowledged': w, 'held': h} for m, w, h in lost[:50]]}, indent=1), flush=True)

if args.phase == 'enroll': enroll()
elif args.phase == 'stream': stream()
elif args.phase == 'verify': verify()
else: print(json.dumps(sample(Conn(), args.pid), indent=1))
