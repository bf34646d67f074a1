"""A burst of N concurrent 59 s clips over 10 machines against a fresh `asd silo` (spectral embedder, port 5593), after
each machine was enrolled from the WAVs in $BURST_DIR/tr; measures, during the burst, a 2 s clip posted to an idle
machine every 0.5 s, /healthz every 0.5 s, and the silo's peak RSS. docs/benchmarks.md, stop 52.
usage: python3 docs/clip-burst.py LABEL N [Asd__Setting=value ...]
  $BURST_DIR (default /tmp/bp) holds n59.wav (59 s, 16 kHz mono), ok16.wav (2 s) and tr/ (14 training WAVs, 10 s)."""
import http.client, json, os, subprocess, sys, threading, time, uuid, collections, shutil
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))); BURST = os.environ.get('BURST_DIR', '/tmp/bp')
label, n = sys.argv[1], int(sys.argv[2]); extra = dict(a.split('=', 1) for a in sys.argv[3:])
PORT = 5593; DEV, OP, LAB = 'devkey1', 'opkey1', 'labkey1'
data = f'{BURST}/data-{label}'; shutil.rmtree(data, ignore_errors=True)
env = dict(os.environ, Asd__ApiKeys__Device__0=DEV, Asd__ApiKeys__Operator__0=OP, Asd__ApiKeys__Labeller__0=LAB, **extra)
silo = subprocess.Popen([f'{ROOT}/asd', 'silo', '--urls', f'http://127.0.0.1:{PORT}', '--data-dir', data, '--embedder', 'spectral',
                         '--silo-port', '11593', '--gateway-port', '30593'], env=env, stdout=open(f'{BURST}/silo-{label}.log', 'w'), stderr=subprocess.STDOUT)
def req(method, path, body=None, headers={}, timeout=300):
    c = http.client.HTTPConnection('127.0.0.1', PORT, timeout=timeout); t = time.time()
    c.request(method, path, body, headers); r = c.getresponse(); b = r.read(); c.close()
    return r.status, r.getheader('Retry-After'), r.getheader('Content-Type'), time.time() - t, b
def dotnet_pid():
    import re  # the process listening on the HTTP port (`asd` may run dotnet as a child)
    out = subprocess.run(['ss', '-ltnpH', f'sport = :{PORT}'], capture_output=True, text=True).stdout
    return int(re.search(r'pid=(\d+)', out).group(1))
for _ in range(300):
    try:
        if req('GET', '/healthz', timeout=2)[0] == 200: break
    except Exception: pass
    time.sleep(0.5)
time.sleep(1); assert silo.poll() is None, open(f"{BURST}/silo-{label}.log").read()
pid = dotnet_pid()
def rss(field='VmRSS'):
    for line in open(f'/proc/{pid}/status'):
        if line.startswith(field): return int(line.split()[1]) / 1024 / 1024
# enroll 10 busy machines and one idle one from 14 training clips
train = [open(os.path.join(f'{BURST}/tr', f), 'rb').read() for f in sorted(os.listdir(f'{BURST}/tr'))]
def multipart(files):
    b = uuid.uuid4().hex; parts = b''.join(f'--{b}\r\nContent-Disposition: form-data; name="{"target" if i >= len(files) - 2 else "source"}"; filename="c{i}.wav"\r\nContent-Type: audio/wav\r\n\r\n'.encode() + f + b'\r\n' for i, f in enumerate(files))
    return parts + f'--{b}--\r\n'.encode(), f'multipart/form-data; boundary={b}'
machines = [f'm{i}' for i in range(1, 11)] + ['idle']
for m in machines:
    req('PUT', f'/api/machines/{m}', json.dumps({'strategy': 'none', 'budget': 0}), {'X-Api-Key': OP, 'Content-Type': 'application/json'})
    body, ct = multipart(train); s = req('POST', f'/api/machines/{m}/enrollment/audio', body, {'X-Api-Key': OP, 'Content-Type': ct})
    assert s[0] == 200, s
rss_before = rss()
big, small = open(f'{BURST}/n59.wav', 'rb').read(), open(f'{BURST}/ok16.wav', 'rb').read()
out, smalls, health, peak = [], [], [], [0.0]; done = threading.Event()
def post(i):
    try: s = req('POST', f'/api/machines/m{1 + i % 10}/clips?clipId=b-{i}', big, {'X-Api-Key': DEV, 'Content-Type': 'audio/wav'})
    except Exception as e: s = ('EXC', None, None, 0, repr(e).encode())
    out.append(s)
def prober():
    k = 0
    while not done.is_set():
        k += 1
        try: smalls.append(req('POST', f'/api/machines/idle/clips?clipId=s-{k}', small, {'X-Api-Key': DEV, 'Content-Type': 'audio/wav'}))
        except Exception as e: smalls.append(('EXC', None, None, 0, b''))
        time.sleep(0.5)
def healthz():
    while not done.is_set():
        try: health.append(req('GET', '/healthz', timeout=30)[3])
        except Exception: health.append(30.0)
        time.sleep(0.5)
def sampler():
    while not done.is_set():
        peak[0] = max(peak[0], rss()); time.sleep(0.2)
ths = [threading.Thread(target=post, args=(i,)) for i in range(n)]
aux = [threading.Thread(target=f) for f in (sampler, healthz)]
for t in aux: t.start()
t0 = time.time()
for t in ths: t.start()
time.sleep(1.0); pr = threading.Thread(target=prober); pr.start()
for t in ths: t.join()
wall = time.time() - t0; done.set(); pr.join()
for t in aux: t.join()
codes = collections.Counter(o[0] for o in out)
ok = sorted(o[3] for o in out if o[0] == 200); ref = sorted(o[3] for o in out if o[0] == 503)
sm = sorted(s[3] for s in smalls); smc = collections.Counter(s[0] for s in smalls)
q = lambda xs, p: round(xs[min(len(xs) - 1, int(p * len(xs)))], 2) if xs else None
bad = [o for o in out if o[0] == 503][:1]
if bad: assert bad[0][1] and bad[0][2].startswith('application/problem+json'), bad
seen = sum(json.loads(req('GET', f'/api/machines/m{i}', headers={'X-Api-Key': LAB})[4])['clipsSeen'] for i in range(1, 11))
print(json.dumps({'label': label, 'settings': extra, 'clips': n, 'wall_s': round(wall, 1), 'codes': dict(codes), 'refused_share': round(codes.get(503, 0) / n, 2),
    'ok_p50_s': q(ok, .5), 'ok_max_s': q(ok, 1), 'refused_max_s': q(ref, 1), 'clipsSeen': seen,
    'small_codes': dict(smc), 'small_p50_s': q(sm, .5), 'small_max_s': q(sm, 1),
    'healthz_p50_s': q(sorted(health), .5), 'healthz_max_s': q(sorted(health), 1),
    'rss_before_gb': round(rss_before, 2), 'rss_peak_gb': round(peak[0], 2)}))
os.kill(pid, 15); silo.terminate(); silo.wait(30)
for _ in range(60):
    if not os.path.exists(f"/proc/{pid}"): break
    time.sleep(0.5)
