package blobstore

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Dump writes a human-readable listing of a super block and blobs, in the
// spirit of spdk_bs_dump, for forensics. Values that are printable text
// (NUL padding stripped) are quoted; others are hex, cut at 64 bytes.
func Dump(w io.Writer, sb *SuperBlock, blobs []*Blob) error {
	bw := bufio.NewWriter(w)
	if sb != nil {
		fmt.Fprintf(bw, "super block: version %d clean %d bstype %q cluster_size %d size %d io_unit %d md_page_size %d\n",
			sb.Version, sb.Clean, sb.BstypeString(), sb.ClusterSize, sb.Size, sb.IOUnitSize, sb.PageSizeMD())
		fmt.Fprintf(bw, "  super blob %#x; regions (pages):", sb.SuperBlob)
		for _, r := range sb.Regions() {
			fmt.Fprintf(bw, " %s [%d,+%d)", r.Name, r.Start, r.Len)
		}
		fmt.Fprintf(bw, "\n  clusters %d, metadata clusters %d\n", sb.TotalClusters(), sb.MDClusters())
	}
	for _, b := range blobs {
		dumpBlob(bw, b)
	}
	return bw.Flush()
}

func dumpBlob(w *bufio.Writer, b *Blob) {
	fmt.Fprintf(w, "blob %#x: pages %v\n", b.ID, b.Pages)
	fmt.Fprintf(w, "  flags: invalid %#x (%s) data_ro %#x md_ro %#x\n", b.Invalid, flagNames(b.Invalid), b.DataRO, b.MDRO)
	for _, x := range b.Xattrs {
		kind := "xattr"
		if x.Internal {
			kind = "internal xattr"
		}
		fmt.Fprintf(w, "  %s %q = %s\n", kind, x.Name, showValue(x.Name, x.Value))
	}
	table := "extent rle"
	if b.UsesExtentTable {
		table = fmt.Sprintf("extent table (%d slots, num_clusters %d)", b.ExtentTableLen, b.TableNumClusters)
	}
	fmt.Fprintf(w, "  %s: %d clusters, %d allocated\n", table, b.NumClusters, b.AllocatedClusters())
	for i, r := range b.Clusters {
		if i == 32 {
			fmt.Fprintf(w, "    ... %d more runs\n", len(b.Clusters)-i)
			break
		}
		fmt.Fprintf(w, "    logical %d -> cluster %d x%d\n", r.Logical, r.Physical, r.Count)
	}
	for i, r := range b.ExtentRefs {
		if i == 32 {
			fmt.Fprintf(w, "    ... %d more extent pages\n", len(b.ExtentRefs)-i)
			break
		}
		owner := ""
		if r.ID != b.ID {
			owner = fmt.Sprintf(" (id %#x)", r.ID)
		}
		fmt.Fprintf(w, "    extent page %d slot %d%s\n", r.Page, r.Slot, owner)
	}
	for _, u := range b.Unknown {
		fmt.Fprintf(w, "  unknown descriptor type %d (%d bytes) in page %d\n", u.Type, u.Len, u.Page)
	}
}

func flagNames(f uint64) string {
	var n []string
	for _, x := range []struct {
		bit  uint64
		name string
	}{{FlagThin, "thin"}, {FlagInternalXattrs, "internal-xattrs"}, {FlagExtentTable, "extent-table"}, {FlagExternalSnapshot, "esnap"}} {
		if f&x.bit != 0 {
			n = append(n, x.name)
			f &^= x.bit
		}
	}
	if f != 0 {
		n = append(n, fmt.Sprintf("unknown %#x", f))
	}
	return strings.Join(n, ",")
}

func showValue(name string, v []byte) string {
	if name == XattrSnapshot && len(v) == 8 {
		return fmt.Sprintf("blob %#x", le.Uint64(v))
	}
	t := strings.TrimRight(string(v), "\x00")
	printable := utf8.ValidString(t)
	for _, r := range t {
		if r < 0x20 || r == 0x7f {
			printable = false
			break
		}
	}
	if printable && (len(t) > 0 || len(v) == 0) {
		if len(t) > 96 {
			return fmt.Sprintf("%q... (%d bytes)", t[:96], len(v))
		}
		return fmt.Sprintf("%q (%d bytes)", t, len(v))
	}
	if len(v) > 64 {
		return fmt.Sprintf("%x... (%d bytes)", v[:64], len(v))
	}
	return fmt.Sprintf("%x", v)
}
