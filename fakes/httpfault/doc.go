// Package httpfault is an HTTP fault layer: a handler that sits in front of
// another handler (New) or in front of a remote server as a reverse proxy
// (NewProxy) and misbehaves on demand. pipechaos puts one in front of the
// schema registry and one in front of the object store, on both backends, so
// the nemeses have one control surface for both: env.HTTPFaults.
//
// A Layer holds at most one active env.HTTPFault. Inject replaces it and
// Heal removes it. A request matches the fault when its method is listed
// (or no methods are) and the seeded probability draw says so. A matching
// request is then, in this order: delayed by Latency; held while Hang is set
// (until the client gives up or the fault heals, after which it proceeds
// normally); dropped when Drop is set (the connection is closed with no
// answer); answered with Status and a service-shaped error body when Status
// is set; and otherwise forwarded. A fault with none of these set is counted
// but changes nothing.
//
// Stats are the request cost of a run: requests in total and by method,
// faulted requests, 5xx answers, request body bytes read by the server and
// response body bytes written.
//
// Server serves any handler on 127.0.0.1 and can Stop (listener and live
// connections closed: clients get "connection refused") and Start again on
// the same port. That is how a "process down" outage is done without a
// process.
package httpfault
