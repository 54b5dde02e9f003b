-- The mixed soak of bench/memory.py. Each line of BENCH_PATHS is "<kind> <METHOD> <path>", written
-- by bench/memory.py (mixed_lines) in a weighted, interleaved order; this script rotates through
-- them (common.lua's next_path), gives the POSTs a body (a unique email per created customer, as
-- create_customer.lua does) and counts the requests sent per kind and the answers per status. done()
-- adds one line to common.lua's: BENCH_MIX {"sent":{kind:n},"statuses":{"200":n}}.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

-- A new connection per request, so every gunicorn worker gets a share: gthread workers keep the
-- keep-alive connections they accepted, and wrk's few connections could all stay on one worker.
wrk.headers["Connection"] = "close"

local parsed = {}
for _, line in ipairs(paths) do
  local kind, method, path = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
  assert(kind, "bad line in BENCH_PATHS (want '<kind> <METHOD> <path>'): " .. line)
  parsed[line] = {kind = kind, method = method, path = path}
end

-- wrk.format replaces wrk.headers with the table it is given: the POST headers copy them.
local json_headers = {}
for name, value in pairs(wrk.headers) do json_headers[name] = value end
json_headers["Content-Type"] = "application/json"
local interaction_body = '{"type":"phone","subject":"Bench call","notes":"Logged by the memory soak."}'

-- Per thread (read back by done() through thread:get).
sent = {}
statuses = {}
local counter = 0

function request()
  local entry = parsed[next_path()]
  sent[entry.kind] = (sent[entry.kind] or 0) + 1
  if entry.kind == "create_customer" then
    counter = counter + 1
    local body = string.format(
      '{"first_name":"Bench","last_name":"Soak %d","email":"%s-%s-%d@bench.example",' ..
      '"phone":"+212612345678","tags":["bench"]}',
      counter, tag, tostring(id), counter)
    return wrk.format("POST", entry.path, json_headers, body)
  elseif entry.method == "POST" then
    return wrk.format("POST", entry.path, json_headers, interaction_body)
  end
  return wrk.format(entry.method, entry.path)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

local common_setup, common_done = setup, done
local all_threads = {}

function setup(thread)
  common_setup(thread)
  table.insert(all_threads, thread)
end

local function add_into(total, counts)
  for key, value in pairs(counts or {}) do
    total[key] = (total[key] or 0) + value
  end
end

local function encode(counts)
  local keys = {}
  for key in pairs(counts) do table.insert(keys, key) end
  table.sort(keys)
  local parts = {}
  for _, key in ipairs(keys) do
    table.insert(parts, string.format('"%s":%d', key, counts[key]))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  common_done(summary, latency, requests)
  local sent_total, status_total = {}, {}
  for _, thread in ipairs(all_threads) do
    add_into(sent_total, thread:get("sent"))
    add_into(status_total, thread:get("statuses"))
  end
  io.write('BENCH_MIX {"sent":' .. encode(sent_total) .. ',"statuses":' .. encode(status_total) .. '}\n')
end
