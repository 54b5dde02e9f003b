-- POST an interaction, rotating through customers (paths in BENCH_PATHS).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.headers["Content-Type"] = "application/json"
local body = '{"type":"phone","subject":"Bench call","notes":"Logged by the load test."}'

function request()
  return wrk.format("POST", next_path(), nil, body)
end
