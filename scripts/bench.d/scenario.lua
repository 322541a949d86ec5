-- wrk script for every scenario of scripts/bench.
--
--   wrk -s scenario.lua URL -- METHOD PATH [BODY|-] [DATAFILE KIND]
--
-- Static headers (Authorization, Content-Type) come from wrk's -H flags.
-- With DATAFILE, each request takes the next line of the file, once:
--   KIND "auth": the line is the request's Authorization header (pre-signed OAuth 1.0a);
--   KIND "body": the line is the request body (one pre-minted authorization code per line).
-- Thread n of N uses lines n, n+N, n+2N, ... so no line (nonce, code) is ever sent twice
-- unless the pool runs out: then the thread resends its last line (which the server must
-- refuse) and counts it in "exhausted".
--
-- done() prints one line, "BENCH_RESULT {json}", with the request count, duration,
-- latency percentiles (microseconds), socket errors, responses per status code, the first
-- non-2xx response seen (status and start of body) and the exhausted count.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- per-thread state (each thread has its own Lua state)
statuses = {}
exhausted = 0
sample = nil
local lines = nil
local cursor = 0
local kind = nil
local method, path, body
local static_request = nil
local auth_headers = nil

function init(args)
   method = args[1] or "GET"
   path = args[2] or "/"
   body = args[3]
   if body == "-" or body == "" then body = nil end
   local datafile = args[4]
   kind = args[5]
   if datafile ~= nil and datafile ~= "-" then
      local nthreads = tonumber(args[6]) or 1
      lines = {}
      local n = 0
      local f = assert(io.open(datafile, "r"))
      for line in f:lines() do
         if n % nthreads == id then
            lines[#lines + 1] = line
         end
         n = n + 1
      end
      f:close()
      auth_headers = {}
      for name, value in pairs(wrk.headers) do
         auth_headers[name] = value
      end
   else
      static_request = wrk.format(method, path, nil, body)
   end
end

function request()
   if static_request then
      return static_request
   end
   cursor = cursor + 1
   if cursor > #lines then
      exhausted = exhausted + 1
      cursor = #lines
      if cursor == 0 then
         return wrk.format(method, path, nil, body)
      end
   end
   local line = lines[cursor]
   if kind == "auth" then
      auth_headers["Authorization"] = line
      return wrk.format(method, path, auth_headers, body)
   else
      return wrk.format(method, path, nil, line)
   end
end

function response(status, headers, resp_body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if (status < 200 or status > 299) and sample == nil then
      local challenge = headers["WWW-Authenticate"] or headers["www-authenticate"] or ""
      sample = key .. " " .. challenge .. " " .. string.sub(resp_body or "", 1, 300)
   end
end

local function json_string(s)
   s = string.gsub(s, '[%c"\\]', function(c)
      if c == '"' then return '\\"' end
      if c == "\\" then return "\\\\" end
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. s .. '"'
end

function done(summary, latency, requests)
   local merged = {}
   local exhausted_total = 0
   local first_sample = nil
   for _, thread in ipairs(threads) do
      local counts = thread:get("statuses") or {}
      for code, n in pairs(counts) do
         merged[code] = (merged[code] or 0) + n
      end
      exhausted_total = exhausted_total + (thread:get("exhausted") or 0)
      first_sample = first_sample or thread:get("sample")
   end
   local parts = {}
   for code, n in pairs(merged) do
      parts[#parts + 1] = string.format('"%s":%d', code, n)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d},' ..
      '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status_errors":%d,' ..
      '"statuses":{%s},"exhausted":%d,"sample":%s}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
      e.connect, e.read, e.write, e.timeout, e.status,
      table.concat(parts, ","), exhausted_total,
      first_sample and json_string(first_sample) or "null"))
end
