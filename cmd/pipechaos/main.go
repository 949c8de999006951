// Command pipechaos lists, explains and runs the scenario catalogue, starts
// an environment for your own tools (up), checks a schema against a registry
// before a migration (schema check) and profiles a topic for key skew (skew
// profile). Run `pipechaos help` for the commands.
//
//	go install github.com/pipechaos/pipechaos/cmd/pipechaos@latest
package main

import (
	"os"

	"github.com/pipechaos/pipechaos/harness/sut"
)

func main() {
	sut.Main() // in a sink process of a scenario: serve it and exit
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	sut.CloseAll()
	os.Exit(code)
}
