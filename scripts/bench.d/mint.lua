-- wrk script that mints authorization codes for scenario 5 of scripts/bench.
--
--   wrk -s mint.lua -H "Cookie: <logged-in session>" URL -- AUTHORIZE_PATH_AND_QUERY OUTFILE_PREFIX
--
-- Consent was approved once beforehand, so every GET of the authorize URL answers
-- 303 redirect_uri?code=...&state=... . Thread n appends the code of each such response to
-- OUTFILE_PREFIX.n, one a line. done() prints "MINT_RESULT {json}" with the counts.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

minted = 0
failed = 0
sample = nil
local out = nil
local req = nil

function init(args)
   req = wrk.format("GET", args[1])
   out = assert(io.open(args[2] .. "." .. id, "w"))
   out:setvbuf("line")
end

function request()
   return req
end

function response(status, headers, body)
   local location = headers["Location"] or headers["location"]
   local code = location and string.match(location, "[?&]code=([^&]+)")
   if status == 303 and code then
      out:write(code, "\n")
      minted = minted + 1
   else
      failed = failed + 1
      if sample == nil then
         sample = tostring(status) .. " " .. tostring(location) .. " " .. string.sub(body or "", 1, 200)
      end
   end
end

function done(summary, latency, requests)
   local minted_total, failed_total, first = 0, 0, nil
   for _, thread in ipairs(threads) do
      minted_total = minted_total + (thread:get("minted") or 0)
      failed_total = failed_total + (thread:get("failed") or 0)
      first = first or thread:get("sample")
   end
   first = first and string.gsub(first, '[%c"\\]', " ") or ""
   io.write(string.format('MINT_RESULT {"minted":%d,"failed":%d,"sample":"%s"}\n', minted_total, failed_total, first))
end
