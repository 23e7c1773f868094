package repair

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in, lvs string
		want    Ref
		err     string
	}{
		{in: "lvs-r/snap-x", want: Ref{Alias: "lvs-r/snap-x"}},
		{in: " lvs-r/snap-x ", lvs: "lvs-r", want: Ref{Alias: "lvs-r/snap-x"}},
		{in: "5AE2D848-DA40-4D18-8F6C-64CB6802A968", want: Ref{UUID: uuidSnapX}},
		{in: "snap-x", lvs: "lvs-r", want: Ref{Name: "snap-x", Lvstore: "lvs-r"}},
		{in: "snap-x", lvs: uuidLvs, want: Ref{Name: "snap-x", Lvstore: uuidLvs}},
		{in: "snap-x", err: "needs --lvstore"},
		{in: "", err: "empty"},
		{in: "lvs-r/", err: "not lvstore/name"},
		{in: "/x", err: "not lvstore/name"},
		{in: "a/b/c", err: "not lvstore/name"},
		{in: "lvs-r/x", lvs: "other", err: "contradicts"},
		{in: strings.Repeat("n", 64), lvs: "lvs", err: "under 64"},
		{in: "lvs/" + strings.Repeat("n", 64), err: "under 64"},
		{in: strings.Repeat("x", 500), err: "too long"},
		{in: "5ae2d848-da40-4d18-8f6c-64cb6802a96g", lvs: "lvs-r", want: Ref{Name: "5ae2d848-da40-4d18-8f6c-64cb6802a96g", Lvstore: "lvs-r"}},
	}
	for _, tc := range tests {
		t.Run(tc.in+"|"+tc.lvs, func(t *testing.T) {
			got, err := ParseRef(tc.in, tc.lvs)
			if tc.err != "" {
				require.ErrorIs(t, err, ErrBadRef)
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestRefMatches(t *testing.T) {
	l := Lvol{UUID: uuidSnapX, Name: "snap-x", Alias: "lvs-r/snap-x", LvstoreName: "lvs-r", LvstoreUUID: uuidLvs}
	for _, tc := range []struct {
		ref  Ref
		want bool
	}{
		{UUIDRef(strings.ToUpper(uuidSnapX)), true},
		{Ref{Alias: "lvs-r/snap-x"}, true},
		{Ref{Name: "snap-x", Lvstore: "lvs-r"}, true},
		{Ref{Name: "snap-x", Lvstore: strings.ToUpper(uuidLvs)}, true},
		{Ref{Name: "snap-x", Lvstore: "lvs-other"}, false},
		{Ref{Alias: "lvs-r/snap-y"}, false},
		{UUIDRef(uuidVol), false},
		{Ref{}, false},
	} {
		require.Equal(t, tc.want, tc.ref.Matches(l), "%+v", tc.ref)
	}
}

// FuzzParseRef: whatever the operator types, ParseRef never panics, and
// what it accepts round-trips through String and matches consistently.
func FuzzParseRef(f *testing.F) {
	var lvols []fixLvol
	readJSON(f, "notify.before-delete.bdev_lvol_get_lvols.json", &lvols)
	for _, l := range lvols {
		f.Add(l.Alias, "")
		f.Add(l.UUID, "")
		f.Add(l.Name, l.Lvs.Name)
		f.Add(l.Name, l.Lvs.UUID)
	}
	f.Add("a/b/c", "a")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, s, lvs string) {
		r, err := ParseRef(s, lvs)
		if err != nil {
			require.ErrorIs(t, err, ErrBadRef)
			return
		}
		again, err := ParseRef(r.String(), r.Lvstore)
		require.NoError(t, err, "String() of %+v", r)
		if r.UUID == "" {
			lvsName, name := r.lvstoreAndName()
			l := Lvol{Name: name, LvstoreName: lvsName, LvstoreUUID: lvsName}
			require.True(t, r.Matches(l))
			require.True(t, again.Matches(l))
		}
	})
}
