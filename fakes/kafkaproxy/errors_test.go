package kafkaproxy_test

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// sampleRequest is a request of key at version v naming one topic, one
// partition, one group, one member and one transaction, as a client sends.
func sampleRequest(t *testing.T, key, v int16) kmsg.Request {
	t.Helper()
	topic, group, member, txn := "t", "g", "m", "x"
	id := [16]byte{1}
	var r kmsg.Request
	switch key {
	case 0:
		q := kmsg.NewPtrProduceRequest()
		q.Acks = -1
		tp := kmsg.NewProduceRequestTopic()
		tp.Topic, tp.TopicID = topic, id
		tp.Partitions = []kmsg.ProduceRequestTopicPartition{kmsg.NewProduceRequestTopicPartition()}
		q.Topics = append(q.Topics, tp)
		r = q
	case 1:
		q := kmsg.NewPtrFetchRequest()
		tp := kmsg.NewFetchRequestTopic()
		tp.Topic, tp.TopicID = topic, id
		tp.Partitions = []kmsg.FetchRequestTopicPartition{kmsg.NewFetchRequestTopicPartition()}
		q.Topics = append(q.Topics, tp)
		r = q
	case 2:
		q := kmsg.NewPtrListOffsetsRequest()
		tp := kmsg.NewListOffsetsRequestTopic()
		tp.Topic = topic
		tp.Partitions = []kmsg.ListOffsetsRequestTopicPartition{kmsg.NewListOffsetsRequestTopicPartition()}
		q.Topics = append(q.Topics, tp)
		r = q
	case 3:
		q := kmsg.NewPtrMetadataRequest()
		tp := kmsg.NewMetadataRequestTopic()
		tp.Topic = &topic
		q.Topics = append(q.Topics, tp)
		r = q
	case 8:
		q := kmsg.NewPtrOffsetCommitRequest()
		q.Group = group
		tp := kmsg.NewOffsetCommitRequestTopic()
		tp.Topic, tp.TopicID = topic, id
		tp.Partitions = []kmsg.OffsetCommitRequestTopicPartition{kmsg.NewOffsetCommitRequestTopicPartition()}
		q.Topics = append(q.Topics, tp)
		r = q
	case 9:
		q := kmsg.NewPtrOffsetFetchRequest()
		q.Group = group
		tp := kmsg.NewOffsetFetchRequestTopic()
		tp.Topic, tp.Partitions = topic, []int32{0}
		q.Topics = append(q.Topics, tp)
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = group
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.TopicID, gt.Partitions = topic, id, []int32{0}
		g.Topics = append(g.Topics, gt)
		q.Groups = append(q.Groups, g)
		r = q
	case 10:
		q := kmsg.NewPtrFindCoordinatorRequest()
		q.CoordinatorKey, q.CoordinatorKeys = group, []string{group}
		r = q
	case 11:
		q := kmsg.NewPtrJoinGroupRequest()
		q.Group, q.MemberID, q.ProtocolType = group, member, "consumer"
		r = q
	case 12:
		q := kmsg.NewPtrHeartbeatRequest()
		q.Group, q.MemberID = group, member
		r = q
	case 13:
		q := kmsg.NewPtrLeaveGroupRequest()
		q.Group, q.MemberID = group, member
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = member
		q.Members = append(q.Members, m)
		r = q
	case 14:
		q := kmsg.NewPtrSyncGroupRequest()
		q.Group, q.MemberID = group, member
		r = q
	case 22:
		q := kmsg.NewPtrInitProducerIDRequest()
		q.TransactionalID = &txn
		r = q
	case 24:
		q := kmsg.NewPtrAddPartitionsToTxnRequest()
		q.TransactionalID = txn
		tp := kmsg.NewAddPartitionsToTxnRequestTopic()
		tp.Topic, tp.Partitions = topic, []int32{0}
		q.Topics = append(q.Topics, tp)
		x := kmsg.NewAddPartitionsToTxnRequestTransaction()
		x.TransactionalID = txn
		xt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		xt.Topic, xt.Partitions = topic, []int32{0}
		x.Topics = append(x.Topics, xt)
		q.Transactions = append(q.Transactions, x)
		r = q
	case 25:
		q := kmsg.NewPtrAddOffsetsToTxnRequest()
		q.TransactionalID, q.Group = txn, group
		r = q
	case 26:
		q := kmsg.NewPtrEndTxnRequest()
		q.TransactionalID = txn
		r = q
	case 28:
		q := kmsg.NewPtrTxnOffsetCommitRequest()
		q.TransactionalID, q.Group = txn, group
		tp := kmsg.NewTxnOffsetCommitRequestTopic()
		tp.Topic, tp.TopicID = topic, id
		tp.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{kmsg.NewTxnOffsetCommitRequestTopicPartition()}
		q.Topics = append(q.Topics, tp)
		r = q
	default:
		t.Fatalf("no sample request for key %d", key)
	}
	r.SetVersion(v)
	// Round-trip through the wire form, so the request holds only what
	// this version carries, as one read off a connection does.
	back := kmsg.RequestForKey(key)
	back.SetVersion(v)
	if err := back.ReadFrom(r.AppendTo(nil)); err != nil {
		t.Fatalf("sample request does not round-trip: %v", err)
	}
	return back
}

// CountCode counts the ErrorCode fields of v (at any depth) equal to code.
func countCode(v reflect.Value, code int16) int {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 0
		}
		return countCode(v.Elem(), code)
	case reflect.Struct:
		n := 0
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Name == "ErrorCode" && v.Field(i).Kind() == reflect.Int16 && int16(v.Field(i).Int()) == code {
				n++
				continue
			}
			if f.IsExported() {
				n += countCode(v.Field(i), code)
			}
		}
		return n
	case reflect.Slice:
		n := 0
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return 0
		}
		for i := 0; i < v.Len(); i++ {
			n += countCode(v.Index(i), code)
		}
		return n
	}
	return 0
}
