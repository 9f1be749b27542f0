-- wrk script: POST one event per request to the URL given to wrk.
-- Bodies cycle through a pool of pre-generated events ($BENCH_BODIES, one JSON per line),
-- each thread from its own offset; $BENCH_KEY is the ingest API key.
-- Every response that is not 2xx is counted; done() prints one "BENCH_JSON {...}" line.

local threads = {}

function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end

function init(args)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY"),
  }
  pool = {}
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    pool[#pool + 1] = wrk.format("POST", nil, headers, line)
  end
  index = offset % #pool
  non2xx = 0
end

function request()
  index = index % #pool + 1
  return pool[index]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total = 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %.0f, "duration_us": %.0f, "p50_us": %.0f, "p99_us": %.0f, "non2xx": %.0f, ' ..
    '"socket_errors": %.0f, "timeouts": %.0f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), non2xx_total,
    e.connect + e.read + e.write, e.timeout))
end
