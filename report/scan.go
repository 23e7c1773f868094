package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/scanner"
)

// ScanSchema names the JSON document of `lvfsck scan --json`
// (docs/scan-json.md). Fields are only ever added under this name.
const ScanSchema = "lvfsck.scan/v1"

// scanDoc is the --json document: the schema, the exit code, and the view.
type scanDoc struct {
	Schema        string `json:"schema"`
	LvfsckVersion string `json:"lvfsck_version"`
	ExitCode      int    `json:"exit_code"`
	*scanner.View
}

// WriteScanJSON writes the ScanSchema document of `lvfsck scan --json`:
// the view, with the exit code and the version that made it.
func WriteScanJSON(w io.Writer, v *scanner.View, code int, version string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(scanDoc{Schema: ScanSchema, LvfsckVersion: version, ExitCode: code, View: v}); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// scanLoadWords says in a few words what spdk_tgt does at its next load
// (the text report's loadWords are sentences).
var scanLoadWords = map[finding.LoadOutcome]string{
	finding.LoadOK:       "loads",
	finding.LoadDegraded: "loads degraded",
	finding.LoadSkip:     "does NOT load",
	finding.LoadRefuse:   "REFUSES the lvstore",
	finding.LoadCrash:    "CRASHES spdk_tgt",
}

// WriteScanText writes the human report of `lvfsck scan`: the lvstore,
// its lvols as a tree (clones beneath their snapshot), then the findings
// as WriteText prints them.
func WriteScanText(w io.Writer, v *scanner.View, code int, version string, opts TextOptions) error {
	var b strings.Builder
	l := v.Lvstore
	name := l.Name
	if name == "" {
		name = "(unknown)"
	}
	uuid := l.UUID
	if uuid == "" {
		uuid = "(unknown)"
	}
	fmt.Fprintf(&b, "lvstore %s  uuid %s\n", Printable(name), Printable(uuid))
	fmt.Fprintf(&b, "  device    %s (%s)\n", Printable(v.Device), Bytes(uint64(max(v.Size, 0))))
	if v.Mode != "" {
		state := "dirty (clean=0)"
		if l.Clean {
			state = "clean"
		}
		fmt.Fprintf(&b, "  store     %s, version %d, scanned in %s mode\n", state, l.Version, v.Mode)
		fmt.Fprintf(&b, "  clusters  %d × %s (%d for metadata); md region %d pages from page %d\n",
			l.TotalClusters, Bytes(uint64(l.ClusterSize)), l.MDClusters, l.MDLen, l.MDStart)
	} else {
		b.WriteString("  store     super block unusable: md region not scanned\n")
	}
	fmt.Fprintf(&b, "  next load spdk_tgt %s\n", scanLoadWords[l.Loads])
	if v.Buffered {
		b.WriteString("  note      O_DIRECT refused: read buffered\n")
	}
	writeTree(&b, v)
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	s := Summary{
		Command:      "scan",
		Version:      version,
		Target:       v.Device,
		Findings:     v.Findings,
		ScannedBytes: int64(v.Stats.BytesRead),
		ScanDuration: v.Stats.Duration,
		Exit:         code,
	}
	if l.Name != "" || l.UUID != "" {
		n := 0
		for _, bl := range v.Blobs {
			if bl.IsLvol {
				n++
			}
		}
		s.Lvstores = []LvstoreSummary{{Name: l.Name, UUID: l.UUID, Lvols: n, Source: "disk"}}
	}
	if v.Buffered {
		s.Notes = append(s.Notes, "O_DIRECT refused by the file system: read buffered")
	}
	return WriteText(w, s, opts)
}

// writeTree lists the lvols, each snapshot with its clones beneath.
func writeTree(b *strings.Builder, v *scanner.View) {
	byID := map[uint64]scanner.BlobInfo{}
	var lvols []scanner.BlobInfo
	for _, bl := range v.Blobs {
		byID[bl.ID] = bl
		if bl.IsLvol {
			lvols = append(lvols, bl)
		}
	}
	if len(lvols) == 0 {
		b.WriteString("\nno lvols\n")
		return
	}
	var alloc uint64
	for _, bl := range v.Blobs {
		alloc += bl.AllocatedClusters
	}
	fmt.Fprintf(b, "\nlvols (%d, %s allocated)\n", len(lvols), Bytes(alloc*uint64(v.Lvstore.ClusterSize)))
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "  NAME\tSIZE\tALLOCATED\tKIND\tBLOB\tUUID\tNEXT LOAD")
	// roots: lvols whose parent is not a listed lvol
	isChild := map[uint64]bool{}
	for _, bl := range lvols {
		if p, ok := byID[bl.Parent]; ok && bl.Parent != 0 && p.IsLvol {
			isChild[bl.ID] = true
		}
	}
	children := func(id uint64) []scanner.BlobInfo {
		var out []scanner.BlobInfo
		for _, bl := range lvols {
			if bl.Parent == id && isChild[bl.ID] {
				out = append(out, bl)
			}
		}
		return out
	}
	sortLvols := func(s []scanner.BlobInfo) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].LvolName != s[j].LvolName {
				return s[i].LvolName < s[j].LvolName
			}
			return s[i].ID < s[j].ID
		})
	}
	var walk func(bl scanner.BlobInfo, prefix, branch string, depth int)
	walk = func(bl scanner.BlobInfo, prefix, branch string, depth int) {
		fmt.Fprintf(tw, "  %s%s\n", prefix+branch, lvolLine(bl, v.Lvstore.ClusterSize))
		kids := children(bl.ID)
		sortLvols(kids)
		if depth > 64 {
			return // bounded: a parent cycle is a finding, not a tree
		}
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		for i, k := range kids {
			br := "├─ "
			if i == len(kids)-1 {
				br = "└─ "
			}
			walk(k, next, br, depth+1)
		}
	}
	var roots []scanner.BlobInfo
	for _, bl := range lvols {
		if !isChild[bl.ID] {
			roots = append(roots, bl)
		}
	}
	sortLvols(roots)
	for _, r := range roots {
		walk(r, "", "", 0)
	}
}

func lvolLine(bl scanner.BlobInfo, clusterSize uint32) string {
	var tags []string
	if bl.Thin {
		tags = append(tags, "thin")
	} else {
		tags = append(tags, "thick")
	}
	if bl.ReadOnly {
		tags = append(tags, "ro")
	}
	if bl.IsSnapshot {
		tags = append(tags, "snapshot")
	}
	if bl.Parent != 0 {
		tags = append(tags, "clone")
	}
	if bl.ExternalSnapshot != "" {
		tags = append(tags, "esnap-clone of "+Printable(bl.ExternalSnapshot))
	}
	uuid := Printable(bl.LvolUUID)
	if uuid == "" {
		uuid = "-"
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%#x\t%s\t%s",
		Printable(bl.LvolName), Bytes(bl.SizeBytes), Bytes(bl.AllocatedClusters*uint64(clusterSize)),
		strings.Join(tags, " "), bl.ID, uuid, scanLoadWords[bl.Loads])
}
