# t/lib/mail.sh - reading what the SMTP sink (t/fakes/smtp.py) received.
# shellcheck shell=bash
#
# Source it after t/lib/harness.sh.  The sink stores each message as
# DIR/<seq>.eml (raw) and DIR/<seq>.json (envelope, subject, Message-ID,
# text, html, attachments), where DIR is $BH_MAIL_DIR, or $VAR/mail (where
# scripts/stack runs the sink).  Addresses are compared case-insensitively.
#
#	mail_wait ADDR [SECONDS]   path of the first .json to ADDR, waiting up to
#	                           SECONDS (default 15) for one; fails if none
#	mail_last ADDR             path of the latest .json to ADDR, or fails
#	mail_count ADDR            how many messages ADDR received (0 if none)
#	mail_list ADDR             paths of all .json to ADDR, oldest first
#	mail_message_ids           Message-ID of every stored message, one a line

mail_dir() {
	printf '%s\n' "${BH_MAIL_DIR:-$VAR/mail}"
}

# mail_list ADDR: every message to ADDR, oldest first (the names sort by
# sequence number).
mail_list() {
	local dir files=()
	dir=$(mail_dir)
	shopt -s nullglob
	files=("$dir"/*.json)
	shopt -u nullglob
	[ ${#files[@]} -gt 0 ] || return 0
	jq -r --arg a "$1" \
		'select(.rcpt_tos | map(ascii_downcase) | index($a | ascii_downcase)) | input_filename' \
		"${files[@]}" 2>/dev/null
}

mail_count() {
	local n
	n=$(mail_list "$1" | wc -l)
	printf '%s\n' "$n"
}

mail_last() {
	local f
	f=$(mail_list "$1" | tail -n 1)
	[ -n "$f" ] && printf '%s\n' "$f"
}

mail_first() {
	local f
	f=$(mail_list "$1" | head -n 1)
	[ -n "$f" ] && printf '%s\n' "$f"
}

mail_wait() {
	local addr=$1 secs=${2:-15}
	if wait_until "$secs" mail_first "$addr" >/dev/null; then
		mail_first "$addr"
		return 0
	fi
	echo "mail_wait: no message to $addr in $(mail_dir) after ${secs}s" >&2
	return 1
}

mail_message_ids() {
	local dir files=()
	dir=$(mail_dir)
	shopt -s nullglob
	files=("$dir"/*.json)
	shopt -u nullglob
	[ ${#files[@]} -gt 0 ] || return 0
	jq -r '.message_id // empty' "${files[@]}" 2>/dev/null
}
