#!/usr/bin/env bash
# Scale-out: two gemma-rt serve replicas on loopback behind nginx (docs/server.md). Clients
# send requests through nginx; they must be spread over both replicas; then one replica is
# killed (SIGKILL) mid-run, and every request still succeeds: nginx retries a failed
# connection on the other replica (proxy_next_upstream), and marks the dead one down.
# Usage: nginx_scale_out_test.sh GEMMA_RT_BINARY MODEL_DIR
set -euo pipefail
cli="$1"
model="$2"
command -v nginx >/dev/null || { echo "nginx is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }
work="$(mktemp -d)"
cleanup() {
  for f in "$work"/*.pid; do [[ "$f" == "$work/nginx.pid" ]] || kill -9 "$(cat "$f")" 2>/dev/null || true; done
  [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A replica on a free port (run in $(...): its pid goes to a file); prints its port.
start_replica() {
  local name="$1"
  "$cli" serve --model "$model" --port 0 --parallel 2 -t 1 --alias tiny >"$work/$name.out" 2>"$work/$name.err" &
  echo $! >"$work/$name.pid"
  for _ in $(seq 600); do
    if grep -q "listening on" "$work/$name.out" 2>/dev/null; then
      sed -E 's#.*:([0-9]+)$#\1#' "$work/$name.out" | head -1
      return
    fi
    sleep 0.1
  done
  echo "replica $name did not start: $(cat "$work/$name.err")" >&2
  exit 1
}
port_a="$(start_replica a)"
port_b="$(start_replica b)"

# A free port for nginx: bind-and-release through python's socket module.
port_lb="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
user_line=""
[[ "$(id -u)" -eq 0 ]] && user_line="user root;"
mkdir -p "$work/tmp"
cat >"$work/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 256; }
http {
  access_log $work/access.log;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  log_format upstream '\$upstream_addr \$status';
  upstream gemma {
    least_conn;
    server 127.0.0.1:$port_a max_fails=1 fail_timeout=10s;
    server 127.0.0.1:$port_b max_fails=1 fail_timeout=10s;
  }
  server {
    listen 127.0.0.1:$port_lb;
    access_log $work/upstream.log upstream;
    location / {
      proxy_pass http://gemma;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
      # A replica that refuses the connection, resets it, or answers 502/503 (loading,
      # shutting down): the request goes to the other one. POST needs non_idempotent.
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 2;
    }
  }
}
CONF
nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port_lb/health" >/dev/null && break; sleep 0.1; done

body='{"prompt": [2, 5, 9, 14], "max_tokens": 24, "temperature": 0, "return_token_ids": true}'
expected="$(curl -sf "http://127.0.0.1:$port_a/v1/completions" -H 'Content-Type: application/json' -d "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["token_ids"])')"

# 8 clients x 10 requests; replica a is killed while they run.
client() {
  local ok=0
  for _ in $(seq 10); do
    out="$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$port_lb/v1/completions" -H 'Content-Type: application/json' -d "$body")"
    code="$(tail -1 <<<"$out")"
    ids="$(head -n -1 <<<"$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["token_ids"])' 2>/dev/null || true)"
    if [[ "$code" == 200 && "$ids" == "$expected" ]]; then ok=$((ok + 1)); else echo "request failed: $code $out" >&2; fi
  done
  echo "$ok"
}
for i in $(seq 8); do client >"$work/client.$i" & done
sleep 1
kill -9 "$(cat "$work/a.pid")"
wait  # the clients (the replicas are not this shell's jobs)
total=0
for i in $(seq 8); do total=$((total + $(cat "$work/client.$i"))); done
served_a="$(grep -c "127.0.0.1:$port_a 200" "$work/upstream.log" || true)"
served_b="$(grep -c "127.0.0.1:$port_b 200" "$work/upstream.log" || true)"
echo "80 requests through nginx: $total correct; replica a answered $served_a, replica b $served_b (a killed after 1 s)"
[[ "$total" -eq 80 ]] || { echo "FAIL: not every request succeeded" >&2; exit 1; }
[[ "$served_a" -gt 0 && "$served_b" -gt 0 ]] || { echo "FAIL: requests were not spread over both replicas" >&2; exit 1; }
echo "PASS"
