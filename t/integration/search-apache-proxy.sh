#!/bin/bash
# search-apache-proxy.sh - the search service behind apache-proxy: every search case
# (search-cases.sh), then what the front end itself must pass through
# intact (health, request ids, security headers, bodies, 413).
. "$(dirname "$0")/../lib/harness.sh"

stack_up apache-proxy || bail "the stack did not come up behind apache-proxy"
check "apache-proxy: the service runs as a pool master with 2 workers" test "$(worker_count)" = 2
run_search_cases
frontend_checks apache-proxy
finish
