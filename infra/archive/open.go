package archive

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
)

var errNotExist = fs.ErrNotExist

// OpenBucket opens the bucket FLEETPULSE_ARCHIVE_URL names: a local
// directory, as a path or a file:// URL, or an S3-compatible bucket
// (s3://bucket/prefix?region=...).
func OpenBucket(ctx context.Context, rawURL string) (Bucket, error) {
	if objectURL(rawURL) {
		return openObjectBucket(ctx, rawURL)
	}
	if !strings.Contains(rawURL, "://") {
		return NewDir(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("archive URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		return NewDir(u.Path)
	}
	return nil, fmt.Errorf("archive URL: scheme %q is not supported (a directory path, file:///path or s3://bucket)", u.Scheme)
}
