package tgtlog

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	u1 = "877aaf96-4cfd-4d02-85f9-f345a1de9362"
	u2 = "5a01008a-0e1f-4785-83d2-7109c5d49138"
	lu = "0ac1f6a4-2b4b-4f3c-9d42-4b9ab1d1f2a9"
)

func parseString(t *testing.T, s string, o Options) ([]Record, Stats) {
	t.Helper()
	recs, st, err := Parse(strings.NewReader(s), o)
	require.NoError(t, err)
	return recs, st
}

// TestLineForms: one line of each form SPDK writes, and what it yields.
func TestLineForms(t *testing.T) {
	ts := "[2026-11-24 22:14:54.864107] "
	at := time.Date(2026, 11, 24, 22, 14, 54, 864107000, time.UTC)
	for _, tc := range []struct {
		name string
		line string
		want Record // Line, At, Text, Src/Func/Level filled in below when zero
	}{
		{"forced removal alone", "lvol.c:1084:lvol_delete_blob_cb: *ERROR*: Could not remove blob on lvol gracefully - forced removal",
			Record{Kind: ForcedRemoval, Via: "no lvol closed in the lines before"}},
		{"open snapshot", "blobstore.c:8681:bs_is_blob_deletable: *ERROR*: Cannot remove snapshot because it is open",
			Record{Kind: CannotRemoveOpenSnapshot, Via: "no lvol closed in the lines before"}},
		{"clones", "blobstore.c:8654:bs_is_blob_deletable: *ERROR*: Cannot remove snapshot with more than one clone",
			Record{Kind: CannotRemoveSnapshotClones, Via: "no lvol closed in the lines before"}},
		{"busy blob", "blobstore.c:8730:bs_delete_blob: *DEBUG*: Cannot remove blob - another operation in progress",
			Record{Kind: CannotRemoveBusyBlob, Via: "no lvol closed in the lines before"}},
		{"error opening", "vbdev_lvol.c:1804:_vbdev_lvs_examine_finish: *ERROR*: Error opening lvol " + u1,
			Record{Kind: ErrorOpeningLvol, LvolUUID: u1}},
		{"error opening, no uuid xattr", "vbdev_lvol.c:1804:_vbdev_lvs_examine_finish: *ERROR*: Error opening lvol " + lu + "_4294967299",
			Record{Kind: ErrorOpeningLvol, LvstoreUUID: lu, BlobID: 1<<32 | 3}},
		{"cannot create bdev", "vbdev_lvol.c:1811:_vbdev_lvs_examine_finish: *ERROR*: Cannot create bdev for lvol " + u1,
			Record{Kind: CannotCreateBdev, LvolUUID: u1}},
		{"bdev name: alias", "bdev.c:4696:bdev_name_add: *ERROR*: Bdev name lvs-r/snap-x already exists",
			Record{Kind: BdevNameExists, Alias: "lvs-r/snap-x", Lvstore: "lvs-r", LvolName: "snap-x"}},
		{"bdev name: uuid", "bdev.c:4696:bdev_name_add: *ERROR*: Bdev name " + u2 + " already exists",
			Record{Kind: BdevNameExists, LvolUUID: u2}},
		{"bdev name: base bdev", "bdev.c:4696:bdev_name_add: *ERROR*: Bdev name aio0 already exists",
			Record{Kind: BdevNameExists, Bdev: "aio0"}},
		{"lost parent", "vbdev_lvol.c: 864:vbdev_lvol_dump_info_json: *ERROR*: Cannot obtain parent snapshots name for lvol replica-a",
			Record{Kind: LostParentName, LvolName: "replica-a", Src: "vbdev_lvol.c:864"}},
		{"deleted", "lvol.c:1086:lvol_delete_blob_cb: *INFO*: Lvol " + u1 + " deleted",
			Record{Kind: LvolDeleted, LvolUUID: u1}},
		{"added", "lvol.c: 343:load_next_lvol: *INFO*: added lvol " + u1 + " (" + u1 + ")",
			Record{Kind: LvolLoaded, LvolUUID: u1, Src: "lvol.c:343"}},
		{"added, no uuid xattr", "lvol.c: 343:load_next_lvol: *INFO*: added lvol " + lu + "_4294967300 (" + nullUUID + ")",
			Record{Kind: LvolLoaded, LvstoreUUID: lu, BlobID: 1<<32 | 4, Src: "lvol.c:343"}},
		{"degraded", "vbdev_lvol.c:1361:_create_lvol_disk: *NOTICE*: lvol " + u1 + ": blob is degraded: deferring bdev creation",
			Record{Kind: LvolDegraded, LvolUUID: u1}},
		{"superblob", "lvol.c: 284:load_next_lvol: *INFO*: found superblob 4294967296",
			Record{Kind: LvstoreLoad, BlobID: 1 << 32, Src: "lvol.c:284"}},
		{"hot remove", "vbdev_lvol.c: 263:vbdev_lvs_hotremove_cb: *NOTICE*: bdev aio0 being removed: closing lvstore lvs-r",
			Record{Kind: LvstoreHotRemove, Bdev: "aio0", Lvstore: "lvs-r", Src: "vbdev_lvol.c:263"}},
		{"unloading", "lvol.c: 971:spdk_lvs_unload: *INFO*: Unloading lvol store", Record{Kind: LvstoreUnload, Src: "lvol.c:971"}},
		{"unloaded", "lvol.c: 926:_lvs_unload_cb: *INFO*: Lvol store unloaded", Record{Kind: LvstoreUnloaded, Src: "lvol.c:926"}},
		{"open blobs", "blobstore.c:5917:spdk_bs_unload: *ERROR*: Blobstore still has open blobs", Record{Kind: UnloadOpenBlobs}},
		{"recovery", "blobstore.c:4904:bs_recover: *NOTICE*: Performing recovery on blobstore", Record{Kind: RecoveryStart}},
		{"unregister", "bdev.c:2374:bdev_finish_unregister_bdevs_iter: *WARNING*: Unable to unregister bdev 'aio0' during spdk_bdev_finish()",
			Record{Kind: UnregisterFailed, Bdev: "aio0"}},
		{"start", "Starting SPDK v24.09.1-pre git sha1 1975133e9 / DPDK 22.11.11 initialization...",
			Record{Kind: TargetStart, Run: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, st := parseString(t, ts+tc.line+"\n", Options{})
			require.Len(t, recs, 1)
			want := tc.want
			want.Line, want.At = 1, at
			if want.Kind != TargetStart {
				src, rest, _ := strings.Cut(tc.line, ":")
				no, rest, _ := strings.Cut(rest, ":")
				fn, rest, _ := strings.Cut(rest, ":")
				lvl, msg, _ := strings.Cut(strings.TrimPrefix(rest, " *"), "*: ")
				if want.Src == "" {
					want.Src = src + ":" + strings.TrimSpace(no)
				}
				want.Func, want.Level, want.Text = fn, lvl, msg
			} else {
				want.Text = tc.line
			}
			require.Equal(t, want, recs[0])
			require.Equal(t, 1, st.Records)
		})
	}
}

// TestNotRecognised: lines that look close but are not the forms above.
func TestNotRecognised(t *testing.T) {
	for _, l := range []string{
		"",
		"EAL: Requested device 0000:00:03.0 cannot be used",
		"==== run 1 (plain) ====",
		"[2026-11-24 22:14:54.864107] app.c: 917:spdk_app_start: *NOTICE*: Total cores available: 1",
		"[2026-11-24 22:14:54.864107] vbdev_lvol.c:1804:f: *ERROR*: Error opening lvol not-a-uuid",
		"[2026-11-24 22:14:54.864107] vbdev_lvol.c:1804:f: *ERROR*: Error opening lvol " + u1 + " extra",
		"[2026-11-24 22:14:54.864107] lvol.c: 343:load_next_lvol: *INFO*: added lvol broken",
		"[2026-11-24 22:14:54.864107] lvol.c: 284:load_next_lvol: *INFO*: found superblob x12",
		"[2026-11-24 22:14:54.864107] x.c:1:f: *NOTICE*: Recover: blob 0xzz",
		"[2026-11-24 22:14:54.864107] x.c:1:f: *ERROR*: Bdev name  already exists",
		"[2026-11-24 22:14:54.864107] x.c:1:f: *ERROR*: Could not remove blob on lvol gracefully - forced removal, or not",
	} {
		recs, _ := parseString(t, l+"\n", Options{Context: true})
		require.Empty(t, recs, "%q", l)
	}
}

// TestTimestampForms: SPDK's timestamp, a collector's prefix before it, the
// unknown date, none at all, an impossible date, and Options.Location.
func TestTimestampForms(t *testing.T) {
	const msg = "lvol.c:1086:lvol_delete_blob_cb: *INFO*: Lvol " + u1 + " deleted"
	at := time.Date(2026, 11, 26, 8, 57, 50, 106262000, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name, line string
		o          Options
		want       time.Time
	}{
		{"spdk", "[2026-11-26 08:57:50.106262] " + msg, Options{}, at},
		{"kubectl prefix", "2026-11-26T08:57:50.106300000Z [2026-11-26 08:57:50.106262] " + msg, Options{}, at},
		{"pod prefix", "[pod/instance-manager-x] [2026-11-26 08:57:50.106262] " + msg, Options{}, at},
		{"location", "[2026-11-26 09:57:50.106262] " + msg, Options{Location: berlin}, at},
		{"unknown date", "[unknown date.106262] " + msg, Options{}, time.Time{}},
		{"none", msg, Options{}, time.Time{}},
		{"31 February", "[2026-02-31 08:57:50.106262] " + msg, Options{}, time.Time{}},
		{"month 13", "[2026-13-01 08:57:50.106262] " + msg, Options{}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, _ := parseString(t, tc.line+"\n", tc.o)
			if tc.name == "31 February" || tc.name == "month 13" {
				// Not a timestamp, so not SPDK's line form either.
				require.Empty(t, recs)
				return
			}
			require.Len(t, recs, 1)
			require.True(t, tc.want.Equal(recs[0].At), "got %v", recs[0].At)
			require.Equal(t, LvolDeleted, recs[0].Kind)
			require.Equal(t, "lvol.c:1086", recs[0].Src)
		})
	}
}

func closedLine(ts, id string) string {
	return "[2026-11-26 08:57:" + ts + "] lvol.c:1059:lvol_close_blob_cb: *INFO*: Lvol " + id + " closed\n"
}

func failLines(ts string) string {
	return "[2026-11-26 08:57:" + ts + "] blobstore.c:8681:bs_is_blob_deletable: *ERROR*: Cannot remove snapshot because it is open\n" +
		"[2026-11-26 08:57:" + ts + "] blobstore.c:8621:bs_delete_blob_finish: *ERROR*: Failed to remove blob\n" +
		"[2026-11-26 08:57:" + ts + "] lvol.c:1084:lvol_delete_blob_cb: *ERROR*: Could not remove blob on lvol gracefully - forced removal\n"
}

const noise = "[2026-11-26 08:57:50.100000] app.c: 917:spdk_app_start: *NOTICE*: something else\n"

// TestAttribution: which lvol a forced removal is put on.
func TestAttribution(t *testing.T) {
	for _, tc := range []struct {
		name       string
		log        string
		uuid       string
		candidates []string
		via        string
	}{
		{"closed just before", closedLine("50.100000", u2) + noise + closedLine("50.100100", u1) + failLines("50.100200"),
			u1, nil, "line 3: Lvol " + u1 + " closed, just before"},
		{"only one in the window", closedLine("50.100000", u1) + noise + noise + failLines("50.100200"),
			u1, nil, "line 1: Lvol " + u1 + " closed, the only lvol closed in the 16 lines before"},
		{"ambiguous", closedLine("50.100000", u2) + closedLine("50.100100", u1) + noise + failLines("50.100200"),
			"", []string{u1, u2}, "ambiguous: 2 lvols closed in the 16 lines before"},
		{"too old", closedLine("40.100000", u1) + noise + failLines("50.100200"),
			"", nil, "no lvol closed in the lines before"},
		{"too far back", closedLine("50.100000", u1) + strings.Repeat(noise, 17) + failLines("50.100200"),
			"", nil, "no lvol closed in the lines before"},
		{"deleted for real is no candidate", closedLine("50.100000", u2) +
			"[2026-11-26 08:57:50.100050] lvol.c:1086:lvol_delete_blob_cb: *INFO*: Lvol " + u2 + " deleted\n" +
			closedLine("50.100100", u1) + noise + failLines("50.100200"),
			u1, nil, "line 3: Lvol " + u1 + " closed, the only lvol closed in the 16 lines before"},
		{"a new run forgets", closedLine("50.100000", u1) + "[2026-11-26 08:57:50.100100] Starting SPDK v24.09\n" + failLines("50.100200"),
			"", nil, "no lvol closed in the lines before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, st := parseString(t, tc.log, Options{})
			var fr []Record
			for _, r := range recs {
				if r.Kind.deleteStep() {
					fr = append(fr, r)
				}
			}
			require.Len(t, fr, 2) // the context line is not emitted
			for _, r := range fr {
				require.Equal(t, tc.uuid, r.LvolUUID, r.Kind)
				require.Equal(t, tc.candidates, r.Candidates)
				require.Equal(t, tc.via, r.Via)
			}
			if tc.uuid == "" {
				require.Equal(t, 1, st.Unattributed)
			} else {
				require.Zero(t, st.Unattributed)
			}
		})
	}
}

// TestAttributionConsumed: a close serves one failed delete only.
func TestAttributionConsumed(t *testing.T) {
	recs, st := parseString(t, closedLine("50.100000", u1)+failLines("50.100100")+noise+failLines("50.100200"), Options{})
	var got []string
	for _, r := range recs {
		if r.Kind == ForcedRemoval {
			got = append(got, r.LvolUUID)
		}
	}
	require.Equal(t, []string{u1, ""}, got)
	require.Equal(t, 1, st.Unattributed)
}

// TestAttributionNewClose: a failed delete that logged no forced removal
// (a target with the fix refuses instead) does not lend its lvol to the
// next failure once another lvol was closed.
func TestAttributionNewClose(t *testing.T) {
	refused := "[2026-11-26 08:57:50.100100] blobstore.c:8681:bs_is_blob_deletable: *ERROR*: Cannot remove snapshot because it is open\n"
	recs, _ := parseString(t, closedLine("50.100000", u1)+refused+closedLine("50.100200", u2)+failLines("50.100300"), Options{})
	require.Equal(t, []Kind{CannotRemoveOpenSnapshot, CannotRemoveOpenSnapshot, ForcedRemoval}, kinds(recs))
	require.Equal(t, []string{u1, u2, u2}, []string{recs[0].LvolUUID, recs[1].LvolUUID, recs[2].LvolUUID})
}

// TestDeletingBlobID: a debug build's "Deleting blob 0x..." gives the blob id.
func TestDeletingBlobID(t *testing.T) {
	log := closedLine("50.100000", u1) +
		"[2026-11-26 08:57:50.100010] blobstore.c:8769:spdk_bs_delete_blob: *DEBUG*: Deleting blob 0x100000003\n" +
		failLines("50.100100")
	recs, _ := parseString(t, log, Options{})
	require.Len(t, recs, 2)
	for _, r := range recs {
		require.Equal(t, u1, r.LvolUUID)
		require.Equal(t, uint64(1<<32|3), r.BlobID)
	}
	recs, _ = parseString(t, log, Options{Context: true})
	require.Equal(t, []Kind{LvolClosed, DeletingBlob, CannotRemoveOpenSnapshot, DeleteBlobFailed, ForcedRemoval}, kinds(recs))
}

func kinds(recs []Record) []Kind {
	var out []Kind
	for _, r := range recs {
		out = append(out, r.Kind)
	}
	return out
}

// TestNameCollision: the alias of "Bdev name ... already exists" and the
// uuid of "Cannot create bdev for lvol ..." complete each other.
func TestNameCollision(t *testing.T) {
	log := "[2026-11-26 09:00:00.000001] bdev.c:4696:bdev_name_add: *ERROR*: Bdev name lvs-r/snap-x already exists\n" +
		"[2026-11-26 09:00:00.000002] vbdev_lvol.c:1434:_create_lvol_disk: *ERROR*: Cannot add alias to lvol bdev\n" +
		"[2026-11-26 09:00:00.000003] vbdev_lvol.c:1811:_vbdev_lvs_examine_finish: *ERROR*: Cannot create bdev for lvol " + u1 + "\n" +
		noise
	recs, _ := parseString(t, log, Options{})
	require.Equal(t, []Kind{BdevNameExists, CannotCreateBdev}, kinds(recs))
	for _, r := range recs {
		require.Equal(t, u1, r.LvolUUID)
		require.Equal(t, "lvs-r/snap-x", r.Alias)
		require.Equal(t, "snap-x", r.LvolName)
		require.Equal(t, "lvs-r", r.Lvstore)
	}
	require.Equal(t, "line 3: Cannot create bdev for lvol "+u1, recs[0].Via)
	require.Equal(t, "line 1: Bdev name lvs-r/snap-x already exists", recs[1].Via)

	// Too far apart: each keeps what its own line says.
	log = "[2026-11-26 09:00:00.000001] bdev.c:4696:bdev_name_add: *ERROR*: Bdev name lvs-r/snap-x already exists\n" +
		strings.Repeat(noise, holdLines) +
		"[2026-11-26 09:00:00.000003] vbdev_lvol.c:1811:_vbdev_lvs_examine_finish: *ERROR*: Cannot create bdev for lvol " + u1 + "\n"
	recs, _ = parseString(t, log, Options{})
	require.Equal(t, []Kind{BdevNameExists, CannotCreateBdev}, kinds(recs))
	require.Empty(t, recs[0].LvolUUID)
	require.Empty(t, recs[1].Alias)
}

// TestSkippedLines: overlong and binary lines are counted and skipped, and
// parsing goes on after them.
func TestSkippedLines(t *testing.T) {
	good := "[2026-11-26 08:57:50.106262] lvol.c:1086:lvol_delete_blob_cb: *INFO*: Lvol " + u1 + " deleted\n"
	log := good +
		strings.Repeat("x", 300) + "\n" + // overlong (MaxLine 128)
		"bin\x00ary\n" +
		"bad utf8 \xff\xfe\n" +
		good +
		strings.Repeat("y", 1000) // overlong, no newline at the end
	recs, st := parseString(t, log, Options{MaxLine: 128})
	require.Len(t, recs, 2)
	require.Equal(t, 1, recs[0].Line)
	require.Equal(t, 5, recs[1].Line)
	require.Equal(t, Stats{Lines: 6, Bytes: int64(len(log)), Records: 2, Overlong: 2, Binary: 2}, st)
}

// TestCRLF: a log copied through Windows still parses.
func TestCRLF(t *testing.T) {
	recs, _ := parseString(t, "[2026-11-26 08:57:50.106262] lvol.c:1086:lvol_delete_blob_cb: *INFO*: Lvol "+u1+" deleted\r\n", Options{})
	require.Len(t, recs, 1)
	require.Equal(t, "Lvol "+u1+" deleted", recs[0].Text)
}

// TestLongTextClipped: Text is bounded and stays valid UTF-8.
func TestLongTextClipped(t *testing.T) {
	name := strings.Repeat("é", 200) // 400 bytes: over maxID, so not a name
	recs, _ := parseString(t, "x.c:1:f: *ERROR*: Cannot obtain parent snapshots name for lvol "+name+"\n", Options{})
	require.Empty(t, recs)
	long := "Starting SPDK " + strings.Repeat("é", 700)
	recs, _ = parseString(t, long+"\n", Options{})
	require.Len(t, recs, 1)
	require.LessOrEqual(t, len(recs[0].Text), MaxText)
	require.True(t, strings.HasPrefix(long, recs[0].Text))
}

// TestReadError: a failing reader ends the stream with a wrapped error,
// after the records read so far.
func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	good := "[2026-11-26 08:57:50.106262] lvol.c:1086:lvol_delete_blob_cb: *INFO*: Lvol " + u1 + " deleted\n"
	r := io.MultiReader(strings.NewReader(good), iotest.ErrReader(boom))
	recs, _, err := Parse(r, Options{})
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "after line 1")
	require.Len(t, recs, 1)

	// One byte at a time makes no difference.
	recs2, _, err := Parse(iotest.OneByteReader(strings.NewReader(good+good)), Options{})
	require.NoError(t, err)
	require.Len(t, recs2, 2)
}

// TestTargetStartPID: the pid of the EAL line joins the start record and
// every record of that run.
func TestTargetStartPID(t *testing.T) {
	log := "[2026-11-26 08:57:46.932570] Starting SPDK v24.09.1-pre git sha1 1975133e9 / DPDK 22.11.11 initialization...\n" +
		"[2026-11-26 08:57:46.932730] [ DPDK EAL parameters: spdk_tgt --no-shconf -c 0x2 --file-prefix=spdk_pid27823 ]\n" +
		"[2026-11-26 08:57:49.767382] lvol.c:1086:lvol_delete_blob_cb: *INFO*: Lvol " + u1 + " deleted\n"
	recs, _ := parseString(t, log, Options{})
	require.Len(t, recs, 2)
	for _, r := range recs {
		require.Equal(t, 27823, r.PID)
		require.Equal(t, 1, r.Run)
	}
}

func TestKindsComplete(t *testing.T) {
	seen := map[Kind]bool{}
	for _, k := range Kinds {
		require.False(t, seen[k], "duplicate %s", k)
		seen[k] = true
	}
	require.Len(t, Kinds, 25)
	// The strings the journal and reconcile match on.
	require.Equal(t, Kind("forced-removal"), ForcedRemoval)
	require.Equal(t, Kind("delete-busy-kept"), DeleteBusyKept)
	require.Equal(t, Kind("error-opening-lvol"), ErrorOpeningLvol)
	require.Equal(t, Kind("cannot-create-bdev"), CannotCreateBdev)
	require.Equal(t, Kind("cannot-remove-open-snapshot"), CannotRemoveOpenSnapshot)
	require.Equal(t, Kind("bdev-name-exists"), BdevNameExists)
}
