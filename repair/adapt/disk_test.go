package adapt

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/repair"
)

const (
	lvsR      = "6c2f21f7-0843-4fbe-8e23-40fee4c0120a"
	backup1   = "877aaf96-4cfd-4d02-85f9-f345a1de9362"
	replicaA  = "9729f55a-a503-4ddd-bec1-9d3e356b390f"
	bystander = "5a01008a-0e1f-4785-83d2-7109c5d49138"
)

// inflate writes a fixture image into dir as a sparse file, so a test can
// damage its own copy and never the fixture.
func inflate(t testing.TB, name, dir string) string {
	t.Helper()
	out := filepath.Join(dir, strings.TrimSuffix(name, ".gz"))
	testfix.InflateSparse(t, filepath.Join(fixtures, name), out)
	return out
}

// pageAt returns the device offset of md page idx of the image.
func pageAt(t *testing.T, path string, idx uint32) int64 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sb, err := blobstore.ReadSuperBlock(f)
	require.NoError(t, err)
	return sb.MDPageOffset(idx)
}

func TestDiskOnRealImages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// The forced removal left backup-1's blob on this clean image.
	img := inflate(t, "resurrection-pending.img.gz", dir)
	d := NewDisk(img)

	refs, err := d.FindBlob(ctx, repair.BlobQuery{LvstoreUUID: lvsR, LvolUUID: backup1})
	require.NoError(t, err)
	require.Len(t, refs, 1)
	blob := refs[0].BlobID
	require.Equal(t, uint64(1)<<32, blob&^0xffffffff)
	require.Equal(t, repair.BlobRef{BlobID: blob, LvstoreUUID: lvsR, LvolUUID: backup1, LvolName: "backup-1"}, refs[0])

	byName, err := d.FindBlob(ctx, repair.BlobQuery{LvstoreName: "lvs-r", LvolName: "backup-1"})
	require.NoError(t, err)
	require.Equal(t, refs, byName)
	none, err := d.FindBlob(ctx, repair.BlobQuery{LvstoreUUID: lvsR, LvolUUID: "00000000-0000-0000-0000-000000000000"})
	require.NoError(t, err)
	require.Empty(t, none)

	for _, tc := range []struct {
		name string
		lvs  string
		lvol string
		blob uint64
		want bool
	}{
		{"live blob with its uuid", lvsR, backup1, blob, true},
		{"blob id unknown: searched by uuid", lvsR, backup1, 0, true},
		{"another lvol's uuid on that page", lvsR, bystander, blob, false},
		{"a free page", lvsR, backup1, uint64(1)<<32 | 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.BlobPresent(ctx, tc.lvs, tc.lvol, tc.blob)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	_, err = d.BlobPresent(ctx, "11111111-1111-1111-1111-111111111111", backup1, blob)
	require.ErrorIs(t, err, ErrNoDevice, "an lvstore no device holds")
	_, err = d.BlobPresent(ctx, lvsR, backup1, 7)
	require.Error(t, err, "not a blob id")

	// A real delete zeroes the blob's md pages: gone.
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	require.NoError(t, err)
	off := pageAt(t, img, uint32(blob))
	_, err = f.WriteAt(make([]byte, blobstore.PageSize), off)
	require.NoError(t, err)
	got, err := d.BlobPresent(ctx, lvsR, backup1, blob)
	require.NoError(t, err)
	require.False(t, got, "zeroed first page")
	// The other lvols are untouched.
	live, err := d.FindBlob(ctx, repair.BlobQuery{LvstoreUUID: lvsR, LvolUUID: replicaA})
	require.NoError(t, err)
	require.Len(t, live, 1)

	// A page that keeps failing its CRC is no answer.
	_, err = f.WriteAt([]byte{0xde, 0xad}, off+100)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	d.RereadDelay = 1
	_, err = d.BlobPresent(ctx, lvsR, backup1, blob)
	require.ErrorIs(t, err, ErrTornPage)
}

// The live copy (clean = 0, taken with O_DIRECT beside the target) shows
// the force-removed snapshot as present.
func TestDiskOnLiveCopy(t *testing.T) {
	img := inflate(t, "resurrection-pending-live.img.gz", t.TempDir())
	d := NewDisk(img)
	ok, err := d.BlobPresent(context.Background(), lvsR, backup1, 0)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestDiskNeverWrites(t *testing.T) {
	img := inflate(t, "resurrection-pending.img.gz", t.TempDir())
	require.NoError(t, os.Chmod(img, 0o444))
	before, err := os.ReadFile(img)
	require.NoError(t, err)
	d := NewDisk(img)
	_, err = d.FindBlob(context.Background(), repair.BlobQuery{LvolUUID: backup1})
	require.NoError(t, err, "a read-only file is enough")
	after, err := os.ReadFile(img)
	require.NoError(t, err)
	require.True(t, bytes.Equal(before, after))
}
