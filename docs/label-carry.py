"""What keeping labels through an encoder upgrade is worth, on the real DCASE 2023 valve stream (evaluation only; its
README's protocol: enrolled from the first 20 source-normal and 4 target-normal clips by index, the other 176 streamed).
Per trial the 176 are shuffled and split in halves. Three machines each: `keep` and `replace` are enrolled on the
`baseline` embedder, stream the first half (hybrid, b = 0.1, labels from the file names), are switched to `spectral`
and re-enrolled with --keep-labels or --replace, and stream the second half; `spectral-throughout` streams both halves
on `spectral` (no upgrade). Prints AUC/pAUC of the second half (`asd metrics`), mean and paired differences with 95 %
t-intervals over trials. docs/results.md, stop 54.
usage: python3 docs/label-carry.py [TRIALS]   (needs a Release build: dotnet build -c Release AsdOrleans.sln)"""
import json, os, random, shutil, subprocess, sys, time
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASD = ["dotnet", f"{ROOT}/src/AsdOrleans.Cli/bin/Release/net10.0/asd.dll"]
VALVE = f"{ROOT}/../shared/data/dcase2023-valve-test/dev_data/raw/valve/test"
W = os.environ.get("CARRY_DIR", "/tmp/label-carry"); URL = "http://127.0.0.1:5391"
DEV, LAB, OP = "dev-key-carry-1", "lab-key-carry-1", "op-key-carry-1"
TRIALS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
def run(*args):
    r = subprocess.run(ASD + list(args), capture_output=True, text=True)
    if r.returncode != 0: raise SystemExit(f"{args}: {r.stdout}\n{r.stderr}")
    return r.stdout
shutil.rmtree(W, ignore_errors=True); os.makedirs(W)
files = sorted(os.listdir(VALVE))
src_norm = [f for f in files if "_source_" in f and "_normal_" in f][:20]
tgt_norm = [f for f in files if "_target_" in f and "_normal_" in f][:4]
enroll = src_norm + tgt_norm
stream = [f for f in files if f not in enroll]
assert len(stream) == 176
os.makedirs(f"{W}/train")
for f in enroll: os.symlink(f"{VALVE}/{f}", f"{W}/train/{f}")
env = dict(os.environ, Asd__ApiKeys__Device__0=DEV, Asd__ApiKeys__Labeller__0=LAB, Asd__ApiKeys__Operator__0=OP)
silo = subprocess.Popen(ASD + ["silo", "--urls", URL, "--data-dir", f"{W}/data", "--embedder", "spectral", "--silo-port", "11391", "--gateway-port", "30391"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(120):
        try:
            import urllib.request; urllib.request.urlopen(URL + "/healthz"); break
        except Exception: time.sleep(1)
    rows = []
    for t in range(TRIALS):
        order = stream[:]; random.Random(1000 + t).shuffle(order)
        halves = [order[:88], order[88:]]
        for h, part in enumerate(halves):
            d = f"{W}/t{t}h{h}"; os.makedirs(d)
            for f in part: os.symlink(f"{VALVE}/{f}", f"{d}/{f}")
        result = {}
        for arm in ["keep", "replace", "spectral-throughout"]:
            m = f"valve.t{t}-{arm}"
            first = "spectral" if arm == "spectral-throughout" else "baseline"
            run("machines", "configure", "--url", URL, "--key", OP, "--machine", m, "--strategy", "hybrid", "--budget", "0.1", "--embedder", first, "--seed", str(t + 1))
            run("enroll", "--url", URL, "--key", OP, "--machine", m, "--data", f"{W}/train")
            run("push", "--url", URL, "--key", DEV, "--labeller-key", LAB, "--machine", m, "--data", f"{W}/t{t}h0", "--oracle", "--shuffle-seed", str(t), "--scores-out", f"{W}/{m}-h0.csv")
            if arm != "spectral-throughout":
                run("machines", "configure", "--url", URL, "--key", OP, "--machine", m, "--embedder", "spectral")
                out = run("enroll", "--url", URL, "--key", OP, "--machine", m, "--data", f"{W}/train", "--keep-labels" if arm == "keep" else "--replace")
                if arm == "keep": result["carried"] = out.strip().splitlines()[0]
            run("push", "--url", URL, "--key", DEV, "--labeller-key", LAB, "--machine", m, "--data", f"{W}/t{t}h1", "--oracle", "--shuffle-seed", str(t), "--scores-out", f"{W}/{m}-h1.csv")
            metrics = json.loads(run("metrics", f"{W}/{m}-h1.csv", "--json"))
            result[arm] = metrics
        rows.append(result)
        print(json.dumps(result), flush=True)
finally:
    silo.terminate(); silo.wait()

import math
from statistics import mean, stdev
n = len(rows)
t975 = {4:2.776,5:2.571,6:2.447,7:2.365,8:2.306,9:2.262,10:2.228,11:2.201,12:2.179,13:2.160,14:2.145,15:2.131,16:2.120,17:2.110,18:2.101,19:2.093,29:2.045}  # two-sided 95 %, by degrees of freedom
def ci(xs):
    m = mean(xs); h = t975.get(len(xs)-1, 2.09) * stdev(xs) / math.sqrt(len(xs)); return f"{m:.3f} [{m-h:.3f}, {m+h:.3f}]"
def cid(xs):
    m = mean(xs); h = t975.get(len(xs)-1, 2.09) * stdev(xs) / math.sqrt(len(xs)); return f"{m:+.3f} [{m-h:+.3f}, {m+h:+.3f}]"
print(f"trials: {n}")
print("| second half | keep | replace | spectral throughout | keep − replace | keep − throughout |")
for metric in ["auc", "pauc", "auc_source", "auc_target"]:
    k = [r["keep"][metric] for r in rows]; rp = [r["replace"][metric] for r in rows]; s = [r["spectral-throughout"][metric] for r in rows]
    print(f"| {metric} | {ci(k)} | {ci(rp)} | {ci(s)} | {cid([a-b for a,b in zip(k,rp)])} | {cid([a-b for a,b in zip(k,s)])} |")
