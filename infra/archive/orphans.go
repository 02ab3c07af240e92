package archive

import (
	"context"
	"path"
	"strings"
	"time"
)

// Collectable is a Bucket whose objects can be listed and deleted: the
// archiver collects there, at the start of a run, the files that a run
// wrote and never committed (it crashed or failed between a file's write
// and its commit, and no later run wrote the same key again). Dir and
// the S3 bucket are collectable.
type Collectable interface {
	// Objects calls fn with the key and the time of last change of every
	// object.
	Objects(ctx context.Context, fn func(key string, modified time.Time) error) error
	// Delete removes the object under key; none there is no error.
	Delete(ctx context.Context, key string) error
}

// DefaultOrphanAge is Config.OrphanAge's default: far longer than any run
// takes from a file's write to its commit.
const DefaultOrphanAge = 24 * time.Hour

// collectOrphans deletes the archive files (and manifests) that the log
// does not record and that were last written longer than OrphanAge ago,
// and the temporary files of writes to a directory that a crash cut
// short. A file being written or committed by a run going on is younger
// than that; a file the log records is never touched. It returns the
// number of files deleted.
func (a *Archiver) collectOrphans(ctx context.Context) (int64, error) {
	c, ok := a.bucket.(Collectable)
	if !ok {
		return 0, nil
	}
	ranges, err := a.log.ArchivedRanges(ctx)
	if err != nil {
		return 0, err
	}
	recorded := make(map[string]bool, len(ranges))
	for _, r := range ranges {
		recorded[r.File] = true
	}
	before := a.cfg.Clock().Add(-a.cfg.OrphanAge)
	var orphans []string
	err = c.Objects(ctx, func(key string, modified time.Time) error {
		if !modified.Before(before) {
			return nil
		}
		dir, name := path.Split(key)
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			orphans = append(orphans, key)
		case strings.HasPrefix(name, "_log-") && strings.HasSuffix(name, ".parquet.manifest.json"):
			if !recorded[dir+strings.TrimSuffix(strings.TrimPrefix(name, "_"), ".manifest.json")] {
				orphans = append(orphans, key)
			}
		case strings.HasPrefix(name, "log-") && strings.HasSuffix(name, ".parquet"):
			if !recorded[key] {
				orphans = append(orphans, key)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, key := range orphans {
		if err := c.Delete(ctx, key); err != nil {
			return n, err
		}
		if strings.HasSuffix(key, ".parquet") {
			n++
			a.cfg.Logger.Info("deleted a file a run wrote and never committed", "file", key)
		}
	}
	return n, nil
}
