// Package kafka runs a kfake cluster as a stand-alone Kafka "region": N
// brokers of one cluster, each on its own port, with per-broker faults a
// test can drive from outside the process.
//
// Three pieces:
//
//   - GatedListener wraps a net.Listener so one broker can be cut off the
//     network (Isolate closes its live connections and refuses new ones)
//     and brought back (Reconnect), and reports an advertised address so a
//     broker listening on 0.0.0.0 inside a container tells clients an
//     address they can reach. The embedded backend can use it as a
//     kfake.ListenFn building block too.
//   - Cluster is the kfake cluster plus the state faults need: which port
//     each broker owns (a crashed broker restarts on the same one), its
//     gate, the installed protocol faults and request delays.
//   - Handler is the HTTP control API of a Cluster (GET /healthz, crash,
//     restart, isolate, reconnect, faults, slow requests) and
//     ControlClient is its client. cmd/pipechaos-kafka is the thin main
//     the container image runs.
package kafka
