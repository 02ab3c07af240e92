package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob" // s3:// URLs: AWS S3 and S3-compatible stores
	"gocloud.dev/gcerrors"
)

// objectBucket is a Bucket in an object store, through gocloud.dev/blob:
// an object is written whole by one PUT, so readers see all of it or
// none.
type objectBucket struct{ b *blob.Bucket }

// openObjectBucket opens an s3:// URL (gocloud.dev's s3blob: region,
// endpoint, use_path_style and the AWS SDK's usual credentials; a path
// after the bucket name is a key prefix).
func openObjectBucket(ctx context.Context, rawURL string) (Bucket, error) {
	b, err := blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("archive URL: %w", err)
	}
	return &objectBucket{b: b}, nil
}

func (o *objectBucket) WriteAll(ctx context.Context, key string, data []byte) error {
	if err := o.b.WriteAll(ctx, key, data, nil); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func (o *objectBucket) ReadAll(ctx context.Context, key string) ([]byte, error) {
	data, err := o.b.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("archive file %s: %w", key, errNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}

// Objects calls fn with every object of the bucket (under its prefix).
func (o *objectBucket) Objects(ctx context.Context, fn func(key string, modified time.Time) error) error {
	it := o.b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list the archive: %w", err)
		}
		if obj.IsDir {
			continue
		}
		if err := fn(obj.Key, obj.ModTime); err != nil {
			return err
		}
	}
}

// Delete removes the object under key.
func (o *objectBucket) Delete(ctx context.Context, key string) error {
	if err := o.b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// objectURL says whether rawURL names an object store this package opens.
func objectURL(rawURL string) bool { return strings.HasPrefix(rawURL, "s3://") }
