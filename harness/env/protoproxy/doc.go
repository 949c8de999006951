// Package protoproxy puts the Kafka protocol fault proxy
// (fakes/kafkaproxy) in front of a region's brokers, so a backend whose
// brokers have no fault hooks of their own (real Apache Kafka on the nodes
// backend, the official image on containers) can still answer chosen
// requests with chosen Kafka errors (env.ProtocolFaulter) and slow chosen
// requests down (env.RequestSlower).
//
// How a backend slots it in:
//
//  1. Start the brokers as usual, advertising their real addresses (the
//     brokers replicate among themselves directly; only clients go through
//     the front).
//  2. front, err := protoproxy.New(kafkaproxy.Config{Brokers: map[node
//     id]"host:port"}); close it in the region's Close, after the clients
//     and before the brokers.
//  3. Region.Bootstrap returns front.Bootstrap() (and Region.Client seeds
//     with it). Every client learns only proxy addresses: Metadata,
//     FindCoordinator and DescribeCluster answers are rewritten.
//  4. The region's InjectError and SlowRequests call the front's.
//  5. Crash and restart need nothing: each client connection dials its
//     broker anew, so a broker back on the same address is reached by the
//     next connection, and a dead one closes its clients' connections at
//     once. A broker moved to a new address: SetUpstream. To make clients
//     reconnect now (a pause that the broker does not notice, say):
//     CloseConns.
//
// On the containers backend the same holds with the brokers' host-mapped
// ports as upstreams.
//
// The front's listeners are on 127.0.0.1; a region whose brokers live in
// network namespaces keeps its front in the harness's own namespace, where
// the test's clients run.
package protoproxy
