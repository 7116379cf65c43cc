#!/usr/bin/env bash
# Fetches the third-party C sources into build/deps, pinned by version and checked by sha256.
# They are never committed. SQLite's amalgamation comes from the better-sqlite3 npm tarball
# (npm pack downloads it without running any build); cJSON from Debian's source package, with
# Debian's security patches applied by dpkg-source.
set -euo pipefail
out=${1:-build/deps}
mkdir -p "$out"
cd "$out"

SQLITE_PKG=better-sqlite3@12.11.1
SQLITE_TGZ_SHA=ebf0ed75a7a59dbcb3b24bbd014ef49d9f15bc328e4adcbf516f2a8fadfa2835
SQLITE_C_SHA=60d2f39a3726cd6b9021da6f4e868608d66fbb6528a9f513dc8ffcc640493422
CJSON_VER=1.7.15-1+deb12u4
CJSON_C_SHA=5c5ab83a24eecfebc25b6aa4d47dbdb5f23d1baec92de75fec5f0528dbe255a7
CJSON_H_SHA=c25b54ebc98e814eb7b3eeaf12ce899806f87ff5a275b20a3b77dbb3968e5d0b

check() { # file sha
  local got; got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then echo "deps: $1: sha256 $got, expected $2" >&2; exit 1; fi
}

if [ ! -f sqlite3.c ] || ! echo "$SQLITE_C_SHA  sqlite3.c" | sha256sum -c --status; then
  rm -rf sqlite-pkg && mkdir sqlite-pkg
  (cd sqlite-pkg && npm pack --silent "$SQLITE_PKG" >/dev/null)
  check sqlite-pkg/better-sqlite3-12.11.1.tgz "$SQLITE_TGZ_SHA"
  tar -xzf sqlite-pkg/better-sqlite3-12.11.1.tgz -C sqlite-pkg package/deps/sqlite3
  cp sqlite-pkg/package/deps/sqlite3/sqlite3.c sqlite-pkg/package/deps/sqlite3/sqlite3.h .
  rm -rf sqlite-pkg
  check sqlite3.c "$SQLITE_C_SHA"
fi

if [ ! -f cJSON.c ] || ! echo "$CJSON_C_SHA  cJSON.c" | sha256sum -c --status; then
  rm -rf cjson-src && mkdir cjson-src
  (cd cjson-src && apt-get source -qq "cjson=$CJSON_VER" >/dev/null 2>&1) || {
    echo "deps: 'apt-get source cjson=$CJSON_VER' failed (run 'make setup' as root for the deb-src entry)" >&2; exit 1; }
  cp cjson-src/cjson-1.7.15/cJSON.c cjson-src/cjson-1.7.15/cJSON.h .
  rm -rf cjson-src
  check cJSON.c "$CJSON_C_SHA"
  check cJSON.h "$CJSON_H_SHA"
fi
