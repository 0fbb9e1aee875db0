-- bench/token.lua - wrk script: POST /auth/oauth/token, the
-- client_credentials grant, with HTTP Basic client authentication
-- (BH_BENCH_BASIC: base64 of "client:secret", which bench/run makes from
-- the stack's var/secrets).  Every request is a new token: the client's
-- secret checked, an Ed25519 signature, a row in auth's database.

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. (os.getenv("BH_BENCH_BASIC") or "")
