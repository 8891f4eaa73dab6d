-- wrk script: single-sentence POST /embed requests cycling through a corpus, in order.
--   CORPUS=../shared/data/corpus_en.txt wrk -s bench/wrk_embed.lua ...
-- Prints one JSON line of results at the end.
local lines = {}
local path = os.getenv("CORPUS")
for l in io.lines(path) do
  lines[#lines + 1] = '{"inputs": "' .. l:gsub('\\', '\\\\'):gsub('"', '\\"') .. '"}'
end
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  idx = id * 997
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  idx = idx + 1
  return wrk.format(nil, "/embed", nil, lines[(idx % #lines) + 1])
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "req_per_s": %.1f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors))
end
