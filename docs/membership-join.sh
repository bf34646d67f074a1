#!/bin/bash
# After a flushed Redis and an accepted loss: do two running silos survive silos joining and leaving?
# (docs/decisions.md, "after a lost store, Orleans' membership rows are written back": run once on this build and once on
# the commit before the fix.) ASD_DLL: an asd.dll (e.g. .asd/cli/asd.dll after ./asd demo); PORTBASE: a free range of 40 ports.
# usage: membership-join.sh ASD_DLL OUTDIR PORTBASE
set -u
ASD=$1; D=$2; P=$3
rm -rf "$D"; mkdir -p "$D"
redis-server --port $P --dir "$D" --appendonly yes --appendfsync always --save "" --daemonize yes --logfile "$D/redis.log"
sleep 1
start() { # index
  Asd__ClusterId=mx Asd__ApiKeys__Operator__0=op nohup dotnet "$ASD" silo --roles machines --cluster 127.0.0.1:$P \
    --data-dir "$D/s$1" --urls http://127.0.0.1:$((P+10+$1)) --silo-port $((P+20+$1)) --gateway-port $((P+30+$1)) > "$D/s$1.log" 2>&1 &
  echo $! > "$D/s$1.pid"
}
ready() { for i in $(seq 1 120); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$((P+10+$1))/readyz)" = 200 ] && return 0; sleep 1; done; return 1; }
alive() { kill -0 $(cat "$D/s$1.pid") 2>/dev/null && echo alive || echo GONE; }
t0=$(date +%s); say() { echo "[$(( $(date +%s)-t0 ))s] $*"; }
start 1; ready 1 && say "A ready"; start 2; ready 2 && say "B ready"
sleep 12
say "members before: $(redis-cli -p $P hkeys asd-orleans/members/mx | tr '\n' ' ')"
redis-cli -p $P flushall > /dev/null; say "flushed"
for i in $(seq 1 30); do desc=$(curl -s http://127.0.0.1:$((P+11))/readyz); echo "$desc" | grep -q "has lost" && break; sleep 1; done
lost=$(echo "$desc" | python3 -c 'import sys,json,re; d=json.load(sys.stdin)["checks"]["redis-store"]["description"]; print(re.search(r"\"lost\":\"([0-9a-f]+)\"", d).group(1))')
say "loss seen on A, lost store $lost"
curl -s -X POST -H "X-Api-Key: op" -H 'Content-Type: application/json' -d "{\"lost\":\"$lost\",\"by\":\"experiment\"}" http://127.0.0.1:$((P+11))/api/cluster/store/accept-loss | head -c 200; echo
sleep 12
say "members after accept: $(redis-cli -p $P hkeys asd-orleans/members/mx | tr '\n' ' ') version $(redis-cli -p $P hget asd-orleans/members/mx Version)"
for round in 3 4 5; do
  start $round; ready $round && say "silo $round ready (version $(redis-cli -p $P hget asd-orleans/members/mx Version))"
  sleep 5
  kill -TERM $(cat "$D/s$round.pid"); wait $(cat "$D/s$round.pid") 2>/dev/null
  say "silo $round stopped (version $(redis-cli -p $P hget asd-orleans/members/mx Version)); A $(alive 1), B $(alive 2)"
done
sleep 20
say "end: A $(alive 1), B $(alive 2); A readyz $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$((P+11))/readyz), B readyz $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$((P+12))/readyz)"
grep -h -c "I should be Dead\|KillMyselfLocally\|FailFast" "$D"/s1.log "$D"/s2.log | tr '\n' ' '; echo " (A, B: lines saying they should be dead)"
for s in 1 2; do p=$(cat "$D/s$s.pid"); st=$(date +%s); kill -TERM $p 2>/dev/null; while kill -0 $p 2>/dev/null; do sleep 1; [ $(( $(date +%s)-st )) -gt 180 ] && kill -9 $p; done; say "silo $s stop took $(( $(date +%s)-st )) s"; done
redis-cli -p $P shutdown nosave > /dev/null 2>&1
