-- Shared by every bench script (loaded with dofile): the bearer token, the paths to rotate
-- through, and one JSON line of results from done(). (Requests served, for CPU per request, are
-- counted by the servers themselves: see bench/gunicorn_conf.py.)
--
-- Environment (set by bench/run.py): BENCH_LUA_DIR, BENCH_PATHS (a file, one path per line),
-- BENCH_TOKEN (an access token; the floor app ignores it), BENCH_TAG (unique per wrk run).

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

paths = {}
local file = assert(io.open(os.getenv("BENCH_PATHS"), "r"))
for line in file:lines() do
  if #line > 0 then table.insert(paths, line) end
end
file:close()
assert(#paths > 0, "BENCH_PATHS lists no paths")

wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
wrk.headers["Accept"] = "application/json"
tag = os.getenv("BENCH_TAG") or "bench"
local position = 0

function init(args)
  -- Threads start at different places in the rotation.
  position = ((tonumber(id) or 1) - 1) * math.floor(#paths / 2)
end

function next_path()
  position = position % #paths + 1
  return paths[position]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"max_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,' ..
    '"errors_timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
