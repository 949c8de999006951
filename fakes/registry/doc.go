// Package registry is the pipechaos schema registry: franz-go's srfake (the
// Confluent Schema Registry REST API, in memory) plus what srfake leaves
// out, real Avro compatibility enforcement with github.com/hamba/avro/v2.
//
// The model: a handler in front of srfake takes over the endpoints where
// compatibility matters and hands everything else to srfake unchanged.
//
//   - POST /subjects/{s}/versions parses the schema as Avro (invalid → 422,
//     error code 42201), answers an already registered schema with its id,
//     checks the new schema against the subject's versions under the
//     subject's (or the global) compatibility level, and rejects an
//     incompatible one with 409, error code 409, naming each incompatibility.
//     A compatible schema is then registered by srfake.
//   - POST /compatibility/subjects/{s}/versions/{v|latest} and
//     POST /compatibility/subjects/{s}/versions answer is_compatible
//     truthfully, with messages when ?verbose=true.
//   - PUT /config and PUT /config/{s} reject an unknown level with 422,
//     error code 42203 (srfake would store it).
//   - GET /subjects/{s}/versions/{v} answers 40401 for a subject with no
//     live version (srfake says 40402, version not found).
//   - GET /healthz answers 200 "ok" for readiness probes.
//   - Every request body is bounded (MaxBodyBytes); a larger one gets 413.
//
// Levels: NONE checks nothing; BACKWARD: the new schema, as a reader, can
// read data written with the old one; FORWARD: the old schema can read data
// written with the new one; FULL: both. The plain levels check against the
// latest version only, the _TRANSITIVE ones against every live version.
//
// Behavior (where this differs from Confluent's registry):
//   - Only Avro is enforced. JSON and Protobuf schemas go to srfake, which
//     registers them without a check and calls everything compatible.
//   - Subjects addressed through /contexts/{ctx}/... bypass enforcement and
//     go to srfake as they are.
//   - Malformed JSON is 400 (error code 400); JSON of the wrong shape,
//     unknown fields included, is 422 (error code 422); a body over
//     MaxBodyBytes is 413 (error code 413).
//   - Verdicts are hamba/avro's, which follows the Avro specification's
//     resolution rules; the tests record where that matters.
//
// New starts a registry on 127.0.0.1 behind an httpfault.Layer, so the
// nemeses can make it slow, make it fail a share of requests, or take it
// down (Stop: connection refused) and bring it back (Start, same port, same
// state). NewHandler is the bare handler for serving your own listener; the
// standalone main in cmd/pipechaos-registry serves it.
package registry
