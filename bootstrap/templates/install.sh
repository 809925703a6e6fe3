# Body: bootstrap/templates/install.sh. Usage: bash install.sh [install|refresh-keys]
# refresh-keys: (SSM: fetch the keys;) reload the running proxy when they changed.
# Idempotent. Status lines start with "[llmhost"; all output also goes to INSTALL_LOG.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
R=${LLMHOST_ROOT:-} # a test root; empty on a server
WAIT=${LLMHOST_WAIT_INTERVAL:-5}
LOCK_WAIT=${LLMHOST_APT_LOCK_WAIT:-900} POLL=${LLMHOST_APT_POLL:-3}
NET='Failed to fetch|Temporary failure|Could not (connect|resolve)'
T0=$(date +%s)
PHASES=() CHANGED='' RESTART_DOCKER='' APT_UPDATED='' OLD_DIGEST='' VERSION='' reply='' MODE=install

log() { echo "[llmhost $(date -u +%T)] $*"; }
die() { log "FAILED: $*" >&2; exit 1; }
phase() { PHASES+=("$1=$(date +%s)"); log "phase $1 done at +$(($(date +%s) - T0))s"; }
dc() { docker compose --project-name "$PROJECT" "$@"; }
os_field() { sed -n "s/^$1=//p" "$R/etc/os-release" | tr -d '"'; }

# wait_for TRIES WHAT CMD...: run CMD up to TRIES times, $WAIT s apart
wait_for() {
  local n=$1 what=$2 i
  shift 2
  for ((i = 1; i <= n; i++)); do
    "$@" >/dev/null 2>&1 && return
    log "waiting for $what ($i/$n)"
    sleep "$WAIT"
  done
  die "$what: not ready after $n tries"
}

# install_file SRC DEST MODE: copy if content or mode differ; true if DEST changed
install_file() {
  cmp -s "$1" "$2" && [[ $(stat -c %a "$2") == "${3#0}" ]] && return 1
  install -D -m "$3" "$1" "$2" || die "cannot write $2"
}

# apt_get COMMAND ARGS: again while a lock is held, up to LOCK_WAIT s (DPkg::Lock::Timeout covers
# dpkg's lock only; `update` exits 100 at once on apt's lists lock), or 5 tries on network errors
apt_get() {
  local i=0 e s='' t=$SECONDS o=$TMP/apt
  until apt-get -q -o DPkg::Lock::Timeout="$LOCK_WAIT" "$@" &>"$o"; do
    e=$(grep -m1 ^E: "$o") || e=-
    if [[ $e == *" lock"* ]]; then
      ((SECONDS - t < LOCK_WAIT)) || die "apt-get $1 gave up after ${LOCK_WAIT}s: $e"
      [[ $e == "$s" ]] || log "apt-get $1 waits up to ${LOCK_WAIT}s: $e"
      s=$e && sleep "$POLL"
    elif grep -Eq "$NET" "$o" && ((++i < 5)); then
      log "apt-get $1 failed, retry $i/4: $e" && sleep "$WAIT"
    else
      cat "$o" && die "apt-get $1 failed: $e"
    fi
  done
  cat "$o"
}

# Over SSH right after boot; under cloud-init, runcmd comes after its own apt steps
cloud_init_wait() {
  [[ ${LLMHOST_CLOUD_INIT:-} || $(cloud-init status 2>/dev/null) != *running* ]] && return
  log "waiting for cloud-init"
  timeout "$LOCK_WAIT" cloud-init status --wait >/dev/null || :
}

apt_install() {
  local p missing=()
  for p; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *" installed" ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "apt: installing ${missing[*]}"
  [[ $APT_UPDATED ]] || { cloud_init_wait && apt_get update; }
  APT_UPDATED=1
  apt_get install -y --no-install-recommends "${missing[@]}"
}

#if timers
# timer SERVICE TIMER: install both units from the bundle, enable the timer (once)
timer() {
  local u changed=''
  for u in "$1" "$2"; do
    if install_file "$R$INSTALL_DIR/$u" "$R$SYSTEMD_DIR/$u" 0644; then changed=1; fi
  done
  if [[ $changed ]]; then systemctl daemon-reload; fi
  systemctl is-enabled -q "$2" || systemctl enable --now "$2"
}

#endif
#if volume
# By id (Nitro NVMe, Hetzner), else by attachment name (Xen: /dev/xvdf, no id link)
find_volume() {
  local f
  for f in "$R"/dev/disk/by-id/*; do
    case ${f##*/} in
      *-part*) ;;
      *"_$VOLUME_ID" | *"_${VOLUME_ID//-/}") DEV=$f && return 0 ;;
    esac
  done
  for f in "${VOLUME_DEVICES[@]}"; do
    [[ -e $R$f ]] && DEV=$R$f && return 0
  done
  return 1
}

mount_volume() {
  local rc=0 uuid
  wait_for 60 "volume $VOLUME_ID" find_volume # attached after the instance runs
  log "volume: $VOLUME_ID is $DEV"
  blkid -p "$DEV" >/dev/null 2>&1 || rc=$?
  if ((rc == 2)); then # nothing found: a blank volume
    log "volume: formatting blank $DEV"
    mkfs.ext4 -q -L "$MODELS_LABEL" "$DEV"
  elif ((rc)); then
    die "volume: blkid failed on $DEV ($rc); not formatting"
  fi
  uuid=$(blkid -s UUID -o value "$DEV")
  [[ $uuid ]] || die "volume: $DEV has no filesystem UUID"
  grep -qs "^UUID=$uuid " "$R/etc/fstab" || echo "UUID=$uuid $MODELS_DIR auto defaults,nofail 0 2" >>"$R/etc/fstab"
  mkdir -p "$R$MODELS_DIR"
  findmnt -rn --mountpoint "$R$MODELS_DIR" >/dev/null || mount "$DEV" "$R$MODELS_DIR"
  log "volume: $VOLUME_ID mounted at $MODELS_DIR"
}

#endif
# Docker's apt repository: the only source with the Compose v2 plugin and current engines
# for Ubuntu 22.04/24.04 and Debian 12 alike, with security updates.
install_docker() {
  local id code key=/etc/apt/keyrings/docker.asc
  id=$(os_field ID) code=$(os_field VERSION_CODENAME)
  [[ $id == ubuntu || $id == debian ]] || die "docker: unsupported distribution '$id'"
  log "docker: installing from download.docker.com ($id $code)"
  apt_install ca-certificates curl gnupg
  curl -fsSL --retry 5 "https://download.docker.com/linux/$id/gpg" -o "$TMP/d.asc"
  [[ $(gpg --show-keys --with-colons "$TMP/d.asc" | awk -F: '$1=="pub"{getline; print $10}') == "$DOCKER_KEY_FPR" ]] ||
    die "docker: signing key fingerprint is not $DOCKER_KEY_FPR"
  install -D -m 0644 "$TMP/d.asc" "$R$key"
  echo "deb [arch=$(dpkg --print-architecture) signed-by=$key] https://download.docker.com/linux/$id $code stable" \
    >"$R/etc/apt/sources.list.d/docker.list"
  APT_UPDATED=''
  apt_install docker-ce docker-ce-cli containerd.io docker-compose-plugin
  hash -r # not an older docker found before
}

#if gpu
ensure_gpu() {
  command -v nvidia-smi >/dev/null || die "gpu: no NVIDIA driver (nvidia-smi)"
  if command -v nvidia-ctk >/dev/null; then log "gpu: nvidia-ctk present" && return; fi
  log "gpu: installing nvidia-container-toolkit"
  local key=/etc/apt/keyrings/nvidia-container-toolkit.asc
  curl -fsSL --retry 5 --create-dirs https://nvidia.github.io/libnvidia-container/gpgkey -o "$R$key"
  echo "deb [signed-by=$key] https://nvidia.github.io/libnvidia-container/stable/deb/\$(ARCH) /" \
    >"$R/etc/apt/sources.list.d/nvidia-container-toolkit.list"
  APT_UPDATED=''
  apt_install nvidia-container-toolkit
  nvidia-ctk runtime configure --runtime=docker
  RESTART_DOCKER=1
}

#endif
docker_ready() {
  local out
  if command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
    log "docker: present"
  else
    install_docker
  fi
#if gpu
  ensure_gpu
#endif
  # Cap container logs, merged into daemon.json (nvidia-ctk keeps its runtimes there)
  out=$(python3 - "$R/etc/docker/daemon.json" <<'PY'
import json, os, sys
p = sys.argv[1]
d = json.loads(open(p).read() or "{}") if os.path.exists(p) else {}
n = {**d, "log-driver": "json-file", "log-opts": {**d.get("log-opts", {}), "max-size": "10m", "max-file": "3"}}
if n != d:
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p + ".tmp", "w").write(json.dumps(n, indent=2) + "\n")
    os.replace(p + ".tmp", p)
    print(1)
PY
  )
  if [[ $out || $RESTART_DOCKER ]]; then
    log "docker: restarting for daemon.json"
    systemctl restart docker
  fi
  systemctl is-active -q docker || systemctl enable --now docker
  wait_for 24 "docker daemon" docker info
  phase docker_ready
}

#if lmstudio
lms_run() { # the lms CLI as the service user, in its home (it finds the daemon from there)
  runuser -u "$LMS_USER" -- env HOME="$R$LMS_HOME" "$R$LMS" "$@"
}

# Where compose's host-gateway points: the daemon's host-gateway-ip, else the default bridge's gateway
bridge_address() {
  local ip
  ip=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("host-gateway-ip", ""))' \
    "$R/etc/docker/daemon.json" 2>/dev/null) || ip=''
  [[ $ip ]] || ip=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}} {{end}}')
  python3 - "$ip" <<'PY' || die "lmstudio: no private IPv4 address on the Docker bridge (got '$ip'); not binding LM Studio"
import ipaddress, sys
for word in sys.argv[1].split():
    try:
        a = ipaddress.ip_address(word)
    except ValueError:
        continue
    if a.version == 4 and a.is_private and not (a.is_loopback or a.is_unspecified or a.is_link_local):
        print(a)
        sys.exit(0)
sys.exit(1)
PY
}

# The vendor's installer, step by step at the pinned version (it cannot be pinned): download,
# SHA-512 against the pinned and the published sum, `llmster bootstrap` as the service user
install_llmster() {
  local arch platform='' pin sum pinned='' published d=$R$LMS_HOME/.llmhost-download
  arch=$(dpkg --print-architecture)
  for pin in "${LMS_PLATFORMS[@]}"; do [[ ${pin%%=*} == "$arch" ]] && platform=${pin#*=}; done
  [[ $platform ]] || die "lmstudio: llmster has no build for $arch"
  for pin in "${LMS_PINS[@]}"; do [[ ${pin%%=*} == "$platform" ]] && pinned=${pin#*=}; done
  log "lmstudio: downloading llmster $RUNTIME_VERSION ($platform)"
  rm -rf "$d" && mkdir -p "$d/x"
  curl -fsSL --retry 5 "$LMS_BASE/$RUNTIME_VERSION-$platform.full.tar.gz" -o "$d/llmster.tar.gz" ||
    die "lmstudio: download of llmster $RUNTIME_VERSION failed"
  published=$(curl -fsSL --retry 5 "$LMS_BASE/$RUNTIME_VERSION-$platform.full.sha512" | awk '{print tolower($1)}') ||
    published=''
  sum=$(sha512sum "$d/llmster.tar.gz" | awk '{print $1}')
  [[ $pinned || $published ]] || die "lmstudio: no SHA-512 for llmster $RUNTIME_VERSION (none pinned, none published)"
  [[ -z $pinned || $sum == "$pinned" ]] || die "lmstudio: llmster archive is not the one pinned by llmhost (SHA-512 $sum)"
  [[ -z $published || $sum == "$published" ]] || die "lmstudio: llmster archive does not match the vendor's SHA-512"
  log "lmstudio: SHA-512 verified (${pinned:+pinned}${pinned:+${published:+ and }}${published:+published})"
  tar -xzf "$d/llmster.tar.gz" -C "$d/x" || die "lmstudio: cannot unpack the llmster archive"
  chown -R "$LMS_USER:$LMS_USER" "$d"
  (cd "$d/x" && runuser -u "$LMS_USER" -- env HOME="$R$LMS_HOME" LMS_BOOTSTRAP_INSTALL_SH=1 LMS_NO_MODIFY_PATH=1 \
    ./llmster bootstrap) || die "lmstudio: llmster bootstrap failed"
  [[ -x $R$LMS ]] || die "lmstudio: llmster bootstrap installed no $LMS"
  echo "$RUNTIME_VERSION" >"$R$LMS_HOME/.llmhost-llmster"
  rm -rf "$d"
}

lmstudio_ready() {
  local was='' changed=''
  apt_install "${LMS_DEPS[@]}" curl
  id -u "$LMS_USER" >/dev/null 2>&1 ||
    useradd --system --user-group --home-dir "$LMS_HOME" --create-home --shell "$LMS_NOLOGIN" "$LMS_USER"
  mkdir -p "$R$LMS_HOME"
  if [[ $(cat "$R$LMS_HOME/.llmhost-llmster" 2>/dev/null) == "$RUNTIME_VERSION" && -x $R$LMS ]]; then
    log "lmstudio: llmster $RUNTIME_VERSION present"
  else
    install_llmster
  fi
  if [[ $MODELS_DIR ]]; then # the models on the models disk, through LM Studio's own folder
    mkdir -p "$R$MODELS_DIR/$LMS_MODELS_SUBDIR" "$R${LMS_MODELS_LINK%/*}"
    chown "$LMS_USER:$LMS_USER" "$R$MODELS_DIR/$LMS_MODELS_SUBDIR"
    [[ -L $R$LMS_MODELS_LINK ]] || rmdir "$R$LMS_MODELS_LINK" 2>/dev/null || [[ ! -e $R$LMS_MODELS_LINK ]] ||
      die "lmstudio: $LMS_MODELS_LINK holds files; move them to $MODELS_DIR/$LMS_MODELS_SUBDIR"
    ln -sfn "$MODELS_DIR/$LMS_MODELS_SUBDIR" "$R$LMS_MODELS_LINK"
  fi
  chown -R "$LMS_USER:$LMS_USER" "$R$LMS_HOME"
  LMS_BIND=$(bridge_address)
  printf 'LMS_SERVER_HOST=%s\nLMS_PORT=%s\n' "$LMS_BIND" "$LMS_PORT" >"$TMP/lms.env"
  if install_file "$TMP/lms.env" "$R$INSTALL_DIR/$LMS_ENV" 0644; then changed=1; fi
  if install_file "$R$INSTALL_DIR/$LMS_UNIT" "$R$SYSTEMD_DIR/$LMS_UNIT" 0644; then
    changed=1
    systemctl daemon-reload
  fi
  systemctl is-active -q "$LMS_UNIT" && was=1
  systemctl enable --now "$LMS_UNIT" || die "lmstudio: $LMS_UNIT did not start (journalctl -u $LMS_UNIT)"
  if [[ $was && ($changed || $OLD_DIGEST != "$BUNDLE_DIGEST") ]]; then
    log "lmstudio: settings changed, restarting $LMS_UNIT"
    systemctl restart "$LMS_UNIT"
  fi
  log "lmstudio: $LMS_UNIT serves on $LMS_BIND:$LMS_PORT (Docker bridge only)"
  wait_for 60 "LM Studio on $LMS_BIND:$LMS_PORT" curl -fsS "http://$LMS_BIND:$LMS_PORT/api/v0/models"
  phase runtime_ready
}

#endif
auto_upgrades() {
  local f=$R/etc/apt/apt.conf.d/20auto-upgrades
  apt_install unattended-upgrades
  grep -qs '^APT::Periodic::Unattended-Upgrade "1";' "$f" && grep -qs '^APT::Periodic::Update-Package-Lists "1";' "$f" &&
    return
  printf 'APT::Periodic::%s "1";\n' Update-Package-Lists Unattended-Upgrade >"$f"
  log "upgrades: unattended upgrades enabled"
}

#if ssm
imds() { # IMDSv2: a session token first
  local t
  t=$(curl -fsS -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)
  curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $t" "http://169.254.169.254/latest/meta-data/$1"
}

# Keys from SSM into proxy.env (0600). Never print a key.
refresh_keys() {
  local region=${AWS_REGION:-} raw out
  [[ $region ]] || region=$(imds placement/region)
  [[ $MODE != install ]] || log "keys: reading SSM $SSM_PARAMETER ($region)"
  if command -v aws >/dev/null; then
    raw=$(aws ssm get-parameter --region "$region" --name "$SSM_PARAMETER" --with-decryption \
      --query Parameter.Value --output text)
  else
    python3 -c 'import boto3' 2>/dev/null || apt_install python3-boto3
    raw=$(python3 -c 'import boto3, sys
print(boto3.client("ssm", region_name=sys.argv[1]).get_parameter(Name=sys.argv[2], WithDecryption=True)["Parameter"]["Value"])' \
      "$region" "$SSM_PARAMETER")
  fi
  # The value's format and its checks: bootstrap/key_parameter.py (both roles, with names).
  out=$(umask 077 && KEYS=$raw python3 - "$R$INSTALL_DIR/$PROXY_ENV" "$KEYS_VAR" "$ADMIN_KEYS_VAR" "$KEY_SEP" "$KEY_NAME_SEP" "$KEY_ENTRY_RE" <<'PY'
import json, os, re, sys
path, uvar, avar, sep, nsep, entry = sys.argv[1:]
try:
    doc = json.loads(os.environ["KEYS"])
    lines = {v: [n + nsep + k.strip() for n, k in doc.pop(r, {}).items()] for r, v in (("user", uvar), ("admin", avar))}
    keys = sum(lines.values(), [])
    pairs = [re.fullmatch(entry, x).groups() for x in keys]
    assert keys and not doc and all(len(set(c)) == len(keys) for c in zip(*pairs))
except Exception:
    sys.exit("keys: invalid parameter (see bootstrap/key_parameter.py)")
old = open(path).read() if os.path.exists(path) else ""
new = "".join(x + "\n" for x in old.splitlines() if not x.startswith((uvar + "=", avar + "=")))
new += "".join(v + "=" + sep.join(e) + "\n" for v, e in lines.items() if e)
if new != old:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    os.write(fd, new.encode())
    os.close(fd)
    os.replace(path + ".tmp", path)
os.chmod(path, 0o600)
print(len(keys), "keys", "changed" if new != old else "unchanged")
PY
  )
  # The timer runs this every minute: log only what changed.
  [[ $MODE == install || $out == *" changed" ]] && log "keys: $out in $PROXY_ENV"
  [[ $out != *" changed" ]] || CHANGED=1
}

#endif
# Rotation: Caddy reloads gracefully with the keys now in proxy.env (bootstrap/key_rotation.py)
reload_proxy() {
  if [[ -z $(dc ps --status running --quiet "$PROXY_SERVICE" 2>/dev/null) ]]; then
    log "keys: proxy not running; it reads $PROXY_ENV at start"
    return
  fi
  dc exec -T "$PROXY_SERVICE" "${PROXY_RELOAD[@]}" >/dev/null || die "keys: proxy reload failed ($PROXY_RELOAD_HINT)"
  log "keys: proxy reloaded with the keys in $PROXY_ENV"
}

refresh_keys_and_reload() {
#if ssm
  refresh_keys
  [[ $CHANGED ]] || return 0
#endif
  reload_proxy
}

start_service() {
  local was=''
  if install_file "$R$INSTALL_DIR/$UNIT_NAME" "$R$UNIT_PATH" 0644; then
    log "unit: $UNIT_PATH updated"
    systemctl daemon-reload
    CHANGED=1
  fi
  systemctl is-active -q "$UNIT_NAME" && was=1
  systemctl enable --now "$UNIT_NAME" || die "service: $UNIT_NAME did not start (journalctl -u $UNIT_NAME)"
  if [[ $was && ($CHANGED || $OLD_DIGEST != "$BUNDLE_DIGEST") ]]; then
    log "service: bundle changed, restarting"
    systemctl restart "$UNIT_NAME"
  fi
  log "service: $UNIT_NAME started"
}

#if ollama
listed() { # MODEL in ollama list? (no tag: latest; case ignored, as Ollama does)
  local m=$1
  [[ $m == *:* ]] || m+=:latest
  dc exec -T "$RUNTIME_SERVICE" ollama list | awk -v m="$m" 'NR>1 && tolower($1)==tolower(m) {f=1} END {exit !f}'
}

pull_models() {
  local m out
  wait_for 24 "$RUNTIME" dc exec -T "$RUNTIME_SERVICE" ollama list
  for m in "${MODELS[@]}"; do
    if listed "$m"; then log "models: $m present" && continue; fi
    log "models: pulling $m"
    out=$(dc exec -T "$RUNTIME_SERVICE" ollama pull "$m" 2>&1) || die "models: ollama pull $m failed: $(tail -n 1 <<<"$out")"
    listed "$m" || die "models: $m not listed after its pull"
  done
  phase models_pulled
}

warm() {
  reply=$(dc exec -T "$RUNTIME_SERVICE" ollama run "${MODELS[0]}" "Reply with OK.") || reply=''
  VERSION=$(dc exec -T "$RUNTIME_SERVICE" ollama --version | awk 'NR == 1 {print $NF}')
}
#elif llamacpp
pull_models() { # llama-server downloads its model at start; /health is 200 once loaded
  wait_for 720 "$RUNTIME to fetch and load ${MODELS[0]}" \
    dc exec -T "$RUNTIME_SERVICE" curl -fsS "http://localhost:$RUNTIME_PORT/health"
  phase models_pulled
}

warm() {
  reply=$(dc exec -T "$RUNTIME_SERVICE" curl -fsS "http://localhost:$RUNTIME_PORT/completion" \
    -H 'Content-Type: application/json' -d '{"prompt": "Reply with OK.", "n_predict": 8}') || reply=''
  VERSION=$RUNTIME_VERSION
}
#elif lmstudio
loaded() { # is MODEL loaded under its own name (lms ps --json: identifier)?
  lms_run ps --json | python3 -c 'import json, sys
sys.exit(sys.argv[1] not in {m.get("identifier") for m in json.load(sys.stdin)})' "$1"
}

served() { # does /v1/models list MODEL?
  curl -fsS "http://$LMS_BIND:$LMS_PORT/v1/models" | python3 -c 'import json, sys
sys.exit(sys.argv[1] not in {m.get("id") for m in json.load(sys.stdin)["data"]})' "$1"
}

pull_models() {
  local m out
  for m in "${MODELS[@]}"; do
    log "models: lms get $m"
    out=$(lms_run get "$m" --yes 2>&1) || die "models: lms get $m failed: $(tail -n 1 <<<"$out")"
    if loaded "$m"; then log "models: $m loaded" && continue; fi
    out=$(lms_run load "$m" --yes --identifier "$m" "${LMS_LOAD_ARGS[@]}" 2>&1) ||
      die "models: lms load $m failed: $(tail -n 1 <<<"$out")"
    wait_for 60 "$m in /v1/models" served "$m"
  done
  phase models_pulled
}

warm() {
  local body
  body=$(python3 -c 'import json, sys
print(json.dumps({"model": sys.argv[1], "messages": [{"role": "user", "content": "Reply with OK."}], "max_tokens": 8}))' \
    "${MODELS[0]}")
  reply=$(curl -fsS -m 600 "http://$LMS_BIND:$LMS_PORT/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "$body") || reply=''
  [[ $reply == *'"choices"'* ]] || reply='' # LM Studio answers some errors with 200 and {"error": ...}
  VERSION=$(lms_run daemon up --json | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p') || VERSION=''
  [[ $VERSION ]] || VERSION=$RUNTIME_VERSION
}
#elif vllm
pull_models() { # vLLM downloads its model at start and listens only once it is loaded
  wait_for 720 "$RUNTIME to fetch and load ${MODELS[0]}" \
    dc exec -T "$RUNTIME_SERVICE" curl -fsS "http://localhost:$RUNTIME_PORT/health"
  phase models_pulled
}

warm() { # a real generation through the OpenAI API; the served model is the only one
  reply=$(dc exec -T "$RUNTIME_SERVICE" curl -fsS "http://localhost:$RUNTIME_PORT/v1/completions" \
    -H 'Content-Type: application/json' -d '{"prompt": "Reply with OK.", "max_tokens": 8}') || reply=''
  [[ $reply == *'"text"'* ]] || reply=''
  VERSION=$RUNTIME_VERSION
}
#endif

write_ready() {
  if [[ $OLD_DIGEST == "$BUNDLE_DIGEST" ]]; then log "ready: $READY_FILE is current" && return; fi
  mkdir -p "$R${READY_FILE%/*}"
  python3 - "$R$READY_FILE" "$BUNDLE_DIGEST" "$RUNTIME" "$VERSION" "$T0" "${PHASES[*]}" "${MODELS[@]}" <<'PY'
import json, os, sys, time
path, digest, runtime, version, t0, phases, *models = sys.argv[1:]
iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))
doc = {"bundle_digest": digest, "runtime": runtime, "runtime_version": version, "models": models,
       "phases": {n: {"at": iso(t), "seconds": int(t) - int(t0)} for n, t in (p.split("=") for p in phases.split())},
       "started_at": iso(t0), "ready_at": iso(time.time())}
open(path + ".tmp", "w").write(json.dumps(doc, indent=2) + "\n")
os.replace(path + ".tmp", path)
PY
  log "ready: wrote $READY_FILE"
}

install_all() {
  log "install: bundle $BUNDLE_DIGEST, $RUNTIME ${MODELS[*]}"
  [[ -f $COMPOSE_FILE ]] || die "no $INSTALL_DIR/$COMPOSE_FILE: copy the bundle first"
  OLD_DIGEST=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["bundle_digest"])' \
    "$R$READY_FILE" 2>/dev/null) || OLD_DIGEST=''
  [[ $OLD_DIGEST == "$BUNDLE_DIGEST" ]] || rm -f "$R$READY_FILE"
#if balanced
  rm -f "$R$READY_MARKER_DIR/$READY_MARKER" # /readyz: 503 until this run's first token
  mkdir -p "$R$READY_MARKER_DIR"
#endif
#if volume
  mount_volume
#elif models_dir
  mkdir -p "$R$MODELS_DIR"
#endif
  docker_ready
  auto_upgrades
#if lmstudio
  lmstudio_ready
#endif
#if idle
  timer "$IDLE_SERVICE" "$IDLE_TIMER" # early: a server whose install fails still stops
  log "idle stop: on, after $IDLE_MINUTES min without an authenticated request"
#else
  if [[ -e $R$SYSTEMD_DIR/$IDLE_TIMER ]]; then # a previous bundle had idle stop
    systemctl disable --now "$IDLE_TIMER"
    rm -f "$R$SYSTEMD_DIR/$IDLE_TIMER" "$R$SYSTEMD_DIR/$IDLE_SERVICE"
    systemctl daemon-reload
    log "idle stop: off, $IDLE_TIMER removed"
  fi
#endif
#if ssm
  refresh_keys
  timer "$KEYS_SERVICE" "$KEYS_TIMER"
  log "keys: $KEYS_TIMER looks for rotated keys in SSM"
#endif
  dc pull --quiet || die "images: docker compose pull failed"
  phase images_pulled
  start_service
  pull_models
  warm
  [[ $reply ]] || die "warm: ${MODELS[0]} gave no token (docker compose -p $PROJECT logs $RUNTIME_SERVICE)"
  phase first_token
  write_ready
#if balanced
  : >"$R$READY_MARKER_DIR/$READY_MARKER"
  log "ready: $READINESS_PATH answers 200"
#endif
  log "install: done in $(($(date +%s) - T0))s"
}

main() {
  [[ $R || $EUID == 0 ]] || die "run as root"
  if [[ -z ${LLMHOST_TEED:-} ]]; then # run again, all output copied to the log
    mkdir -p "$R${INSTALL_LOG%/*}"
#if idle
    mkdir -p "$R${INSTALL_LOCK%/*}" # held (shared) while running: idle stop never powers off then
    LLMHOST_TEED=1 flock -s -o "$R$INSTALL_LOCK" bash "$0" "$@" 2>&1 | tee -a "$R$INSTALL_LOG"
#else
    LLMHOST_TEED=1 bash "$0" "$@" 2>&1 | tee -a "$R$INSTALL_LOG"
#endif
    exit
  fi
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  cd "$R$INSTALL_DIR"
  MODE=${1:-install}
  case $MODE in
    install) install_all ;;
    refresh-keys) refresh_keys_and_reload ;;
    *) die "usage: bash $0 [install|refresh-keys]" ;;
  esac
}

main "$@"
