#!/usr/bin/env bash
# Ensures the Apache Kafka broker's classpath (deploy/kafka/pom.xml, from Maven Central) is
# copied into .cache/kafka/<version>/lib, then prints that directory (and nothing else) on
# stdout. Idempotent: the stamp is written last and records the pom's hash, so an interrupted
# copy or an edited pom is fetched again. Used by .ci/run and by test/services/kafka.ts.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pom="$root/deploy/kafka/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1)"
[ -n "$version" ] || { echo "kafka-jars: no <kafka.version> in $pom" >&2; exit 1; }
dir="$root/.cache/kafka/$version"
lib="$dir/lib"
stamp="$dir/complete"
want="$(sha256sum "$pom" | cut -d' ' -f1)"

complete() { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$lib" ]; }

if ! complete; then
  mkdir -p "$dir"
  # Test files run in parallel workers and each may get here on a fresh machine: one fetches,
  # the others wait and then find the stamp.
  exec 9>"$dir/.lock"
  flock 9
  if ! complete; then
    echo "kafka-jars: fetching Kafka $version into $lib" >&2
    rm -rf "$lib" "$stamp"
    # stdout goes to stderr: callers read this script's stdout as the path.
    mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$lib" 1>&2
    ls "$lib"/kafka_2.13-"$version".jar >/dev/null
    echo "$want" >"$stamp"
  fi
  flock -u 9
fi
echo "$lib"
