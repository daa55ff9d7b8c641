-- wrk script of bench/run.sh: a small non-streaming chat completion on a keep-alive connection.
-- BENCH_MODEL names the model (default "fake"); done() prints one line that run.sh parses.
local model = os.getenv("BENCH_MODEL") or "fake"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"hi"}],"max_tokens":1}'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
