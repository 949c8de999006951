// Package kafkaproxy is a Kafka-protocol-aware TCP proxy that puts
// protocol faults in front of any Kafka broker: real Apache Kafka, kfake,
// or a broker in a container.
//
// The model: a Proxy has one listener per upstream broker (node id →
// host:port). Each client connection gets its own connection to its
// broker. The proxy reads every request frame, parses its header and body
// with franz-go's kmsg, runs the installed rules on it, forwards what no
// rule answered, and relays the responses in request order. Responses that
// name brokers (Metadata, FindCoordinator, DescribeCluster, and the leader
// hints in Produce and Fetch) are rewritten so each broker's address is the
// proxy's listener for that node id: a client seeded with Bootstrap never
// talks to a broker directly.
//
// A fault is a Rule (which requests: API key, topic, brokers, how many,
// with what probability) and an Action (what happens to them). Two actions
// ship, one file each: Error answers in the broker's place with a Kafka
// error code in a response of the request's version, built by kmsg;
// Delay holds requests for a duration. Inject installs a rule and returns
// a Fault whose Heal removes it; Hits and Stats count what met the data.
//
// Behavior (where the proxy differs from a broker, or from kfake's faults):
//   - A rule sees only requests kmsg can read. The proxy caps the versions
//     ApiVersions advertises at kmsg's, so clients only send those; a
//     request it still cannot read is relayed untouched (Stats.Unparsed).
//   - A topic rule matches a request naming the topic, and answers the
//     whole request: a produce to two topics, one of them faulted, fails for
//     both. kfake faults each partition on its own.
//   - Error never forwards: the broker does nothing of what was asked. A
//     broker that applies a request and then times out is not modelled.
//   - Delay holds the request before the broker sees it, and so every later
//     request on that connection, as a busy broker does.
//   - A broker that is down closes the client connection at once (dial
//     refused); when it comes back on the same address, the next client
//     connection reaches it. SetUpstream moves a node to a new address.
//   - A node id the proxy has no listener for, seen in a response, gets one
//     on a free port with the address the broker advertised as upstream.
//   - The listeners bind loopback only.
//
// harness/env/protoproxy wraps a Proxy as the env interfaces a backend
// implements (ProtocolFaulter, RequestSlower). realkafka starts one real
// Apache Kafka node for the tests.
//
// Link faults (latency, bandwidth, a cut TCP stream) are not this
// package's: they belong to a byte-level proxy such as toxiproxy.
package kafkaproxy
