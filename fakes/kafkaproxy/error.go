package kafkaproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var errClosed = errors.New("kafka proxy is closed")

func errNonPositiveDelay(d time.Duration) error {
	return fmt.Errorf("delay must be positive, got %s", d)
}

// Error answers each matching request in the broker's place with Code, in
// a response of the request's version built by kmsg, the code set at every
// level of the response it belongs to (see errorResponse for each API).
// The request never reaches the broker: nothing it asked for happens.
// A Produce with acks=0 gets no answer, as from a broker.
type Error struct {
	// Code is the Kafka error code (6 NOT_LEADER_OR_FOLLOWER, 7
	// REQUEST_TIMED_OUT, -1 UNKNOWN_SERVER_ERROR, ...).
	Code int16
}

// errorKeys are the API keys Error can answer.
var errorKeys = []int16{0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 22, 24, 25, 26, 28}

// ErrorKeys lists the API keys Error can answer: Produce, Fetch,
// ListOffsets, Metadata, OffsetCommit, OffsetFetch, FindCoordinator,
// JoinGroup, Heartbeat, LeaveGroup, SyncGroup, InitProducerID,
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit.
func ErrorKeys() []int16 { return slices.Clone(errorKeys) }

// Check refuses a code kerr does not know (or 0, which is no error) and a
// key Error cannot answer.
func (e Error) Check(key int16) error {
	ke := kerr.TypedErrorForCode(e.Code)
	if ke == nil || ke.Code != e.Code {
		return fmt.Errorf("kafka error code %d is unknown (or 0, no error): pick one of kerr's codes", e.Code)
	}
	if key >= 0 && !slices.Contains(errorKeys, key) {
		names := make([]string, len(errorKeys))
		for i, k := range errorKeys {
			names[i] = fmt.Sprintf("%d %s", k, kmsg.NameForKey(k))
		}
		return fmt.Errorf("cannot build an error response for API key %d (%s): supported keys are %s",
			key, kmsg.NameForKey(key), strings.Join(names, ", "))
	}
	return nil
}

// Act answers the request with the error.
func (e Error) Act(_ context.Context, req *Request) kmsg.Response {
	return errorResponse(req.Body, e.Code)
}

// errorResponse builds the response a broker gives when it fails req with
// code, following what Kafka's own error responses (AbstractRequest's
// getErrorResponse) fill in:
//
//   - Produce, ListOffsets, OffsetCommit, TxnOffsetCommit: every partition
//     of the request gets the code (offsets and timestamps -1).
//   - Fetch: every partition the request names gets the code (watermarks
//     -1); the top-level code is set only for the fetch-session codes
//     (70, 71, 103, 106), which is the only level a client reads them at;
//     SessionID is 0, as in a broker's error response, so the client
//     starts over without its fetch session.
//   - Metadata: every topic the request names gets the code, with no
//     partitions; the brokers list is empty; v13+ also sets the top-level
//     code. An all-topics request gets the top-level code only (v13+) or an
//     empty answer.
//   - OffsetFetch: v0-v7 the top-level code (v2+) and every partition;
//     v8+ every group's code and every partition of it.
//   - FindCoordinator: v0-v3 the top-level code, v4+ every key's code; no
//     coordinator (node -1).
//   - JoinGroup, Heartbeat, SyncGroup, InitProducerID, AddOffsetsToTxn,
//     EndTxn: the one code (generation, producer id and epoch -1).
//   - LeaveGroup: the top-level code and every member's (v3+).
//   - AddPartitionsToTxn: v0-v3 every partition; v4+ the top-level code
//     and every partition of every transaction.
//
// It returns nil for a key it cannot build (Check refuses those).
func errorResponse(req kmsg.Request, code int16) kmsg.Response {
	resp := req.ResponseKind()
	v := req.GetVersion()
	resp.SetVersion(v)
	switch q := req.(type) {
	case *kmsg.ProduceRequest:
		r := resp.(*kmsg.ProduceResponse)
		for _, t := range q.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.FetchRequest:
		r := resp.(*kmsg.FetchResponse)
		switch code {
		case 70, 71, 103, 106:
			r.ErrorCode = code
		}
		r.SessionID = 0
		for _, t := range q.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.ListOffsetsRequest:
		r := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range q.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.MetadataRequest:
		r := resp.(*kmsg.MetadataResponse)
		if v >= 13 {
			r.ErrorCode = code
		}
		for _, t := range q.Topics {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, code
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.OffsetCommitRequest:
		r := resp.(*kmsg.OffsetCommitResponse)
		for _, t := range q.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.OffsetFetchRequest:
		r := resp.(*kmsg.OffsetFetchResponse)
		if v < 8 {
			if v >= 2 {
				r.ErrorCode = code
			}
			for _, t := range q.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.Offset, rp.LeaderEpoch = p, code, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				r.Topics = append(r.Topics, rt)
			}
			break
		}
		for _, g := range q.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, code
			for _, t := range g.Topics {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.ErrorCode, rp.Offset, rp.LeaderEpoch = p, code, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				rg.Topics = append(rg.Topics, rt)
			}
			r.Groups = append(r.Groups, rg)
		}
	case *kmsg.FindCoordinatorRequest:
		r := resp.(*kmsg.FindCoordinatorResponse)
		if v < 4 {
			r.ErrorCode, r.NodeID, r.Port = code, -1, -1
			break
		}
		for _, k := range q.CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
			r.Coordinators = append(r.Coordinators, c)
		}
	case *kmsg.JoinGroupRequest:
		r := resp.(*kmsg.JoinGroupResponse)
		r.ErrorCode, r.Generation, r.MemberID = code, -1, q.MemberID
	case *kmsg.HeartbeatRequest:
		resp.(*kmsg.HeartbeatResponse).ErrorCode = code
	case *kmsg.SyncGroupRequest:
		resp.(*kmsg.SyncGroupResponse).ErrorCode = code
	case *kmsg.LeaveGroupRequest:
		r := resp.(*kmsg.LeaveGroupResponse)
		r.ErrorCode = code
		for _, m := range q.Members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, code
			r.Members = append(r.Members, rm)
		}
	case *kmsg.InitProducerIDRequest:
		r := resp.(*kmsg.InitProducerIDResponse)
		r.ErrorCode, r.ProducerID, r.ProducerEpoch = code, -1, -1
	case *kmsg.AddPartitionsToTxnRequest:
		r := resp.(*kmsg.AddPartitionsToTxnResponse)
		if v < 4 {
			for _, t := range q.Topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, code
					rt.Partitions = append(rt.Partitions, rp)
				}
				r.Topics = append(r.Topics, rt)
			}
			break
		}
		r.ErrorCode = code
		for _, x := range q.Transactions {
			rx := kmsg.NewAddPartitionsToTxnResponseTransaction()
			rx.TransactionalID = x.TransactionalID
			for _, t := range x.Topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					rp.Partition, rp.ErrorCode = p, code
					rt.Partitions = append(rt.Partitions, rp)
				}
				rx.Topics = append(rx.Topics, rt)
			}
			r.Transactions = append(r.Transactions, rx)
		}
	case *kmsg.AddOffsetsToTxnRequest:
		resp.(*kmsg.AddOffsetsToTxnResponse).ErrorCode = code
	case *kmsg.EndTxnRequest:
		r := resp.(*kmsg.EndTxnResponse)
		r.ErrorCode, r.ProducerID, r.ProducerEpoch = code, -1, -1
	case *kmsg.TxnOffsetCommitRequest:
		r := resp.(*kmsg.TxnOffsetCommitResponse)
		for _, t := range q.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	default:
		return nil
	}
	return resp
}
