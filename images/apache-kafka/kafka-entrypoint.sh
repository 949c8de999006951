#!/bin/bash
# Entrypoint of pipechaos/apache-kafka. Behaves like the official
# apache/kafka image where pipechaos relies on it:
#
#   - Every KAFKA_* environment variable (except the JVM and tooling ones
#     listed in skip below) becomes a server property: KAFKA_ stripped,
#     lower case, "_" -> "."; a literal "_" is written "__" and a "-" is
#     written "___" (KAFKA_LISTENER_NAME_BROKER_PLAIN___X -> ...plain-x).
#   - CLUSTER_ID is the KRaft cluster id. The log directories are formatted
#     with it on the first start only (kafka.tools.StorageTool format);
#     a start that finds meta.properties keeps the data.
#   - log.dirs defaults to /var/lib/kafka/data, a volume: data survives
#     docker stop / kill / start of the same container.
#   - KAFKA_HEAP_OPTS (default -Xmx256m -Xms256m), KAFKA_JVM_PERFORMANCE_OPTS
#     and KAFKA_OPTS go to the JVM; logs go to stdout.
#
# kafka-entrypoint.sh --print-config prints the server properties the
# environment makes and exits (no JVM, no storage): what the tests check.
set -euo pipefail

home=/opt/kafka
conf=/opt/kafka/config/server.properties
classpath="$home/libs/*"
log4j="-Dlog4j2.configurationFile=$home/config/log4j2.properties"

skip=" KAFKA_HEAP_OPTS KAFKA_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_LOG4J_OPTS KAFKA_GC_LOG_OPTS KAFKA_JMX_OPTS KAFKA_JMX_PORT KAFKA_JMX_HOSTNAME KAFKA_LOG4J_ROOT_LOGLEVEL KAFKA_LOG4J_LOGGERS KAFKA_TOOLS_LOG4J_LOGLEVEL KAFKA_VERSION KAFKA_HOME "

# property NAME: the server property an environment variable stands for.
property() {
	local p="${1#KAFKA_}"
	p="${p,,}"
	p="${p//___/-}"
	p="${p//__/$'\x01'}"
	p="${p//_/.}"
	echo "${p//$'\x01'/_}"
}

# --train-cds (image build only): format and start a throwaway one-node
# cluster under -XX:ArchiveClassesAtExit, stop it once it has started, and
# keep the two archives in $home/cds.
if [ "${1:-}" = "--train-cds" ]; then
	t=/tmp/cds-train
	mkdir -p "$t/data" "$home/cds"
	cat >"$t/server.properties" <<-PROPS
		node.id=1
		process.roles=broker,controller
		listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093
		controller.listener.names=CONTROLLER
		controller.quorum.voters=1@127.0.0.1:19093
		listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
		log.dirs=$t/data
		offsets.topic.replication.factor=1
	PROPS
	java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ArchiveClassesAtExit="$home/cds/storage.jsa" $log4j -cp "$classpath" \
		kafka.tools.StorageTool format -t cGlwZWNoYW9zLWNkcy10cmFpbg -c "$t/server.properties" >"$t/format.log" 2>&1 || { cat "$t/format.log"; exit 1; }
	java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ArchiveClassesAtExit="$home/cds/broker.jsa" $log4j -cp "$classpath" \
		kafka.Kafka "$t/server.properties" >"$t/broker.log" 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		grep -q "Kafka Server started" "$t/broker.log" && break
		kill -0 "$pid" 2>/dev/null || { cat "$t/broker.log"; exit 1; }
		sleep 0.5
	done
	grep -q "Kafka Server started" "$t/broker.log" || { tail -50 "$t/broker.log"; echo "kafka-entrypoint: the training broker did not start" >&2; exit 1; }
	kill -TERM "$pid"
	wait "$pid" || true
	rm -rf "$t"
	ls -l "$home/cds"
	[ -s "$home/cds/broker.jsa" ] && [ -s "$home/cds/storage.jsa" ]
	exit
fi

if [ -z "${KAFKA_PROCESS_ROLES:-}" ]; then
	echo "kafka-entrypoint: KAFKA_PROCESS_ROLES is not set; this image runs KRaft nodes configured through KAFKA_* variables (KAFKA_NODE_ID, KAFKA_PROCESS_ROLES, KAFKA_LISTENERS, KAFKA_CONTROLLER_QUORUM_VOTERS, ...)" >&2
	exit 2
fi
if [ -z "${CLUSTER_ID:-}" ]; then
	echo "kafka-entrypoint: CLUSTER_ID is not set; give every node of a cluster the same id (kafka.tools.StorageTool random-uuid makes one)" >&2
	exit 2
fi

properties() {
	echo "# written by kafka-entrypoint from the KAFKA_* environment"
	[ -n "${KAFKA_LOG_DIRS:-}" ] || echo "log.dirs=/var/lib/kafka/data"
	while IFS='=' read -r name _; do
		case "$skip" in *" $name "*) continue ;; esac
		echo "$(property "$name")=${!name}"
	done < <(env | grep -E '^KAFKA_[A-Za-z0-9_]+=' | sort)
}
if [ "${1:-}" = "--print-config" ]; then
	properties
	exit 0
fi
mkdir -p "$(dirname "$conf")"
properties >"$conf"

# Class-data sharing: the image build (--train-cds) ran a broker once and
# archived the classes it loaded; the JVMs here map that archive instead
# of loading and verifying ~4000 classes each (a large share of a start on
# a loaded machine). A mismatching archive only prints a warning.
cds_storage="" cds_broker=""
[ -f "$home/cds/storage.jsa" ] && cds_storage="-XX:SharedArchiveFile=$home/cds/storage.jsa"
[ -f "$home/cds/broker.jsa" ] && cds_broker="-XX:SharedArchiveFile=$home/cds/broker.jsa"

logdirs="${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
first="${logdirs%%,*}"
if [ ! -f "$first/meta.properties" ]; then
	echo "kafka-entrypoint: formatting $logdirs for cluster $CLUSTER_ID"
	java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC $cds_storage $log4j -cp "$classpath" \
		kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$conf" --ignore-formatted
else
	echo "kafka-entrypoint: $first is formatted; starting with its data"
fi

# shellcheck disable=SC2086 # the *_OPTS are word lists, as in kafka-run-class.sh
exec java ${KAFKA_HEAP_OPTS:--Xmx256m -Xms256m} \
	${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
	$cds_broker $log4j ${KAFKA_OPTS:-} -cp "$classpath" kafka.Kafka "$conf"
