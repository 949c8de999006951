package kafkaproxy

import "github.com/twmb/franz-go/pkg/kmsg"

// requestTopics lists the topics req names, resolving topic IDs with name
// (which reports "" for an ID it has not seen).
func requestTopics(req kmsg.Request, name func([16]byte) string) []string {
	var ts []string
	add := func(topic string, id [16]byte) {
		if topic == "" && id != ([16]byte{}) {
			topic = name(id)
		}
		if topic != "" {
			ts = append(ts, topic)
		}
	}
	switch q := req.(type) {
	case *kmsg.ProduceRequest:
		for _, t := range q.Topics {
			add(t.Topic, t.TopicID)
		}
	case *kmsg.FetchRequest:
		for _, t := range q.Topics {
			add(t.Topic, t.TopicID)
		}
	case *kmsg.ListOffsetsRequest:
		for _, t := range q.Topics {
			add(t.Topic, [16]byte{})
		}
	case *kmsg.MetadataRequest:
		for _, t := range q.Topics {
			var s string
			if t.Topic != nil {
				s = *t.Topic
			}
			add(s, t.TopicID)
		}
	case *kmsg.OffsetCommitRequest:
		for _, t := range q.Topics {
			add(t.Topic, t.TopicID)
		}
	case *kmsg.OffsetFetchRequest:
		for _, t := range q.Topics {
			add(t.Topic, [16]byte{})
		}
		for _, g := range q.Groups {
			for _, t := range g.Topics {
				add(t.Topic, t.TopicID)
			}
		}
	case *kmsg.AddPartitionsToTxnRequest:
		for _, t := range q.Topics {
			add(t.Topic, [16]byte{})
		}
		for _, x := range q.Transactions {
			for _, t := range x.Topics {
				add(t.Topic, [16]byte{})
			}
		}
	case *kmsg.TxnOffsetCommitRequest:
		for _, t := range q.Topics {
			add(t.Topic, t.TopicID)
		}
	case *kmsg.DeleteRecordsRequest:
		for _, t := range q.Topics {
			add(t.Topic, [16]byte{})
		}
	case *kmsg.OffsetForLeaderEpochRequest:
		for _, t := range q.Topics {
			add(t.Topic, [16]byte{})
		}
	}
	return ts
}
