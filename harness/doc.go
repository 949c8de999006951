// Package harness is the heart of pipechaos. It borrows Jepsen's vocabulary:
//
//   - an environment (package env) is the infrastructure a scenario runs on: two
//     Kafka regions, a schema registry and an object store, provided by a backend
//     (embedded in-process, or containers);
//   - a workload (package workload) generates records with unique IDs, keys,
//     headers and Avro values, and produces them, recording every outcome;
//   - a nemesis (package nemesis) is one fault; a schedule decides when it
//     starts and heals;
//   - the history (package history) is the append-only log of everything that
//     happened: produce outcomes, sink writes, faults and metric samples;
//   - a checker (package checker) reads the history and the store after a full
//     drain and returns Ok, Illegal or Unknown with every violation listed.
//
// The system under test (a sink, a filter, a failover producer) is not part of
// the harness: it lives in connectors/ and only ever sees addresses.
package harness
