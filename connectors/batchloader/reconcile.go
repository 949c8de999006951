package batchloader

import "context"

// reconcile is the fixed job's plan: the topic's partitions, listed from
// its metadata on every run, decide what is read — never the bookmark file
// alone. A partition with a bookmark resumes there. A partition without
// one (new, or dropped from the file by a run a rebalance interrupted)
// resumes from the group's committed offset if Group has one, else from the
// earliest offset. An offset below the log start (records deleted by
// retention) resumes at the log start; the gap is logged, it cannot be
// loaded anymore.
func reconcile(ctx context.Context, j *Job, bm Bookmarks, exists bool, t topicState) (map[int32]int64, error) {
	from := make(map[int32]int64, len(t.partitions))
	var committed map[int32]int64
	for _, p := range t.partitions {
		if b, ok := bm.Partitions[p]; ok {
			from[p] = j.clamp(t, p, b.Offset, "bookmark")
			continue
		}
		if committed == nil {
			var err error
			if committed, err = j.committed(ctx); err != nil {
				return nil, err
			}
		}
		if c, ok := committed[p]; ok {
			from[p] = j.clamp(t, p, c, "group offset")
			if exists {
				j.cfg.Logf("batchloader %s: partition %d has no bookmark: resuming at group %s's committed offset %d", j.cfg.Name, p, j.cfg.Group, from[p])
			}
		} else {
			from[p] = t.start[p]
			if exists {
				j.cfg.Logf("batchloader %s: partition %d has no bookmark and no committed offset: loading it from its earliest offset %d", j.cfg.Name, p, from[p])
			}
		}
		if exists {
			j.m.reconciled.Inc()
		}
	}
	for p := range bm.Partitions {
		if _, ok := t.end[p]; !ok {
			j.cfg.Logf("batchloader %s: bookmark for partition %d, which topic %s does not have: ignored", j.cfg.Name, p, j.cfg.Topic)
		}
	}
	return from, nil
}

// clamp keeps a stored position inside the partition's log.
func (j *Job) clamp(t topicState, p int32, o int64, what string) int64 {
	switch {
	case o < t.start[p]:
		j.cfg.Logf("batchloader %s: partition %d: %s %d is below the log start %d: records %d..%d were deleted before they were loaded", j.cfg.Name, p, what, o, t.start[p], o, t.start[p]-1)
		return t.start[p]
	case o > t.end[p]:
		j.cfg.Logf("batchloader %s: partition %d: %s %d is past the end offset %d (topic recreated?): loading from the end", j.cfg.Name, p, what, o, t.end[p])
		return t.end[p]
	}
	return o
}
