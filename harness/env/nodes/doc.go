// Package nodes is the backend of real Apache Kafka: each region is a KRaft
// cluster of combined broker+controller nodes (kafka.Kafka from the
// distribution scripts/kafka-dist.sh resolves through Maven), replication
// factor 3 and min.insync.replicas=2; the pipechaos registry and MinIO run as
// processes on 127.0.0.1, each behind an HTTP fault layer (fakes/httpfault).
//
// Each broker is a host of its own. Where the harness can make network
// namespaces (root, ip netns), every broker gets one, wired with a veth pair
// to a bridge in the root namespace, with an address in 10.213.7.0/24 (a
// range used for nothing else; one /28 per environment). Faults are then
// real: SIGKILL and a restart on the same log dirs, SIGSTOP/SIGCONT, and
// iptables DROP rules inside the broker's namespace, from clients
// (Isolate) or from its region's other nodes (IsolateFromPeers). Where
// namespaces cannot be made, each broker listens on its own 127.213.x.y
// address instead, and the network faults that need a namespace are
// unsupported.
//
// Everything is labelled with the environment's session and the owner's
// pid (namespace names, the bridge's alias, iptables comments, an
// environment variable of every process), removed by Close (registered with
// tb.Cleanup, so also after a panic in the test), and swept by the next New
// when its owner died without cleaning up (kill -9 of a test binary).
package nodes
