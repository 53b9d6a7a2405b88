#!/usr/bin/env bash
# The shared cluster's broker (apache/kafka image): TLS + SASL/SCRAM-SHA-512 for every client, mutual TLS for the
# controller on loopback, StandardAuthorizer deny-by-default. The same configuration as deploy/local/infra.py.
set -euo pipefail
: "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD}" "${KAFKA_BROKER_PASSWORD:?set KAFKA_BROKER_PASSWORD}"
: "${CLUSTER_ID:?set CLUSTER_ID}" "${KAFKA_PUBLIC_HOST:?set KAFKA_PUBLIC_HOST}"
props=/tmp/server.properties
umask 077
cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9094
# INTERNAL: services in the compose network (kafka:9092); EXTERNAL: cities and partners outside it.
listeners=INTERNAL://:9092,EXTERNAL://:9093,CONTROLLER://127.0.0.1:9094
advertised.listeners=INTERNAL://kafka:9092,EXTERNAL://${KAFKA_PUBLIC_HOST}:9093
listener.security.protocol.map=INTERNAL:SASL_SSL,EXTERNAL:SASL_SSL,CONTROLLER:SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
listener.name.controller.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="${KAFKA_BROKER_PASSWORD}";
listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="${KAFKA_BROKER_PASSWORD}";
ssl.keystore.type=PEM
ssl.keystore.location=/tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=/tls/ca.pem
ssl.enabled.protocols=TLSv1.3,TLSv1.2
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:broker;User:CN=lgnet-broker
connections.max.reauth.ms=3600000
log.dirs=/var/lib/kafka/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=-1
PROPS
# First start only: format the storage with the two super users' SCRAM credentials (KRaft has no other way
# to create the first user); later starts find it formatted.
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$CLUSTER_ID" -c "$props" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=broker,password=${KAFKA_BROKER_PASSWORD}]"
exec /opt/kafka/bin/kafka-server-start.sh "$props"
