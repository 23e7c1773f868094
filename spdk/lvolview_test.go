package spdk

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBdevIndex(t *testing.T) {
	lvolBdev := func(name string, alias ...string) Bdev {
		return Bdev{Name: name, Aliases: alias, BlockSize: 512, NumBlocks: 8,
			DriverSpecific: &DriverSpecific{Lvol: &LvolDriver{BaseSnapshot: "snap-" + name}}}
	}
	bs := []Bdev{
		{Name: "aio0", DriverSpecific: &DriverSpecific{Aio: &AioDriver{Filename: "/img"}}},
		lvolBdev("u1", "lvs/a"),
		lvolBdev("lvs/a"), // a bdev's own name wins over another's alias
		lvolBdev("u3", "lvs/c"),
		{Name: "nvme0n1", BlockSize: 1 << 40, NumBlocks: 1 << 30},
	}
	ix := IndexBdevs(bs)
	require.Equal(t, "/img", ix["aio0"].AioFilename())
	require.Empty(t, ix["u1"].AioFilename(), "not an AIO bdev")
	require.Empty(t, ix["none"].AioFilename(), "absent")
	require.Nil(t, ix["aio0"].LvolDriver())
	require.Same(t, &bs[2], ix["lvs/a"])

	for _, tc := range []struct {
		name string
		l    Lvol
		want string // the bdev found, "" none
	}{
		{"by uuid", Lvol{UUID: "u1"}, "u1"},
		{"by uuid in upper case", Lvol{UUID: "U1"}, "u1"},
		{"by alias", Lvol{UUID: "gone", Alias: "lvs/c"}, "u3"},
		{"neither", Lvol{UUID: "gone", Alias: "lvs/x"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ix.LvolBdev(tc.l)
			if tc.want == "" {
				require.Nil(t, b)
				require.Nil(t, b.LvolDriver())
				return
			}
			require.Equal(t, tc.want, b.Name)
			require.Equal(t, "snap-"+tc.want, b.LvolDriver().BaseSnapshot)
		})
	}
	require.Equal(t, uint64(4096), ix["u1"].SizeBytes())
	require.Zero(t, ix["nvme0n1"].SizeBytes(), "beyond 64 bits")
	require.Zero(t, (&Bdev{NumBlocks: 8}).SizeBytes(), "no block size")
}
