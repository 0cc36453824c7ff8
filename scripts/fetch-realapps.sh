#!/usr/bin/env bash
# Fetch the real Go apps of the realapps test tier (tests/realapps/apps.txt) before the tests run:
# each version with `go mod download` from the Go module proxy (its hash checked against the checksum
# database), copied to .fixproof-cache/realapps/src/<name>@<version> (writable, gitignored) and made a
# git repository whose HEAD is tagged <version>, as a `git clone` of the app at that tag would be (so
# the build stamps vcs.revision and, from Go 1.24, the main module's version). Idempotent: a version
# already in place (its .fixproof-fetched stamp present) is not fetched again. Needs go and git on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIST=tests/realapps/apps.txt
CACHE=${FIXPROOF_REALAPPS_CACHE:-$ROOT/.fixproof-cache/realapps}
SRC=$CACHE/src
export GOMODCACHE=$CACHE/gomod GOFLAGS=-modcacherw GOTOOLCHAIN=local GO111MODULE=on

command -v go >/dev/null || { echo "fetch-realapps: go is not on PATH (needed for go mod download)" >&2; exit 1; }
command -v git >/dev/null || { echo "fetch-realapps: git is not on PATH" >&2; exit 1; }
mkdir -p "$SRC" "$GOMODCACHE"

fetch() {  # name module version
    local name=$1 module=$2 version=$3 dst="$SRC/$1@$3"
    [ -f "$dst/.git/fixproof-fetched" ] && return 0
    echo "fetch-realapps: go mod download $module@$version"
    local json dir tmp
    tmp=$(mktemp -d)
    json=$(cd "$tmp" && go mod download -json "$module@$version") || { rm -rf "$tmp"; echo "$json" >&2; exit 1; }
    rm -rf "$tmp"
    dir=$(printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir","")); sys.exit(1 if d.get("Error") else 0)') \
        || { echo "fetch-realapps: $module@$version: $json" >&2; exit 1; }
    rm -rf "$dst.tmp" "$dst"
    cp -r "$dir" "$dst.tmp"
    chmod -R u+w "$dst.tmp"
    (
        cd "$dst.tmp"
        export GIT_AUTHOR_NAME=fixproof GIT_AUTHOR_EMAIL=fixproof@localhost GIT_COMMITTER_NAME=fixproof \
               GIT_COMMITTER_EMAIL=fixproof@localhost GIT_AUTHOR_DATE=2000-01-01T00:00:00Z \
               GIT_COMMITTER_DATE=2000-01-01T00:00:00Z
        git init -q -b main .
        git -c core.autocrlf=false add -A -f .
        git -c commit.gpgsign=false commit -q -m "$module $version from the Go module proxy"
        git -c tag.gpgsign=false tag "$version"
        touch .git/fixproof-fetched
    )
    mv "$dst.tmp" "$dst"
}

while read -r name module vulnerable fixed; do
    case "$name" in ''|'#'*) continue ;; esac
    fetch "$name" "$module" "$vulnerable"
    fetch "$name" "$module" "$fixed"
done < "$LIST"
echo "fetch-realapps: sources in $SRC"
