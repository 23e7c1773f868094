package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/scanner"
)

func scanView() *scanner.View {
	return &scanner.View{
		Device: "/dev/x", Size: 1 << 30, Mode: scanner.ModeClean,
		Lvstore: scanner.Lvstore{Name: "lvs", UUID: "u", Clean: true, ClusterSize: 1 << 20, Loads: finding.LoadOK},
		Blobs: []scanner.BlobInfo{
			{ID: 1, IsLvol: true, LvolName: "snap", LvolUUID: "s", IsSnapshot: true, ReadOnly: true, Thin: true, AllocatedClusters: 4},
			{ID: 3, IsLvol: true, LvolName: "b-clone", LvolUUID: "c2", Parent: 1, Thin: true},
			{ID: 2, IsLvol: true, LvolName: "a-clone", LvolUUID: "c1", Parent: 1, Thin: true, AllocatedClusters: 1},
			{ID: 4, IsLvol: true, LvolName: "evil\x1b[31m", Loads: finding.LoadSkip},
			{ID: 5}, // not an lvol (the super blob)
		},
	}
}

func TestWriteScanText(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteScanText(&b, scanView(), ExitOK, "test", TextOptions{}))
	out := b.String()
	require.Contains(t, out, "lvstore lvs  uuid u\n")
	require.Contains(t, out, "lvols (4, 5 MiB allocated)")
	// Clones beneath their snapshot, by name.
	i, j, k := strings.Index(out, "snap "), strings.Index(out, "├─ a-clone"), strings.Index(out, "└─ b-clone")
	require.True(t, i >= 0 && i < j && j < k, out)
	require.Contains(t, out, `"evil\x1b[31m"`, "names from disk are quoted")
	require.Contains(t, out, "does NOT load")
	require.NotContains(t, out, "\x1b[", "no escape sequence from data, no color unasked")
}

// The headline comes first (what a cron mail shows), and the lvstore is
// described once: no second "lvstore ..." line before its findings.
func TestWriteScanTextHeadlineFirst(t *testing.T) {
	for _, tc := range []struct {
		name     string
		findings []finding.Finding
		code     int
		want     []string
	}{
		{"clean", nil, ExitOK, []string{"lvfsck scan: clean — 1 lvstore, 4 lvols\n"}},
		{"errors", []finding.Finding{{Code: "md-crc-mismatch", Severity: finding.Error, Lvstore: "lvs", LvstoreUUID: "u", Message: "bad"}},
			ExitUncorrected, []string{"lvfsck scan: 1 error on 1 lvstore (lvs)\n", "\nfindings — 1 error\n  ERROR (1)\n    md-crc-mismatch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := scanView()
			v.Findings = tc.findings
			var b strings.Builder
			require.NoError(t, WriteScanText(&b, v, tc.code, "test", TextOptions{}))
			out := b.String()
			require.True(t, strings.HasPrefix(out, tc.want[0]), out)
			for _, w := range tc.want[1:] {
				require.Contains(t, out, w)
			}
			require.Equal(t, 1, strings.Count(out, "lvstore lvs"), "the lvstore line once:\n%s", out)
			require.Equal(t, 1, strings.Count(out, "/dev/x"), "the device once:\n%s", out)
			require.Less(t, strings.Index(out, "lvols ("), strings.Index(out, "exit "), out)
		})
	}
}

// A super block that names no lvstore: the findings are the device's, not
// "not tied to an lvstore".
func TestWriteScanTextUnknownLvstore(t *testing.T) {
	v := scanView()
	v.Lvstore, v.Mode, v.Blobs = scanner.Lvstore{Loads: finding.LoadRefuse}, "", nil
	v.Findings = []finding.Finding{{Code: "bad-super-block", Severity: finding.Critical, SPDK: finding.LoadRefuse}}
	var b strings.Builder
	require.NoError(t, WriteScanText(&b, v, ExitUncorrected, "test", TextOptions{}))
	out := b.String()
	require.Contains(t, out, "\nfindings — 1 critical\n", out)
	require.NotContains(t, out, "not tied", out)
}

// Names sort as an operator reads them, not byte by byte.
func TestWriteScanTextNaturalOrder(t *testing.T) {
	v := scanView()
	v.Blobs = nil
	for _, n := range []string{"vol100", "vol10", "vol2", "vol1"} {
		v.Blobs = append(v.Blobs, scanner.BlobInfo{ID: uint64(len(n)), IsLvol: true, LvolName: n, Thin: true})
	}
	var b strings.Builder
	require.NoError(t, WriteScanText(&b, v, ExitOK, "test", TextOptions{}))
	out := b.String()
	last := -1
	for _, n := range []string{"vol1 ", "vol2 ", "vol10 ", "vol100 "} {
		i := strings.Index(out, "  "+n)
		require.Greater(t, i, last, "%s out of order:\n%s", n, out)
		last = i
	}
}

// A parent cycle is a finding, not an endless tree.
func TestWriteScanTextCycle(t *testing.T) {
	v := scanView()
	v.Blobs = []scanner.BlobInfo{{ID: 1, IsLvol: true, LvolName: "a", Parent: 2}, {ID: 2, IsLvol: true, LvolName: "b", Parent: 1}}
	var b strings.Builder
	require.NoError(t, WriteScanText(&b, v, ExitOK, "test", TextOptions{}))
	require.Contains(t, b.String(), "lvols (2, ")
}

func TestWriteScanJSON(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteScanJSON(&b, scanView(), ExitUncorrected, "v9"))
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &doc))
	require.Equal(t, ScanSchema, doc["schema"])
	require.Equal(t, "v9", doc["lvfsck_version"])
	require.Equal(t, float64(ExitUncorrected), doc["exit_code"])
	require.Equal(t, "/dev/x", doc["device"], "the view's fields are at the top level")
	require.NotContains(t, doc, "error", "only a failed scan says error")
}

// oldScanDoc is how the document was written before it was streamed: one
// json.Encoder over the whole value. The stream must give the same bytes.
type oldScanDoc struct {
	Schema        string `json:"schema"`
	LvfsckVersion string `json:"lvfsck_version"`
	ExitCode      int    `json:"exit_code"`
	*scanner.View
}

func TestWriteScanJSONSameBytesAsEncoder(t *testing.T) {
	hostile := scanView()
	hostile.Buffered = true
	hostile.Blobs[0].Xattrs = []scanner.Xattr{{Name: "name", Value: "<&>\u2028\x00"}, {Name: "x", Value: "0xff", Internal: true}}
	hostile.Blobs[0].Allocated = []scanner.Run{{Offset: 1, Cluster: 2, Count: 3}}
	hostile.Blobs[0].Pages = []uint32{7, 9}
	hostile.Blobs[1].Clones = []uint64{4}
	hostile.Stats = scanner.Stats{PagesRead: 5, BytesRead: 5 << 12, Duration: 3 * time.Millisecond}
	hostile.Findings = []finding.Finding{{Code: "md-crc-mismatch", Severity: finding.Critical, Message: "a \"quoted\" <msg>",
		Evidence: map[string]string{"disk": "x", "b": "y\n"}, Page: finding.PageRef(3), SPDK: finding.LoadCrash}}
	empty := &scanner.View{Device: "d", Blobs: []scanner.BlobInfo{}, Findings: []finding.Finding{}}
	// every field of a blob set, and the edges of the hand-written blob
	// encoder: nil and empty pages, bytes that need escaping, max values
	every := scanView()
	every.Blobs = []scanner.BlobInfo{
		{ID: ^uint64(0), Pages: []uint32{1, ^uint32(0)}, ExtentPages: []uint32{5, 6}, IsLvol: true, LvolName: "n\"\\\t\x7f\xff",
			LvolUUID: "é ", NumClusters: 9, SizeBytes: 9 << 20, Allocated: []scanner.Run{{Offset: 1, Cluster: 2, Count: 3}, {Offset: 4, Cluster: 5, Count: 6}}, AllocatedClusters: 9,
			Thin: true, ReadOnly: true, Parent: 7, ExternalSnapshot: "ext<>", Clones: []uint64{8, 9}, IsSnapshot: true, IsSuper: true,
			Xattrs:       []scanner.Xattr{{Name: "a&b", Value: "", Internal: true, Raw: []byte{1}}, {Name: "", Value: "v"}},
			InvalidFlags: 1, DataROFlags: 2, MDROFlags: 3, Loads: finding.LoadCrash},
		{ID: 2, Pages: []uint32{}, Xattrs: []scanner.Xattr{}, Allocated: []scanner.Run{}, Clones: []uint64{}, ExtentPages: []uint32{}},
		{},
	}
	for name, v := range map[string]*scanner.View{"view": scanView(), "hostile": hostile, "empty": empty, "1k": benchView(1000), "every field": every} {
		t.Run(name, func(t *testing.T) {
			var want, got strings.Builder
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			// The one difference on purpose: nil lists are [], as
			// docs/scan-json.md promises (the scanner never gives nil).
			nv := *v
			if nv.Findings == nil {
				nv.Findings = []finding.Finding{}
			}
			require.NoError(t, enc.Encode(oldScanDoc{ScanSchema, "v1.2", 4, &nv}))
			require.NoError(t, WriteScanJSON(&got, v, 4, "v1.2"))
			require.Equal(t, want.String(), got.String())
		})
	}
}

// The blob encoder is written by hand: a field added to scanner.BlobInfo
// (or Run, Xattr) must be added there too, and this says so.
func TestBlobJSONKnowsEveryField(t *testing.T) {
	tags := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			out = append(out, rt.Field(i).Tag.Get("json"))
		}
		return out
	}
	require.Equal(t, []string{"id", "pages", "extent_pages,omitempty", "is_lvol", "lvol_name,omitempty", "lvol_uuid,omitempty",
		"num_clusters", "size_bytes", "allocated,omitempty", "allocated_clusters", "thin", "read_only", "parent,omitempty",
		"external_snapshot,omitempty", "clones,omitempty", "is_snapshot", "is_super,omitempty", "xattrs,omitempty",
		"invalid_flags", "data_ro_flags", "md_ro_flags", "loads"}, tags(scanner.BlobInfo{}), "appendBlob writes these, in this order")
	require.Equal(t, []string{"offset", "cluster", "count"}, tags(scanner.Run{}))
	require.Equal(t, []string{"name", "value", "internal,omitempty", "-"}, tags(scanner.Xattr{}))
}

// A scan that could not finish still writes a document, as check does:
// exit code, device, empty lists, and the error.
func TestWriteScanJSONFailed(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteScanJSONFailed(&b, "/dev/gone", ExitOperational, "v9", errors.New("open /dev/gone: no such file")))
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &doc), b.String())
	require.Equal(t, ScanSchema, doc["schema"])
	require.Equal(t, float64(ExitOperational), doc["exit_code"])
	require.Equal(t, "/dev/gone", doc["device"])
	require.Equal(t, "open /dev/gone: no such file", doc["error"])
	require.Equal(t, []any{}, doc["blobs"])
	require.Equal(t, []any{}, doc["findings"])
	require.Equal(t, "", doc["mode"])
}

// benchView is n thin lvols named as operators name them (vol1 .. volN),
// every tenth a snapshot with the next one its clone, as a scan of a large
// lvstore gives.
func benchView(n int) *scanner.View {
	v := &scanner.View{
		Device: "/dev/nvme0n1p3", Size: 16 << 30, Mode: scanner.ModeClean,
		Lvstore: scanner.Lvstore{Name: "lvs-10k", UUID: "a9c0e8a4-61f7-4c6e-9b57-2b1d0b6f1a00", ClusterSize: 1 << 20,
			PageSize: 4096, MDStart: 10, MDLen: 65536, TotalClusters: 16384, MDClusters: 257, Clean: true,
			BSType: "LVOLSTORE", Version: 3, SuperBlob: 1 << 32, Loads: finding.LoadOK},
		Blobs:    []scanner.BlobInfo{{ID: 1 << 32, Pages: []uint32{0}, IsSuper: true, Loads: finding.LoadOK}},
		Findings: []finding.Finding{},
	}
	for i := 1; i <= n; i++ {
		id := uint64(1)<<32 | uint64(i)
		bl := scanner.BlobInfo{ID: id, Pages: []uint32{uint32(i)}, IsLvol: true, LvolName: fmt.Sprintf("vol%d", i),
			LvolUUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), NumClusters: 64, SizeBytes: 64 << 20,
			Thin: true, InvalidFlags: 5, Loads: finding.LoadOK,
			Xattrs: []scanner.Xattr{{Name: "name", Value: fmt.Sprintf("vol%d", i)}, {Name: "uuid", Value: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}}}
		switch i % 10 {
		case 1:
			bl.IsSnapshot, bl.ReadOnly, bl.Clones = true, true, []uint64{id + 1}
		case 2:
			bl.Parent = id - 1
		}
		v.Blobs = append(v.Blobs, bl)
	}
	return v
}

// appendIndent must indent any document encoding/json writes exactly as
// json.Indent does.
func FuzzAppendIndent(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"x\"y\\\\"},[],{}],"c":null}`), 0)
	f.Add([]byte(`["\u2028",true,-1.5e3,{"k":{"l":[]}}]`), 2)
	f.Add([]byte(`"plain"`), 1)
	f.Fuzz(func(t *testing.T, in []byte, depth int) {
		var v any
		if json.Unmarshal(in, &v) != nil {
			return
		}
		depth = min(max(depth, 0), 8)
		src, err := json.Marshal(v)
		require.NoError(t, err)
		var want bytes.Buffer
		require.NoError(t, json.Indent(&want, src, strings.Repeat("  ", depth), "  "))
		require.Equal(t, want.String(), string(appendIndent(nil, src, depth)))
	})
}
