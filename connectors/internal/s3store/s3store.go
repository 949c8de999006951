// Package s3store builds the S3 client every connector uses, so that they
// all talk to a store the same way: path-style bucket addressing and a fixed
// region, so the client only ever talks to the endpoint it was given.
package s3store

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Client returns a minio-go client for endpoint — host:port (plain HTTP) or
// a URL whose scheme says http or https — with static credentials, over tr,
// retrying each request at most maxRetries times inside minio-go.
func Client(endpoint, accessKey, secretKey string, tr http.RoundTripper, maxRetries int) (*minio.Client, error) {
	secure := false
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("parse S3 endpoint %q: %w", endpoint, err)
		}
		endpoint, secure = u.Host, u.Scheme == "https"
	}
	cl, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:       secure,
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
		MaxRetries:   maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("create S3 client: %w", err)
	}
	return cl, nil
}
