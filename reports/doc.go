// Package reports turns a run's outcome (its verdict and its full history)
// into what people and tools read: report.json for tools, junit.xml for CI
// and report.html for a browser. The HTML page is self-contained (embedded
// template, inline SVG and CSS, no scripts, no network fetches): a timeline
// of produce and sink throughput, per-partition lag, freshness, buffered
// bytes and store requests, with every fault drawn as a labelled shaded
// span; the ledger counts; the violations; the seed and the command that
// replays the run; and the cost side (store requests, bytes, retries).
//
// Layout. WriteOutcome(dir, o) writes one run into dir/<scenario>-<variant>/:
//
//	report.json   the Report below
//	report.html   the page
//	junit.xml     one testsuite, one testcase
//	history.json  the Outcome with every event (ReadRecorded reads it back),
//	              so the page can be re-rendered: `pipechaos report history.json`
//
// WriteIndex(dir, outcomes) writes dir/index.html (one row per run, linking
// to each page), dir/index.json (the Index below) and dir/junit.xml (one
// testsuite per scenario, one testcase per variant).
//
// JUnit semantics. A testcase fails when the outcome is not what its variant
// should give (harness.Outcome.Expected): a fixed connector that lost data,
// or a buggy connector the harness did not catch. The failure message is the
// outcome's "BUG REPRODUCED: …" message (or what was missing). A buggy run
// that was caught passes, and carries the same message in system-out. A
// skipped run is <skipped> with its reason; a run that could not be
// performed is <error>.
//
// report.json schema (version "pipechaos.report/v1"; fields are only ever
// added within a version, never renamed or removed). Times are seconds since
// the run started unless named otherwise; arrays are never null.
//
//	schema           "pipechaos.report/v1"
//	scenario         catalogue name, e.g. "broker-crash"
//	title, story     the scenario's one-line story and incident (when known)
//	incident         section of docs/incidents.md (0: none)
//	fault, checks    what the scenario injects and asserts (when known)
//	variant          "fixed" | "buggy"
//	backend          "embedded" | "containers"
//	seed             the run's seed; replay reruns it
//	replay           shell command that replays the run
//	started          RFC 3339 start time
//	elapsed_seconds  wall-clock duration
//	status           "passed" | "bug-reproduced" | "skipped" | "error"
//	expected         true when status is what the variant should give
//	                 (fixed: passed; buggy: bug-reproduced)
//	failure, skipped, error   the outcome's messages ("" when none)
//	ledger           null when the scenario never checked the store, else
//	                 {verdict, attempted, acked, failed, indeterminate,
//	                 found_records, found_unique, objects, lost, duplicated,
//	                 unexpected, reordered, indeterminate_found,
//	                 indeterminate_missing, recovered, corrupt_objects}
//	violations       [{source: "checker"|"scenario", kind, count, first_ids,
//	                 detail, allowed}]; allowed ones do not fail the run
//	faults           [{fault, target, text, start_seconds, heal_seconds
//	                 (null: never healed), duration_seconds}]
//	cost             {store_requests, store_bytes_in, store_bytes_out,
//	                 store_errors_5xx, retries, retries_by_metric,
//	                 produce_not_acked, objects_written, records_written,
//	                 bytes_written, mean_object_bytes}
//	metrics          the scenario's own numbers (peak buffered bytes, …)
//	events           {total, produce, sink_write, fault, metric, note}
//	timeline         {duration_seconds, bucket_seconds, series: [{panel,
//	                 name, unit, labels, points: [[seconds, value], …]}]}
//	                 panels: "throughput" (records/s), "lag" (records),
//	                 "freshness" (seconds), "buffered" (bytes), "store"
//	                 (requests/s)
//	narrative        [{at_seconds, process, text}]: the run's notes
//
// The lag panel draws per-partition lag (the sampler's "lag", else a
// connector's "…consumer_lag"), "lag_total", and any other metric whose name
// ends in "_lag" (e.g. a scenario's "committed_lag").
//
// Freshness is estimated from the history when no freshness metric was
// sampled: at time t it is the age of the oldest acked record not yet
// written by the sink (acked and written records taken in order), 0 when
// the sink has caught up. A metric whose name contains "freshness" or ends
// in "lag_seconds" is drawn as sampled instead.
package reports
