package nodes

import (
	"encoding/base64"
	"testing"
)

// A cluster id starting with '-' reads as an option to StorageTool's
// argument parser ("argument --cluster-id/-t: expected one argument"):
// one id in 64 did before clusterID skipped them. 20,000 draws see about
// 300 such ids if the skip is missing.
func TestClusterIDNeverLooksLikeAnOption(t *testing.T) {
	for range 20_000 {
		id := clusterID()
		if id[0] == '-' {
			t.Fatalf("cluster id %q starts with '-'", id)
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 16 || b[6]>>4 != 4 || b[8]>>6 != 2 {
			t.Fatalf("cluster id %q is not a base64url version-4 UUID (%v)", id, err)
		}
	}
}
