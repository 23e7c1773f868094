package blobstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidUUID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"4a8b3f1e-2c5d-4e6f-8a9b-0c1d2e3f4a5b", true},
		{"4A8B3F1E-2C5D-4E6F-8A9B-0C1D2E3F4A5B", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"", false},
		{"4a8b3f1e-2c5d-4e6f-8a9b-0c1d2e3f4a5", false},   // 35
		{"4a8b3f1e-2c5d-4e6f-8a9b-0c1d2e3f4a5bc", false}, // 37
		{"4a8b3f1e2c5d-4e6f-8a9b-0c1d2e3f4a5b-", false},  // dash misplaced
		{"4a8b3f1e-2c5d-4e6f-8a9b-0c1d2e3f4a5g", false},  // not hex
		{"4a8b3f1e-2c5d-4e6f-8a9b_0c1d2e3f4a5b", false},  // '_' for '-'
		{"4a8b3f1e-2c5d-4e6f-8a9b-0c1d2e3f4aé", false},   // multi-byte rune, 36 bytes
		{"lvs0/lvol-0123456789abcdef0123456789", false},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, ValidUUID(tc.in), "%q", tc.in)
	}
}
