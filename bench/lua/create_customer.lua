-- POST a new customer; the email is unique per request (run tag, thread, counter) so the
-- unique index never turns a create into a 409.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.headers["Content-Type"] = "application/json"
local counter = 0

function request()
  counter = counter + 1
  local body = string.format(
    '{"first_name":"Bench","last_name":"Load %d","email":"%s-%s-%d@bench.example",' ..
    '"phone":"+212612345678","tags":["bench"]}',
    counter, tag, tostring(id), counter)
  return wrk.format("POST", next_path(), nil, body)
end
