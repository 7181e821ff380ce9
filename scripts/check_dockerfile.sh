#!/usr/bin/env bash
# Checks the Dockerfile without a Docker engine: interprets its instructions one by one in
# clean Debian bookworm roots made with debootstrap, then starts the final stage the way
# `docker run` would and runs its HEALTHCHECK. See docs/docker-check.md for what this does and
# does not prove.
#
#   sudo scripts/check_dockerfile.sh            # from the repository root, as root
#
# Environment:
#   WORK        scratch folder (default /tmp/dockercheck); emptied first, stage roots removed at
#               the end unless KEEP=1; logs stay in $WORK/logs
#   BASE        debootstrap --variant=minbase root used for every debian:bookworm-slim stage
#               (default /tmp/deb-root; made if absent, never removed by this script)
#   MIRROR      Debian mirror (default: the first URIs: in /etc/apt/sources.list.d/debian.sources)
#   TARGET_DIR  cargo target dir for the build stage (default $CARGO_TARGET_DIR, else
#               /root/.cache/hotline-triage/target: reuses compiled dependencies)
#   CONTEXT     folder used as the build context (default: the repository); give a snapshot
#               when the working tree is mid-edit. .dockerignore is applied to it either way.
#   READY_S     how long to wait for the HEALTHCHECK to pass (default 240)
#
# Supported instructions: FROM (rust:* = build on the host toolchain; debian:bookworm-slim =
# copy of $BASE), WORKDIR, COPY [--from=stage], RUN, ENV k=v, USER, EXPOSE, VOLUME,
# HEALTHCHECK ... CMD <shell>, ENTRYPOINT/CMD (JSON form). Anything else fails loudly.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DOCKERFILE=${DOCKERFILE:-$REPO/Dockerfile}
CONTEXT=${CONTEXT:-$REPO}
WORK=${WORK:-/tmp/dockercheck}
BASE=${BASE:-/tmp/deb-root}
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-/root/.cache/hotline-triage/target}}
READY_S=${READY_S:-240}
NETNS=dockercheck$$
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-${MIRROR%/debian}/debian-security}
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

[ "$(id -u)" = 0 ] || { echo "run as root (chroot, mount, ip netns)" >&2; exit 2; }
[ -f "$DOCKERFILE" ] || { echo "no Dockerfile at $DOCKERFILE" >&2; exit 2; }

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$WORK/report.txt"; }
fail() { log "FAIL: $*"; exit 1; }

# ---- clean-up: unmount before anything is removed; never rm a root with a mount inside ----
MOUNTS=()
SERVER_PID=
cleanup() {
    set +e
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
    for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}"; done
    ip netns del "$NETNS" 2>/dev/null
    if [ "${KEEP:-0}" != 1 ] && [ -d "$WORK" ]; then
        if grep -q " $WORK/" /proc/mounts; then
            echo "mounts left under $WORK; not removing the stage roots" >&2
        else
            rm -rf "$WORK"/stage-* "$WORK"/context
        fi
    fi
}
trap cleanup EXIT
mount_into() { # type-or-bind source target
    mkdir -p "$3"
    if [ "$1" = bind ]; then mount --bind "$2" "$3"; else mount -t "$1" "$2" "$3"; fi
    MOUNTS+=("$3")
}

if [ -d "$WORK" ]; then
    grep -q " $WORK/" /proc/mounts && fail "mounts under $WORK from an earlier run; unmount them first"
    rm -rf "$WORK"
fi
mkdir -p "$WORK/logs"
: > "$WORK/report.txt"
log "Dockerfile: $DOCKERFILE (sha256 $(sha256sum "$DOCKERFILE" | cut -c1-16))"
log "repository: $REPO at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') ($(git -C "$REPO" status --porcelain 2>/dev/null | wc -l) uncommitted paths); build context from $CONTEXT"

# ---- the base root: debian bookworm, minbase, made to look like debian:bookworm-slim ----
if [ ! -x "$BASE/bin/sh" ]; then
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    log "debootstrap --variant=minbase bookworm $BASE $MIRROR"
    nice -n 19 debootstrap --variant=minbase bookworm "$BASE" "$MIRROR" > "$WORK/logs/debootstrap.log" 2>&1
fi
log "base root: Debian $(cat "$BASE/etc/debian_version"), glibc $(chroot "$BASE" /usr/bin/ldd --version | head -1 | awk '{print $NF}')"

new_debian_root() { # dir
    cp -a "$BASE" "$1"
    rm -f "$1/etc/apt/sources.list"
    # What debian:bookworm-slim ships: bookworm, bookworm-updates, bookworm-security.
    cat > "$1/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # The slim image has no package lists and no .deb cache, and the official images' apt
    # settings (docker-clean) keep it that way after each install. Slim also drops docs, man
    # pages and translations (an approximation of debuerreotype's slimify list).
    rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb
    cat > "$1/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    mkdir -p "$1/etc/dpkg/dpkg.cfg.d"
    cat > "$1/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/overrides/*
EOF
    find "$1/usr/share/doc" -type f ! -name copyright -delete
    rm -rf "$1"/usr/share/info/* "$1"/usr/share/man/* "$1"/usr/share/locale/* "$1"/usr/share/lintian/overrides/*
    cp /etc/resolv.conf "$1/etc/resolv.conf"
    # Deviation (this machine only): HTTPS here goes through an intercepting proxy whose CA
    # the stock Debian bundle does not trust. update-ca-certificates (run when a RUN installs
    # ca-certificates) picks these up. A Docker build behind the same proxy would need the same.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$1/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"
    fi
}

# ---- parse: drop comments, join continuation lines ----
parse() {
    awk '
    /^[[:space:]]*#/ { next }
    {
        buf = (buf == "") ? $0 : buf " " $0
        if (buf ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, "", buf); next }
        if (buf ~ /^[[:space:]]*$/) { buf = ""; next }
        sub(/^[[:space:]]+/, "", buf); print buf; buf = ""
    }' "$DOCKERFILE"
}
json_words() { python3 -c 'import json,shlex,sys; print(" ".join(map(shlex.quote, json.loads(sys.argv[1]))))' "$1"; }

# ---- the build context: the repository less .dockerignore ----
CTX=$WORK/context
mkdir -p "$CTX"
excl=()
if [ -f "$REPO/.dockerignore" ]; then
    while IFS= read -r p; do
        p=${p%%#*}; p=${p%/}; p=$(echo "$p" | xargs); [ -z "$p" ] && continue
        if [[ $p == '**/'* ]]; then excl+=(--no-anchored "--exclude=${p#\*\*/}"); else excl+=(--anchored "--exclude=./$p"); fi
    done < "$REPO/.dockerignore"
fi
tar -C "$CONTEXT" -cf - "${excl[@]}" . | tar -C "$CTX" -xf -
log "build context ($CONTEXT less .dockerignore): $(du -sh "$CTX" | cut -f1)"

declare -A STAGE_ROOT
n=-1; ROOT=; CWD=/; KIND=; USER_=; ENVS=(); EXPOSED=(); VOLUMES=(); HC_OPTS=; HC_CMD=; ENTRY=; CMD_=
run_in_stage() { # shell command, run like a RUN instruction
    local cmd=$1 spec=()
    if [ -n "$USER_" ]; then spec=(--userspec="$(resolve_user "$USER_")"); fi
    chroot "${spec[@]}" "$ROOT" /usr/bin/env -i PATH="$DEFAULT_PATH" HOME=/root "${ENVS[@]}" \
        /bin/sh -c "cd $CWD && $cmd" < /dev/null
}
resolve_user() { # name or uid -> uid:gid from the stage's own /etc/passwd
    local u=$1 line
    line=$(awk -F: -v u="$u" '$1==u || $3==u {print $3":"$4; exit}' "$ROOT/etc/passwd")
    [ -n "$line" ] || fail "USER $u not in $ROOT/etc/passwd"
    echo "$line"
}
du_k() { du -sk --exclude=proc "$1" | cut -f1; }

while IFS= read -r -u 3 line; do
    kw=${line%% *}; args=${line#"$kw"}; args=${args# }
    case ${kw^^} in
    FROM)
        n=$((n+1)); image=$(echo "$args" | awk '{print $1}'); name=$(echo "$args" | awk 'toupper($2)=="AS"{print $3}')
        ROOT=$WORK/stage-$n; CWD=/; USER_=; ENVS=()
        case $image in
        rust:*) KIND=host; mkdir -p "$ROOT"
            log "stage $n ($name): FROM $image -> host toolchain ($(rustc --version)); glibc $(ldd --version | head -1 | awk '{print $NF}') on $(. /etc/os-release; echo "$PRETTY_NAME")" ;;
        debian:bookworm-slim) KIND=debian; new_debian_root "$ROOT"
            mount_into proc proc "$ROOT/proc"
            log "stage $n (${name:-final}): FROM $image -> copy of the debootstrap root ($((  $(du_k "$ROOT") / 1024 )) MiB)" ;;
        *) if [ -n "${STAGE_ROOT[$image]:-}" ]; then fail "FROM <earlier stage> not supported"; fi
           fail "unsupported base image $image" ;;
        esac
        STAGE_ROOT[$n]=$ROOT; [ -n "$name" ] && STAGE_ROOT[$name]=$ROOT ;;
    WORKDIR)
        [[ $args == /* ]] || args=$CWD/$args; CWD=$args; mkdir -p "$ROOT$CWD"; log "  WORKDIR $CWD" ;;
    ENV)
        [[ $args == *=* ]] || args="${args%% *}=${args#* }"; ENVS+=("$args"); log "  ENV $args" ;;
    COPY)
        read -r -a words <<< "$args"; from=
        if [[ ${words[0]} == --from=* ]]; then from=${words[0]#--from=}; words=("${words[@]:1}"); fi
        [[ ${words[0]} == --* ]] && fail "COPY option ${words[0]} not supported"
        dst=${words[-1]}; srcs=("${words[@]:0:${#words[@]}-1}")
        [[ $dst == /* ]] || dst=$CWD/$dst
        srcroot=$CTX; [ -n "$from" ] && srcroot=${STAGE_ROOT[$from]:?unknown stage $from}
        before=$(du_k "$ROOT")
        for s in "${srcs[@]}"; do
            src=$srcroot/${s#/}
            [ -e "$src" ] || fail "COPY ${from:+--from=$from }$s: not there (Docker would fail the build here)"
            if [ -d "$src" ]; then mkdir -p "$ROOT$dst"; cp -R --preserve=mode,timestamps "$src/." "$ROOT$dst/"
            elif [[ $dst == */ ]] || [ ${#srcs[@]} -gt 1 ]; then mkdir -p "$ROOT$dst"; cp --preserve=mode,timestamps "$src" "$ROOT$dst/"
            else mkdir -p "$(dirname "$ROOT$dst")"; cp --preserve=mode,timestamps "$src" "$ROOT$dst"; fi
        done
        log "  COPY ${from:+--from=$from }${srcs[*]} -> $dst (+$(( ($(du_k "$ROOT") - before) / 1024 )) MiB)" ;;
    RUN)
        t0=$(date +%s); before=$(du_k "$ROOT"); rlog=$WORK/logs/stage$n-run$(date +%s%N).log
        if [ "$KIND" = host ]; then
            [[ $args == "cargo build"* ]] || fail "build stage: only 'cargo build' is reproduced on the host, got: $args"
            log "  RUN $args  (host, CARGO_TARGET_DIR=$TARGET_DIR, nice 19)"
            (cd "$ROOT$CWD" && CARGO_TARGET_DIR=$TARGET_DIR nice -n 19 $args) > "$rlog" 2>&1 \
                || { tail -30 "$rlog"; fail "build stage RUN failed (log $rlog)"; }
            # Put the outputs where Docker's build stage would have them (./target/release).
            mkdir -p "$ROOT$CWD/target/release"
            cp --preserve=mode,timestamps "$TARGET_DIR/release/triage" "$ROOT$CWD/target/release/triage"
            if grep -q 'Compiling hotline-triage' "$rlog"; then log "    cargo compiled hotline-triage from this context"
            else log "    cargo found hotline-triage fresh in $TARGET_DIR (same sources built before)"; fi
            log "    built target/release/triage: $(( $(stat -c %s "$ROOT$CWD/target/release/triage") / 1048576 )) MiB, needs up to $(objdump -T "$ROOT$CWD/target/release/triage" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
        else
            log "  RUN $args"
            run_in_stage "$args" > "$rlog" 2>&1 || { tail -30 "$rlog"; fail "RUN failed (log $rlog)"; }
        fi
        log "    ok in $(( $(date +%s) - t0 )) s, +$(( ($(du_k "$ROOT") - before) / 1024 )) MiB (log $(basename "$rlog"))" ;;
    USER) USER_=$args; log "  USER $args -> $(resolve_user "$args")" ;;
    EXPOSE) EXPOSED+=($args); log "  EXPOSE $args" ;;
    VOLUME) VOLUMES+=("$args"); log "  VOLUME $args" ;;
    HEALTHCHECK)
        [[ $args == *" CMD "* ]] || fail "HEALTHCHECK without CMD"
        HC_OPTS=${args%% CMD *}; HC_CMD=${args#* CMD }; log "  HEALTHCHECK $HC_OPTS CMD $HC_CMD" ;;
    ENTRYPOINT) ENTRY=$(json_words "$args"); log "  ENTRYPOINT $ENTRY" ;;
    CMD) CMD_=$(json_words "$args"); log "  CMD $CMD_" ;;
    *) fail "instruction $kw not supported by this check" ;;
    esac
done 3< <(parse)

[ "$KIND" = debian ] || fail "the final stage is not a debian:bookworm-slim stage"
FINAL=$ROOT
PORT=${EXPOSED[0]%/*}
if [[ $CMD_ == *":$PORT"* && $HC_CMD == *":$PORT/"* ]]; then log "port $PORT: EXPOSEd, in CMD --addr and in the HEALTHCHECK URL"
else fail "EXPOSE ($PORT), CMD ($CMD_) and HEALTHCHECK ($HC_CMD) disagree on the port"; fi

# ---- docker run: own network namespace (loopback only, no outside network), as USER ----
log "run: final stage in a private network namespace (lo only: proves it starts offline)"
ip netns add "$NETNS"; ip -n "$NETNS" link set lo up
[ -n "$USER_" ] || fail "no USER in the final stage (the image would run as root)"
UG=$(resolve_user "$USER_"); UID_=${UG%:*}; GID_=${UG#*:}
HOME_=$(awk -F: -v u="$UID_" '$3==u {print $6; exit}' "$FINAL/etc/passwd")
[ "$UID_" != 0 ] || fail "USER resolves to root"
log "  user $USER_ = uid $UID_ gid $GID_ home $HOME_"
in_container() { # command... (shell string) run like `docker exec` as the image's USER
    ip netns exec "$NETNS" chroot --userspec="$UID_:$GID_" --groups="$GID_" "$FINAL" \
        /usr/bin/env -i PATH="$DEFAULT_PATH" HOME="$HOME_" HOSTNAME=dockercheck "${ENVS[@]}" /bin/sh -c "cd $CWD && $1"
}
SLOG=$WORK/logs/serve.log
T0=$(date +%s.%N)
ip netns exec "$NETNS" chroot --userspec="$UID_:$GID_" --groups="$GID_" "$FINAL" \
    /usr/bin/env -i PATH="$DEFAULT_PATH" HOME="$HOME_" HOSTNAME=dockercheck "${ENVS[@]}" \
    /bin/sh -c "cd $CWD && exec $ENTRY $CMD_" > "$SLOG" 2>&1 < /dev/null &
SERVER_PID=$!
log "  started: $ENTRY $CMD_ (pid $SERVER_PID)"

ready=; tries=0
while [ $(( $(date +%s) - ${T0%.*} )) -lt "$READY_S" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -30 "$SLOG"; fail "the server exited before it was healthy"; }
    tries=$((tries+1)); h0=$(date +%s.%N)
    if out=$(in_container "$HC_CMD" 2>&1); then
        ready=$(date +%s.%N); hc_s=$(echo "$ready - $h0" | bc); break
    fi
    sleep 1
done
[ -n "$ready" ] || { tail -30 "$SLOG"; fail "HEALTHCHECK did not pass within $READY_S s"; }
log "  HEALTHCHECK command passed after $(printf '%.1f' "$(echo "$ready - $T0" | bc)") s ($tries tries; that call took $(printf '%.2f' "$hc_s") s): $out"
log "  ($HC_OPTS: Docker counts failures only after the start period)"

status=$(in_container "curl -s -o /tmp/classify.json -w '%{http_code} %{time_total}' -XPOST localhost:$PORT/v1/classify -H 'content-type: application/json' -d '{\"text\":\"楼下饭馆油烟很大\"}'" || true)
body=$(cat "$FINAL/tmp/classify.json"); rm -f "$FINAL/tmp/classify.json"
log "  POST /v1/classify -> HTTP ${status% *} in ${status#* } s: $(echo "$body" | head -c 600)"
[ "${status% *}" = 200 ] || fail "classify did not answer 200"
echo "$body" > "$WORK/logs/classify.json"

puid=$(awk '/^Uid:/{print $2"/"$3}' "/proc/$SERVER_PID/status"); pcomm=$(cat "/proc/$SERVER_PID/comm")
log "  process $SERVER_PID ($pcomm) runs as uid(real/effective) $puid"
[ "$puid" = "$UID_/$UID_" ] || fail "the server does not run as uid $UID_"
for v in "${VOLUMES[@]}"; do
    d=$(json_words "$v"); d=${d//\'/}
    log "  $d: $(stat -c 'owner %u group %g mode %a' "$FINAL$d"); contents: $(ls -ln "$FINAL$d" | tail -n +2 | awk '{print $NF" uid "$3" "$5" B"}' | paste -sd, -)"
    in_container "touch $d/.write-test && rm $d/.write-test" && log "  user $UID_ can write $d" || fail "user $UID_ cannot write $d"
done
if in_container "touch $CWD/models/.write-test" 2>/dev/null; then
    rm -f "$FINAL$CWD/models/.write-test"; log "  note: user $UID_ can write $CWD/models"
else log "  user $UID_ cannot write $CWD/models (root-owned, as intended)"; fi

t_term=$(date +%s.%N); kill -TERM "$SERVER_PID"
rc=0; wait "$SERVER_PID" || rc=$?
SERVER_PID=
log "  SIGTERM -> exit status $rc after $(printf '%.2f' "$(echo "$(date +%s.%N) - $t_term" | bc)") s; last log lines:"
tail -3 "$SLOG" | sed 's/^/      /' | tee -a "$WORK/report.txt"
[ "$rc" = 0 ] || fail "not a clean exit on SIGTERM"

written=$(find "$FINAL" -xdev -uid "$UID_" ! -path "$FINAL/proc/*" | sed "s|^$FINAL||" | paste -sd' ' -)
log "  everything uid $UID_ owns after the run (what it wrote): $written"

# ---- sizes ----
log "sizes (final stage):"
for p in /usr/local/bin/triage "$CWD/models" "$CWD/models/encoder" "$CWD/models/examples" "$CWD/models/heads"; do
    [ -e "$FINAL$p" ] && log "  $(du -sh "$FINAL$p" | cut -f1)  $p"
done
log "  base root $(( $(du_k "$BASE") / 1024 )) MiB as debootstrapped (its apt lists/cache dropped in each stage); final root $(( $(du_k "$FINAL") / 1024 )) MiB"
log "PASS"
