#!/bin/bash
# search-nginx.sh - the search service behind nginx: every search case
# (search-cases.sh), then what the front end itself must pass through
# intact (health, request ids, security headers, bodies, 413).
. "$(dirname "$0")/../lib/harness.sh"

stack_up nginx || bail "the stack did not come up behind nginx"
check "nginx: the service runs as a pool master with 2 workers" test "$(worker_count)" = 2
run_search_cases
frontend_checks nginx
finish
