// Package connect runs a real Kafka Connect worker as a system under test:
// Apache Kafka's own distributed worker (connect-runtime, main class
// org.apache.kafka.connect.cli.ConnectDistributed, the brokers' version),
// started as a child process of the harness against the environment's
// bootstrap brokers, configured and read through its REST API only.
//
// The model: a Worker is a JVM the harness controls like any other sink
// process — Kill (SIGKILL), Pause/Resume (SIGSTOP/SIGCONT), Restart on the
// same REST port and group, a heap cap (-Xmx) with
// -XX:+ExitOnOutOfMemoryError, so an OOM ends the process and is read from
// outside (Exit: exit status 3 and the JVM's own "Terminating due to
// java.lang.OutOfMemoryError" line on stderr), and its memory (RSS, peak
// RSS) read from /proc. A connector is configured with PUT
// /connectors/{name}/config and its state read with GET
// /connectors/{name}/status: a FAILED task is a fact the REST API reports,
// never a line grepped from the worker's log (the log is kept for people).
//
// Where the pieces come from: Dist resolves the worker's classpath with
// scripts/connect-dist.sh (java/connect-dist/pom.xml, through Maven, cached);
// Plugins builds this repository's own plugins (java/smt: the header router
// of incident 1, fixed and buggy, and a line sink) with
// scripts/connect-plugins.sh into a directory for plugin.path. A user's own
// connector jars are one more plugin.path entry.
//
// Every worker lives in a directory of its own under Root, with an owner
// file naming the harness process; Close kills the worker's process group
// and removes the directory, and Sweep kills and removes what a harness
// that died (kill -9, a panic) left behind. New workers sweep first.
//
// Files: dist.go (classpath and plugins), worker.go (Config, Start, the
// process and its faults), rest.go (the REST API), memory.go (RSS),
// sweep.go (orphans).
package connect
