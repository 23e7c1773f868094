package report

import (
	"encoding/json"
	"strconv"

	"github.com/lvfsck/lvfsck/scanner"
)

// appendBlob appends b as encoding/json, indented two spaces a level,
// writes it as an element of the top-level "blobs" list: members six
// spaces in. Field order, names and omitempty follow scanner.BlobInfo's
// tags (TestBlobJSONKnowsEveryField fails when a field is added there).
func appendBlob(dst []byte, b *scanner.BlobInfo) []byte {
	const in = "\n      "
	dst = append(dst, '{')
	dst = appendUintField(dst, in, "id", b.ID, false)
	dst = append(dst, ","+in+`"pages": `...)
	if b.Pages == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendUint32s(dst, b.Pages)
	}
	if len(b.ExtentPages) > 0 {
		dst = append(dst, ","+in+`"extent_pages": `...)
		dst = appendUint32s(dst, b.ExtentPages)
	}
	dst = appendBoolField(dst, in, "is_lvol", b.IsLvol)
	if b.LvolName != "" {
		dst = appendStringField(dst, in, "lvol_name", b.LvolName)
	}
	if b.LvolUUID != "" {
		dst = appendStringField(dst, in, "lvol_uuid", b.LvolUUID)
	}
	dst = appendUintField(dst, in, "num_clusters", b.NumClusters, true)
	dst = appendUintField(dst, in, "size_bytes", b.SizeBytes, true)
	dst = appendList(dst, "allocated", len(b.Allocated), func(dst []byte, i int) []byte {
		const rin = "\n          "
		r := b.Allocated[i]
		dst = append(dst, '{')
		dst = appendUintField(dst, rin, "offset", r.Offset, false)
		dst = appendUintField(dst, rin, "cluster", r.Cluster, true)
		dst = appendUintField(dst, rin, "count", r.Count, true)
		return append(dst, "\n        }"...)
	})
	dst = appendUintField(dst, in, "allocated_clusters", b.AllocatedClusters, true)
	dst = appendBoolField(dst, in, "thin", b.Thin)
	dst = appendBoolField(dst, in, "read_only", b.ReadOnly)
	if b.Parent != 0 {
		dst = appendUintField(dst, in, "parent", b.Parent, true)
	}
	if b.ExternalSnapshot != "" {
		dst = appendStringField(dst, in, "external_snapshot", b.ExternalSnapshot)
	}
	dst = appendList(dst, "clones", len(b.Clones), func(dst []byte, i int) []byte {
		return strconv.AppendUint(dst, b.Clones[i], 10)
	})
	dst = appendBoolField(dst, in, "is_snapshot", b.IsSnapshot)
	if b.IsSuper {
		dst = appendBoolField(dst, in, "is_super", true)
	}
	dst = appendList(dst, "xattrs", len(b.Xattrs), func(dst []byte, i int) []byte {
		const xin = "\n          "
		x := b.Xattrs[i]
		dst = append(dst, "{"+xin+`"name": `...)
		dst = appendJSONString(dst, x.Name)
		dst = appendStringField(dst, xin, "value", x.Value)
		if x.Internal {
			dst = appendBoolField(dst, xin, "internal", true)
		}
		return append(dst, "\n        }"...)
	})
	dst = appendUintField(dst, in, "invalid_flags", b.InvalidFlags, true)
	dst = appendUintField(dst, in, "data_ro_flags", b.DataROFlags, true)
	dst = appendUintField(dst, in, "md_ro_flags", b.MDROFlags, true)
	dst = appendStringField(dst, in, "loads", string(b.Loads))
	return append(dst, "\n    }"...)
}

// appendList appends an omitempty list member of a blob: nothing when n
// is 0, else each element (written by elem) on a line eight spaces in.
func appendList(dst []byte, k string, n int, elem func(dst []byte, i int) []byte) []byte {
	if n == 0 {
		return dst
	}
	dst = append(dst, ",\n      \""+k+"\": ["...)
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(append(dst, "\n        "...), i)
	}
	return append(dst, "\n      ]"...)
}

func appendUintField(dst []byte, in, k string, v uint64, comma bool) []byte {
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, in...)
	dst = append(append(append(dst, '"'), k...), `": `...)
	return strconv.AppendUint(dst, v, 10)
}

func appendBoolField(dst []byte, in, k string, v bool) []byte {
	dst = append(append(dst, ','), in...)
	dst = append(append(append(dst, '"'), k...), `": `...)
	return strconv.AppendBool(dst, v)
}

func appendStringField(dst []byte, in, k, v string) []byte {
	dst = append(append(dst, ','), in...)
	dst = append(append(append(dst, '"'), k...), `": `...)
	return appendJSONString(dst, v)
}

// appendUint32s appends a list of page indexes, one a line, eight spaces in.
func appendUint32s(dst []byte, ps []uint32) []byte {
	if len(ps) == 0 {
		return append(dst, "[]"...)
	}
	dst = append(dst, '[')
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(append(dst, "\n        "...), uint64(p), 10)
	}
	return append(dst, "\n      ]"...)
}

// appendJSONString appends s quoted as encoding/json quotes it (HTML
// characters, control bytes, U+2028/9 and bad UTF-8 escaped): plain
// printable ASCII is copied, anything else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				return append(dst, `""`...) // a string always marshals
			}
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
