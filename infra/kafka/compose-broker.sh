#!/usr/bin/env bash
# The compose file's broker (infra/compose.yaml), in the official apache/kafka image: a
# single-node KRaft broker secured as kafka.sh secures the local one (security.sh), its
# storage formatted with the SCRAM credentials on first start. Its topics, credentials and
# ACLs come from the compose file's one-off `topics` container (admin.py).
#
# Environment: the secrets security.sh names; KAFKA_ADVERTISED_HOST (default kafka);
# KAFKA_HOME (/opt/kafka) and KAFKA_DATA_DIR (/var/lib/kafka/data), where the image has them.
# Not exercised by ./test: these machines have no Docker engine.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/kafka/security.sh
. "$HERE/security.sh"

ACLS_FILE="$HERE/../acls.toml"
KAFKA_HOME="${KAFKA_HOME:-/opt/kafka}"  # where the image has Kafka
DATA="${KAFKA_DATA_DIR:-/var/lib/kafka/data}"
CONFIG="$KAFKA_HOME/config"
PROPS="$CONFIG/brobygger-server.properties"

problem=$(kafka_secrets_problem "$ACLS_FILE")
[[ -z "$problem" ]] || { echo "kafka: ERROR: $problem" >&2; exit 1; }

umask 077  # the properties hold the admin and controller passwords
cat >"$PROPS" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
log.dirs=$DATA
$(kafka_security_properties "0.0.0.0:9092" "${KAFKA_ADVERTISED_HOST:-kafka}:9092" "localhost:9093")

auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
# The health check's login (kafka-broker-api-versions.sh --command-config).
cat >"$CONFIG/admin-client.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
EOF

if [[ ! -f "$DATA/meta.properties" ]]; then
  kafka_scram_arguments "$ACLS_FILE"
  # The tool prints salted keys: kept out of the container's log.
  "$KAFKA_HOME/bin/kafka-storage.sh" format --standalone \
    -t "$("$KAFKA_HOME/bin/kafka-storage.sh" random-uuid)" \
    -c "$PROPS" "${KAFKA_SCRAM_ARGS[@]}" >"$CONFIG/format.out" 2>&1 \
    || { grep -viE 'scram|salt|password|jaas' "$CONFIG/format.out" >&2; exit 1; }
fi
exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$PROPS"
