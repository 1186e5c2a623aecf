# shellcheck shell=bash
# Reading HAProxy's master CLI from scripts. Sourced, not executed.

# reload_count: reads `show proc` on standard input and prints the master's reload count
# (its line: pid, "master", reloads, uptime, version). Fails, printing nothing, unless that
# is one whole number: an empty or garbled parse must never compare equal to another.
reload_count() {
  local count
  count=$(awk '$2 == "master" {print $3}')
  [[ "$count" =~ ^[0-9]+$ ]] || return 1
  echo "$count"
}
