-- GET, rotating through the paths in BENCH_PATHS.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function request()
  return wrk.format("GET", next_path())
end
