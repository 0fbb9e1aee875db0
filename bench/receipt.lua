-- bench/receipt.lua - wrk script: POST /reports/receipt, one PDF receipt
-- rendered from the same JSON data every time (the reports service keeps
-- no state, so there is nothing to cache between requests).
--
-- bench/run passes, in the environment:
--   BH_BENCH_BEARER  a service token with the scope reports:render
--   BH_BENCH_BODY    a file holding the receipt's data, as reservations
--                    sends it (a three-night stay)

local file = os.getenv("BH_BENCH_BODY")
local body = ""
if file and file ~= "" then
	local f = io.open(file, "rb")
	if f then
		body = f:read("*a")
		f:close()
	end
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BH_BENCH_BEARER") or "")
