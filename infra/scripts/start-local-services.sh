#!/usr/bin/env bash
# Starts the machine's PostgreSQL (Debian packages) when it is down; no Docker needed.
set -euo pipefail
if pg_isready -h 127.0.0.1 -p 5432 -q; then echo "PostgreSQL answers on 127.0.0.1:5432"; exit 0; fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && { echo "PostgreSQL started"; exit 0; }; sleep 1; done
echo "PostgreSQL did not start" >&2; exit 1
