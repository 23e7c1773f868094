package scanner

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The zero-page shortcut in notePage is right only if an all-zero page
// fails its CRC.
func TestZeroPageFailsCRC(t *testing.T) {
	require.False(t, pageCRCOK(zeroPage[:]))
	require.NotZero(t, pageCRC(zeroPage[:]))
}
