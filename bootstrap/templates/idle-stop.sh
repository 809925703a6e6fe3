# Body: bootstrap/templates/idle-stop.sh. Usage: bash idle-stop.sh [--dry-run]
# Run by the idle timer. Powers the server off (on EC2 with shutdown behaviour "stop": the
# instance stops) when no request passed the proxy's key check for IDLE_MINUTES. Prints one
# line per run, which systemd keeps in the journal. When in doubt it stays up.
set -uo pipefail
R=${LLMHOST_ROOT:-} # a test root; empty on a server
WINDOW=$((IDLE_MINUTES * 60))

stay() { echo "idle stop: staying up, $1"; exit "${2:-0}"; }

read -r up _ <"$R/proc/uptime" || stay "cannot read /proc/uptime" 1
up=${up%.*}
((up >= WINDOW)) || stay "booted ${up}s ago (under $IDLE_MINUTES min)"
# The window starts again when install.sh finishes: a first install can take longer than it.
if [[ -f $R$READY_FILE ]]; then
  age=$(($(date +%s) - $(stat -c %Y "$R$READY_FILE")))
  ((age >= WINDOW)) || stay "ready ${age}s ago (under $IDLE_MINUTES min)"
fi
# install.sh holds a shared lock while it runs; exit code 75: someone holds it
rc=0
flock -n -E 75 "$R$INSTALL_LOCK" true 2>/dev/null || rc=$?
((rc != 75)) || stay "install.sh is running"
if ! out=$(docker compose --project-name "$PROJECT" logs --no-log-prefix --since "${IDLE_MINUTES}m" \
  "$PROXY_SERVICE" 2>&1); then
  stay "cannot read the proxy log: $(tail -n 1 <<<"$out")" 1
fi
# JSON escapes every quote in a logged value, so only the proxy's own field matches.
n=$(grep -cF "\"$AUTH_FIELD\":\"$AUTH_VALUE\"" <<<"$out")
((n == 0)) || stay "$n authenticated request(s) in the last $IDLE_MINUTES min"
[[ ${1:-} != --dry-run ]] || stay "dry run: no authenticated request in $IDLE_MINUTES min, would power off"
echo "idle stop: no authenticated request in $IDLE_MINUTES min, powering off"
systemctl poweroff
