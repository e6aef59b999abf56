package pgs3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3 says where the bytes go: an S3-compatible endpoint and a bucket.
type S3 struct {
	Endpoint  string // https://host:port (http only on loopback)
	Region    string // default us-east-1
	Bucket    string
	AccessKey string
	SecretKey string
	Prefix    string // key prefix inside the bucket, e.g. "cis490/"
}

// idleConns is how many connections to the bucket stay open between
// requests: the GETs of a few reads at once (readParallel each) and the
// committers' PUTs.
const idleConns = 8 * readParallel

// objects is the bucket the bytes live in, as immutable objects.
type objects struct {
	c      *s3.Client
	bucket string
	prefix string
}

func newObjects(cfg S3) (*objects, error) {
	if cfg.Bucket == "" || cfg.Endpoint == "" {
		return nil, errors.New("the S3 endpoint and bucket are required")
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	// Keep a connection for every GET a read has in flight, as several
	// searches and the maintainer read at once: the default keeps two a
	// host, and each GET beyond them dialled (on real S3, a TLS
	// handshake) and closed its own.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = idleConns
	c := s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true, // bucket in the path: works on every S3-compatible server
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		// Checksums only when the server asks: several S3-compatible
		// servers reject the SDK's newer default trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer:                    aws.NopRetryer{}, // the caller retries whole batches
		HTTPClient:                 &http.Client{Timeout: 2 * time.Minute, Transport: tr},
	})
	return &objects{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

// errExists is a create-only PUT that found the key taken.
var errExists = errors.New("object exists")

// create puts data under name only if nothing is there yet.
func (o *objects) create(ctx context.Context, name string, data []byte) error {
	return o.createFrom(ctx, name, bytes.NewReader(data), int64(len(data)))
}

// createFrom puts size bytes of body under name only if nothing is there
// yet. The payload is sent unsigned (UNSIGNED-PAYLOAD): the connection is
// TLS, or loopback, which the configuration requires, and hashing each
// batch's bytes once more on both ends cost the upload, on the batch's
// critical path, about a tenth of its time at 64 KiB requests.
func (o *objects) createFrom(ctx context.Context, name string, body io.ReadSeeker, size int64) error {
	_, err := o.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &o.bucket,
		Key:           aws.String(o.prefix + name),
		Body:          body,
		ContentLength: aws.Int64(size),
		IfNoneMatch:   aws.String("*"),
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if status(err) == http.StatusPreconditionFailed {
		return fmt.Errorf("put object %s: %w", name, errExists)
	}
	if err != nil {
		return fmt.Errorf("put object %s: %w", name, err)
	}
	return nil
}

// readAt reads len(p) bytes of name from pos with one ranged GET.
func (o *objects) readAt(ctx context.Context, name string, p []byte, pos int64) error {
	if len(p) == 0 {
		return nil
	}
	out, err := o.c.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &o.bucket,
		Key:    aws.String(o.prefix + name),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", pos, pos+int64(len(p))-1)),
	})
	if err != nil {
		return fmt.Errorf("get object %s: %w", name, err)
	}
	defer out.Body.Close()
	if _, err := io.ReadFull(out.Body, p); err != nil {
		return fmt.Errorf("read object %s at %d: %w", name, pos, err)
	}
	return nil
}

// stored is an object the bucket holds.
type stored struct {
	name     string
	modified time.Time
}

// list calls fn for every object under the prefix.
func (o *objects) list(ctx context.Context, fn func(stored) error) error {
	p := s3.NewListObjectsV2Paginator(o.c, &s3.ListObjectsV2Input{Bucket: &o.bucket, Prefix: aws.String(o.prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		for _, obj := range page.Contents {
			if obj.Key == nil {
				continue
			}
			s := stored{name: (*obj.Key)[len(o.prefix):]}
			if obj.LastModified != nil {
				s.modified = *obj.LastModified
			}
			if err := fn(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// remove deletes name.
func (o *objects) remove(ctx context.Context, name string) error {
	_, err := o.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &o.bucket, Key: aws.String(o.prefix + name)})
	if err != nil {
		return fmt.Errorf("delete object %s: %w", name, err)
	}
	return nil
}

// status is the HTTP status of a failed S3 call, 0 for other errors.
func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// ping checks that the bucket exists and the keys may use it.
func (o *objects) ping(ctx context.Context) error {
	_, err := o.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &o.bucket})
	return err
}
