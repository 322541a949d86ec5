-- wrk script for the password guesser of scripts/bench's "under attack" scenario.
--
--   wrk -s attack.lua URL -- PATH USER
--
-- Every request is GET PATH with HTTP Basic for USER (a real user name) and a password never
-- sent before (thread id + counter), so each one costs the server a password check unless it
-- throttles the address (INTERFACE §10: 429 without running the KDF).
-- done() prints one line, "ATTACK_RESULT {json}": requests, duration, responses per status,
-- socket errors, latency percentiles (microseconds) and the first response that was neither
-- 401 nor 429.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

statuses = {}
sample = nil
local path, user
local counter = 0
local salt = ""

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- RFC 4648 base64 (LuaJIT has no built-in).
local function base64(s)
   local out = {}
   for i = 1, #s, 3 do
      local a, b, c = string.byte(s, i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local c1 = math.floor(n / 262144) % 64
      local c2 = math.floor(n / 4096) % 64
      local c3 = math.floor(n / 64) % 64
      local c4 = n % 64
      out[#out + 1] = string.sub(alphabet, c1 + 1, c1 + 1) .. string.sub(alphabet, c2 + 1, c2 + 1)
         .. (b and string.sub(alphabet, c3 + 1, c3 + 1) or "=")
         .. (c and string.sub(alphabet, c4 + 1, c4 + 1) or "=")
   end
   return table.concat(out)
end

function init(args)
   path = args[1] or "/"
   user = args[2] or "admin"
   math.randomseed(os.time() + id * 7919)
   salt = string.format("%08x", math.random(0, 0x7fffffff))
end

function request()
   counter = counter + 1
   local password = string.format("guess-%s-%d-%d", salt, id, counter)
   return wrk.format("GET", path, { ["Authorization"] = "Basic " .. base64(user .. ":" .. password) }, nil)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if status ~= 401 and status ~= 429 and sample == nil then
      sample = key .. " " .. string.sub(body or "", 1, 300)
   end
end

function done(summary, latency, requests)
   local merged = {}
   local first_sample = nil
   for _, thread in ipairs(threads) do
      for code, n in pairs(thread:get("statuses") or {}) do
         merged[code] = (merged[code] or 0) + n
      end
      first_sample = first_sample or thread:get("sample")
   end
   local parts = {}
   for code, n in pairs(merged) do
      parts[#parts + 1] = string.format('"%s":%d', code, n)
   end
   local e = summary.errors
   first_sample = first_sample and string.gsub(first_sample, '[%c"\\]', " ") or nil
   io.write(string.format(
      'ATTACK_RESULT {"requests":%d,"duration_us":%d,' ..
      '"latency_us":{"p50":%d,"p99":%d,"max":%d},' ..
      '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
      '"statuses":{%s},"sample":%s}\n',
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.timeout,
      table.concat(parts, ","), first_sample and ('"' .. first_sample .. '"') or "null"))
end
