// Package containers is the "containers" backend of harness/env: the two
// Kafka regions, the schema registry and the object store run in Docker
// containers on a private network, started with testcontainers-go.
//
// Images are local by default (pipechaos/apache-kafka:dev, real Apache
// Kafka on a debootstrapped JRE; pipechaos/registry:dev and
// pipechaos/minio:dev, built FROM scratch; the kfake image
// pipechaos/kafka:dev is the fast option; all by `make images`) and are never
// pulled: a missing image is an error naming `make images` (or `docker
// pull` for an official image). Official images (apache/kafka,
// confluentinc/cp-schema-registry, minio/minio) are selected with the
// image options or $PIPECHAOS_KAFKA_IMAGE, $PIPECHAOS_REGISTRY_IMAGE and
// $PIPECHAOS_MINIO_IMAGE.
//
// Addresses stay valid across restarts: every published port is chosen
// free up front and bound on 127.0.0.1 to the same host port, and a Kafka
// broker listens inside its container on the very port it advertises
// (127.0.0.1:N), so a stopped, killed or restarted container comes back on
// the address clients already hold. The registry and the store are reached
// through in-process HTTP fault layers (fakes/httpfault), whose Stats are
// the request cost of a run.
//
// Faults on the kfake image: Region.Stop/Start stop and start the region's containers (the
// registry's Stop freezes an in-memory registry so schemas survive); per
// broker, CrashBroker/RestartBroker, Isolate/Reconnect, InjectError and
// SlowRequests go to the pipechaos-kafka control API (kfake RemoveNode /
// AddNode on the same port, a gated listener, kfake Fault, ControlKey plus
// SleepControl). ProcessFaults (kill -9, pause, network disconnect) exist
// for a region, the registry and the store. A fault an image cannot do
// returns an error wrapping env.ErrUnsupported.
//
// Real Apache Kafka (pipechaos/apache-kafka:dev, built by `make images` on
// a debootstrapped JRE, or apache/kafka) runs one container per broker,
// each also a KRaft controller (official.go): topics are replicated three
// times with min.insync.replicas=2 (env.Replicated), a broker crash is
// docker kill and its restart docker start on the same data volume,
// PauseBroker is docker pause, Isolate is docker network disconnect and
// IsolateFromPeers (env.PeerPartitioner) drops the traffic between one
// broker and its peers inside its network namespace while clients still
// reach it. Readiness is the cluster's metadata listing every broker and
// a controller. The secondary region starts on first use, and scenario
// budgets are stretched (BudgetScale): real fencing and elections take
// seconds. Clients reach these brokers through the Kafka protocol fault
// proxy (harness/env/protoproxy), so protocol errors and slowed requests
// (env.ProtocolFaulter, env.RequestSlower) work on real Kafka too; a
// region outage kills its brokers (a controlled shutdown cannot finish
// once the quorum is gone).
//
// Ryuk cannot be pulled here, so it is disabled
// (TESTCONTAINERS_RYUK_DISABLED=true) and pipechaos cleans up itself:
// every container and network carries the label pipechaos.managed=true
// plus its owner's host and PID; Close (registered with tb.Cleanup, which
// also runs when a test panics) removes them, and Sweep removes what a
// crashed process left behind. New sweeps before it starts anything.
package containers
