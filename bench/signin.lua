-- bench/signin.lua - wrk script: POST /auth/oauth/authorize, the sign-in
-- form of the authorization-code flow, with the right password: auth
-- checks the CSRF token and its limits, asks users to verify the password
-- (argon2id), stores an authorization code and answers 303.
--
-- bench/run signs a person up, GETs the form once and passes
-- BH_BENCH_COOKIE (the CSRF cookie, "bh_csrf=...") and BH_BENCH_FORM (the
-- url-encoded form body with email, password, csrf_token and the OAuth
-- parameters).  The double-submit token stays valid for many posts.

wrk.method = "POST"
wrk.body = os.getenv("BH_BENCH_FORM") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = os.getenv("BH_BENCH_COOKIE") or ""
