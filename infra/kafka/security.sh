# shellcheck shell=bash
# What makes a Brobygger Kafka broker trust no one, in one place: sourced by kafka.sh (the
# local broker) and compose-broker.sh (the compose file's). Needs bash only.
#
# Every client logs in. The client listener, which is also the inter-broker one, takes
# SASL/SCRAM-SHA-512 (credentials kept in the cluster metadata: bootstrapped when the
# storage is formatted, then set by admin.py apply-security). The controller listener takes
# SASL/PLAIN from its one static user `controller`: an open controller port would let anyone
# on it speak for the cluster. StandardAuthorizer allows nothing that no ACL allows; the
# super users are `admin` (the broker's own login and all administration) and `controller`.
#
# Secrets, from the environment: KAFKA_ADMIN_PASSWORD, KAFKA_CONTROLLER_PASSWORD and each
# principal's <PRINCIPAL>_KAFKA_PASSWORD (the principals are infra/acls.toml's).

# The principals the ACL list $1 names ([principal.<name>] tables), one a line.
kafka_principals() {
  sed -n 's/^\[principal\.\([a-z][a-z0-9_]*\)\][[:space:]]*$/\1/p' "$1"
}

kafka_password_variable() { printf '%s_KAFKA_PASSWORD' "${1^^}"; }

# Prints why the secret named $1 cannot be used, or nothing. Never prints the value.
kafka_secret_problem() {
  local name="$1" value="${!1:-}"
  if [[ -z "$value" ]]; then
    echo "$name is not set: the broker authenticates every client (./run writes the local secrets to .cache/local.env; tests set their own)"
  elif ! [[ "$value" =~ ^[A-Za-z0-9._~-]{16,}$ ]]; then
    # They go into the JAAS settings (in quotes) and the format command's [name=...,password=...].
    echo "$name must be 16 or more of A-Z a-z 0-9 . _ ~ - (it goes into the broker's JAAS settings and the format command)"
  fi
}

# Prints the first problem with the secrets a broker with the ACL list $1 needs, or nothing.
kafka_secrets_problem() {
  local name problem
  for name in KAFKA_ADMIN_PASSWORD KAFKA_CONTROLLER_PASSWORD; do
    problem=$(kafka_secret_problem "$name")
    [[ -z "$problem" ]] || { echo "$problem"; return 0; }
  done
  for name in $(kafka_principals "$1"); do
    problem=$(kafka_secret_problem "$(kafka_password_variable "$name")")
    [[ -z "$problem" ]] || { echo "$problem"; return 0; }
  done
}

# The listener and security lines of server.properties for a client listener
# SASL_PLAINTEXT://$1 advertised as $2, and a controller listener CONTROLLER://$3.
kafka_security_properties() {
  cat <<EOF
listeners=SASL_PLAINTEXT://$1,CONTROLLER://$3
advertised.listeners=SASL_PLAINTEXT://$2
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER

# Every client logs in. Clients and the broker itself (inter-broker): SCRAM-SHA-512.
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
# The controller listener: PLAIN with one static user, so that no one else on this port
# speaks for the cluster (an open controller port would make anyone a super user).
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$KAFKA_CONTROLLER_PASSWORD" user_controller="$KAFKA_CONTROLLER_PASSWORD";

# Nothing is allowed that an ACL does not allow (infra/acls.toml, applied by admin.py).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller
EOF
}

# Sets KAFKA_SCRAM_ARGS to the format command's --add-scram arguments: `admin` and every
# principal of the ACL list $1. (They are arguments: `ps` shows them while that short tool
# runs, to this machine's users only.)
kafka_scram_arguments() {
  local name var
  KAFKA_SCRAM_ARGS=(--add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]")
  for name in $(kafka_principals "$1"); do
    var=$(kafka_password_variable "$name")
    KAFKA_SCRAM_ARGS+=(--add-scram "SCRAM-SHA-512=[name=$name,password=${!var}]")
  done
}
