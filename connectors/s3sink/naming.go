package s3sink

import "fmt"

// objectKey is the key of the Avro object holding the chunk of partition p
// that starts at offset start. It depends only on its arguments, so writing
// the same offsets again overwrites the same object.
func objectKey(route, topic string, p int32, start int64) string {
	key := fmt.Sprintf("topics/%s/partition=%d/%s+%d+%d.avro", topic, p, topic, p, start)
	if route != "" {
		key = route + "/" + key
	}
	return key
}

// deadLetterKey is the key of the dead-letter object of the chunk of
// partition p that starts at offset start. Dead letters are never routed.
func deadLetterKey(topic string, p int32, start int64) string {
	return fmt.Sprintf("dlq/topics/%s/partition=%d/%s+%d+%d.json", topic, p, topic, p, start)
}
