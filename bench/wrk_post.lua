-- POST one body per request, rotating through a file of JSON bodies (one per line), so the
-- server never sees the same body twice in a row. Prints a WRKJSON line for bench/serving.py.
local bodies = {}
local idx = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  -- each wrk thread starts at a different place in the list
  idx = (tonumber(id) or 0) * 97
end

function setup(thread)
  setup_count = (setup_count or 0) + 1
  thread:set("id", setup_count)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  idx = idx % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[idx])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
