package archive

import (
	"fmt"
	"net/url"
	"strings"
)

// OpenBucket opens the bucket FLEETPULSE_ARCHIVE_URL names: a local
// directory, as a path or a file:// URL.
func OpenBucket(rawURL string) (Bucket, error) {
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
	return nil, fmt.Errorf("archive URL: scheme %q is not supported (a directory path or file:///path)", u.Scheme)
}
