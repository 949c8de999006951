package nodes

import (
	"os"
	"testing"
)

// Available returns nil when this machine can run the backend: a Kafka
// distribution (scripts/kafka-dist.sh through Maven, or
// $PIPECHAOS_KAFKA_DIST), Java, and the MinIO binary.
func Available() error {
	if _, err := kafkaDist(); err != nil {
		return err
	}
	if _, err := lookJava(); err != nil {
		return err
	}
	_, err := minioBinary()
	return err
}

// RequireAvailable skips tb with the reason when the backend cannot run
// here, or fails it when $CI is "true".
func RequireAvailable(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("nodes backend unavailable in CI: %v", err)
		}
		tb.Skipf("nodes backend unavailable (set CI=true to fail instead): %v", err)
	}
}
