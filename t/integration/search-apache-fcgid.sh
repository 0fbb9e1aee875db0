#!/bin/bash
# search-apache-fcgid.sh - the search service behind apache-fcgid: every search case
# (search-cases.sh), then what the front end itself must pass through
# intact (health, request ids, security headers, bodies, 413).
. "$(dirname "$0")/../lib/harness.sh"

stack_up apache-fcgid || bail "the stack did not come up behind apache-fcgid"
# Apache spawns the service processes itself: no pool of ours
check "apache-fcgid: no pool master pid file" test ! -e "$VAR/run/search.pid"
run_search_cases
frontend_checks apache-fcgid
finish
