package batchloader

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// Bookmarks are a job's durable state: for each partition, the offset of
// the next record to load. They live in one JSON object in the bucket
// (Config.BookmarkKey), so a rerun, or the next run in another process,
// starts where the last successful run stopped:
//
//	{"job":"nightly","topic":"events","run":7,"written_at":"…",
//	 "partitions":{"0":{"offset":412,"complete_as_of":"…"}, …}}
type Bookmarks struct {
	Job        string             `json:"job"`
	Topic      string             `json:"topic"`
	Run        int                `json:"run"`
	WrittenAt  time.Time          `json:"written_at"`
	Partitions map[int32]Bookmark `json:"partitions"`
}

// Bookmark is one partition's position.
type Bookmark struct {
	// Offset is the next offset to load: every record below it is in the
	// bucket.
	Offset int64 `json:"offset"`
	// CompleteAsOf is when the job last listed the partition's end offset
	// and then loaded everything below it: every record produced before
	// that moment is in the bucket. It carries the freshness SLI across
	// processes.
	CompleteAsOf time.Time `json:"complete_as_of"`
}

// loadBookmarks reads the bookmark file; a file that does not exist yet is
// empty bookmarks (the job's first run), not an error.
func (j *Job) loadBookmarks(ctx context.Context) (Bookmarks, bool, error) {
	obj, err := j.store.GetObject(ctx, j.cfg.Bucket, j.cfg.BookmarkKey, minio.GetObjectOptions{})
	if err != nil {
		return Bookmarks{}, false, fmt.Errorf("read bookmarks s3://%s/%s: %w", j.cfg.Bucket, j.cfg.BookmarkKey, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return Bookmarks{Partitions: map[int32]Bookmark{}}, false, nil
		}
		return Bookmarks{}, false, fmt.Errorf("read bookmarks s3://%s/%s: %w", j.cfg.Bucket, j.cfg.BookmarkKey, err)
	}
	var b Bookmarks
	if err := json.Unmarshal(data, &b); err != nil {
		return Bookmarks{}, false, fmt.Errorf("decode bookmarks s3://%s/%s: %w", j.cfg.Bucket, j.cfg.BookmarkKey, err)
	}
	if b.Partitions == nil {
		b.Partitions = map[int32]Bookmark{}
	}
	return b, true, nil
}

// saveBookmarks replaces the bookmark file in one PUT: a reader sees the
// old file or the new one, never a mix.
func (j *Job) saveBookmarks(ctx context.Context, b Bookmarks) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("encode bookmarks: %w", err)
	}
	if err := j.put(ctx, j.cfg.BookmarkKey, data, "application/json"); err != nil {
		return fmt.Errorf("write bookmarks s3://%s/%s: %w", j.cfg.Bucket, j.cfg.BookmarkKey, err)
	}
	return nil
}

// put writes one object in a single request.
func (j *Job) put(ctx context.Context, key string, data []byte, contentType string) error {
	_, err := j.store.PutObject(ctx, j.cfg.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType: contentType,
		// gofakes3 (and any server without aws-chunked support) stores
		// the chunk signatures of a streaming-signed upload as data.
		DisableContentSha256: true,
	})
	return err
}
