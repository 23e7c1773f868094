package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/natsort"
	"github.com/lvfsck/lvfsck/scanner"
)

// scanLoadWords says in a few words what spdk_tgt does at its next load
// (the text report's loadWords are sentences).
var scanLoadWords = map[finding.LoadOutcome]string{
	finding.LoadOK:       "loads",
	finding.LoadDegraded: "loads degraded",
	finding.LoadSkip:     "does NOT load",
	finding.LoadRefuse:   "REFUSES the lvstore",
	finding.LoadCrash:    "CRASHES spdk_tgt",
}

// WriteScanText writes the human report of `lvfsck scan`: the headline,
// the lvstore, its lvols as a tree (clones beneath their snapshot), the
// run, then the findings as WriteText prints them.
func WriteScanText(w io.Writer, v *scanner.View, code int, version string, opts TextOptions) error {
	l := v.Lvstore
	s := Summary{
		Command:      "scan",
		Version:      version,
		Findings:     v.Findings,
		ScannedBytes: int64(v.Stats.BytesRead),
		ScanDuration: v.Stats.Duration,
		Exit:         code,
	}
	if l.Name != "" || l.UUID != "" {
		n := 0
		for i := range v.Blobs {
			if v.Blobs[i].IsLvol {
				n++
			}
		}
		s.Lvstores = []LvstoreSummary{{Name: l.Name, UUID: l.UUID, Lvols: n, Source: "disk"}}
	}
	if v.Buffered {
		s.Notes = append(s.Notes, "O_DIRECT refused by the file system: read buffered")
	}
	return writeText(w, s, opts, func(p *textPrinter) { writeScanBody(p.w, v) })
}

// writeScanBody is the lvstore as the super block describes it, then its
// lvols. The device is named here, so the run does not name it again.
func writeScanBody(w *bufio.Writer, v *scanner.View) {
	l := v.Lvstore
	name := cmp.Or(l.Name, "(unknown)")
	uuid := cmp.Or(l.UUID, "(unknown)")
	fmt.Fprintf(w, "\nlvstore %s  uuid %s\n", Printable(name), Printable(uuid))
	fmt.Fprintf(w, "  device    %s (%s)\n", Printable(v.Device), Bytes(uint64(max(v.Size, 0))))
	if v.Mode != "" {
		state := "dirty (clean=0)"
		if l.Clean {
			state = "clean"
		}
		fmt.Fprintf(w, "  store     %s, version %d, scanned in %s mode\n", state, l.Version, v.Mode)
		fmt.Fprintf(w, "  clusters  %d × %s (%d for metadata); md region %d pages from page %d\n",
			l.TotalClusters, Bytes(uint64(l.ClusterSize)), l.MDClusters, l.MDLen, l.MDStart)
	} else {
		w.WriteString("  store     super block unusable: md region not scanned\n")
	}
	fmt.Fprintf(w, "  next load spdk_tgt %s\n", scanLoadWords[l.Loads])
	if v.Buffered {
		w.WriteString("  note      O_DIRECT refused: read buffered\n")
	}
	writeTree(w, v)
}

// treeCols are the lvol table's columns; the last one is not padded.
var treeCols = [...]string{"  NAME", "SIZE", "ALLOCATED", "KIND", "BLOB", "UUID", "NEXT LOAD"}

// writeTree lists the lvols, each snapshot with its clones beneath, in
// natural name order. Linear in the lvols: children are indexed once, and
// columns are measured, not run through a tabwriter.
func writeTree(w *bufio.Writer, v *scanner.View) {
	byID := make(map[uint64]*scanner.BlobInfo, len(v.Blobs))
	var lvols []*scanner.BlobInfo
	var alloc uint64
	for i := range v.Blobs {
		bl := &v.Blobs[i]
		byID[bl.ID] = bl
		if bl.IsLvol {
			lvols = append(lvols, bl)
		}
		alloc += bl.AllocatedClusters
	}
	if len(lvols) == 0 {
		w.WriteString("\nno lvols\n")
		return
	}
	fmt.Fprintf(w, "\nlvols (%d, %s allocated)\n", len(lvols), Bytes(alloc*uint64(v.Lvstore.ClusterSize)))

	// Children of each listed lvol; roots are lvols whose parent is not one.
	kids := map[uint64][]*scanner.BlobInfo{}
	var roots []*scanner.BlobInfo
	for _, bl := range lvols {
		if p, ok := byID[bl.Parent]; ok && bl.Parent != 0 && p.IsLvol {
			kids[bl.Parent] = append(kids[bl.Parent], bl)
		} else {
			roots = append(roots, bl)
		}
	}
	byName := func(a, b *scanner.BlobInfo) int {
		return cmp.Or(natsort.Compare(a.LvolName, b.LvolName), cmp.Compare(a.ID, b.ID))
	}
	slices.SortFunc(roots, byName)
	for _, k := range kids {
		slices.SortFunc(k, byName)
	}

	rows := make([][len(treeCols)]string, 0, len(lvols)+1)
	rows = append(rows, treeCols)
	cs := uint64(v.Lvstore.ClusterSize)
	cells := newRowCells()
	var walk func(bl *scanner.BlobInfo, prefix, branch string, depth int)
	walk = func(bl *scanner.BlobInfo, prefix, branch string, depth int) {
		rows = append(rows, cells.lvolRow(bl, "  "+prefix+branch, cs))
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
		ks := kids[bl.ID]
		for i, k := range ks {
			br := "├─ "
			if i == len(ks)-1 {
				br = "└─ "
			}
			walk(k, next, br, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, "", "", 0)
	}

	// Each column as wide as its widest cell (in runes, as the tree's
	// box characters are one column each) plus two blanks.
	var width [len(treeCols) - 1]int
	for _, r := range rows {
		for c := range width {
			width[c] = max(width[c], utf8.RuneCountInString(r[c]))
		}
	}
	for _, r := range rows {
		for c := range width {
			w.WriteString(r[c])
			w.WriteString(spaces(width[c] - utf8.RuneCountInString(r[c]) + 2))
		}
		w.WriteString(r[len(r)-1])
		w.WriteByte('\n')
	}
}

// rowCells makes the lvol table's cells. Thousands of lvols share a few
// sizes and kinds: those cells are made once each, not once a row.
type rowCells struct {
	bytes map[uint64]string
	kinds map[scanKind]string
	buf   []byte
}

// scanKind is what the KIND column says of a blob without an esnap.
type scanKind struct{ thin, ro, snapshot, clone bool }

func newRowCells() *rowCells {
	return &rowCells{bytes: map[uint64]string{}, kinds: map[scanKind]string{}}
}

func (c *rowCells) size(n uint64) string {
	s, ok := c.bytes[n]
	if !ok {
		s = Bytes(n)
		c.bytes[n] = s
	}
	return s
}

func (c *rowCells) kind(bl *scanner.BlobInfo) string {
	k := scanKind{bl.Thin, bl.ReadOnly, bl.IsSnapshot, bl.Parent != 0}
	s, ok := c.kinds[k]
	if !ok {
		s = kindText(k)
		c.kinds[k] = s
	}
	if bl.ExternalSnapshot != "" {
		s += " esnap-clone of " + Printable(bl.ExternalSnapshot)
	}
	return s
}

func kindText(k scanKind) string {
	s := "thick"
	if k.thin {
		s = "thin"
	}
	if k.ro {
		s += " ro"
	}
	if k.snapshot {
		s += " snapshot"
	}
	if k.clone {
		s += " clone"
	}
	return s
}

func (c *rowCells) lvolRow(bl *scanner.BlobInfo, lead string, clusterSize uint64) [len(treeCols)]string {
	uuid := Printable(bl.LvolUUID)
	if uuid == "" {
		uuid = "-"
	}
	c.buf = strconv.AppendUint(append(c.buf[:0], "0x"...), bl.ID, 16)
	return [len(treeCols)]string{
		lead + Printable(bl.LvolName), c.size(bl.SizeBytes), c.size(bl.AllocatedClusters * clusterSize),
		c.kind(bl), string(c.buf), uuid, scanLoadWords[bl.Loads],
	}
}
