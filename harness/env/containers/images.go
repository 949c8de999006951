package containers

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
)

// repository strips the tag, the digest and a docker.io prefix.
func repository(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	ref = strings.TrimPrefix(ref, "docker.io/")
	return strings.TrimPrefix(ref, "library/")
}

// officialKafka reports whether ref is an Apache Kafka image (one broker
// per container, configured through KAFKA_* variables): the official
// apache/kafka images or pipechaos/apache-kafka, built locally by `make
// images`. Any other Kafka image is taken to be a pipechaos-kafka image
// (kfake; one region per container).
func officialKafka(ref string) bool {
	switch repository(ref) {
	case "apache/kafka", "apache/kafka-native", "pipechaos/apache-kafka":
		return true
	}
	return false
}

// officialRegistry reports whether ref is Confluent's schema registry;
// any other registry image is taken to be a pipechaos-registry image.
func officialRegistry(ref string) bool {
	return repository(ref) == "confluentinc/cp-schema-registry"
}

// ensureImages checks every image is present locally. pipechaos never pulls:
// testcontainers would pull a missing image, so we refuse before it can.
func ensureImages(ctx context.Context, cli client.APIClient, refs ...string) error {
	var missing []string
	for _, ref := range refs {
		if _, err := cli.ImageInspect(ctx, ref); err != nil {
			missing = append(missing, ref)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var hints []string
	for _, ref := range missing {
		if strings.HasPrefix(repository(ref), "pipechaos/") {
			hints = append(hints, fmt.Sprintf("%s: run `make images` (builds it locally, no registry needed)", ref))
		} else {
			hints = append(hints, fmt.Sprintf("%s: pull it yourself with `docker pull %s` where a registry is reachable (pipechaos never pulls)", ref, ref))
		}
	}
	return fmt.Errorf("image not present locally:\n  %s", strings.Join(hints, "\n  "))
}
