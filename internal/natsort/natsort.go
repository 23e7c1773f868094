// Package natsort orders names as an operator reads them: vol2 before
// vol10. Every list of lvol or lvstore names lvfsck prints uses it.
package natsort

import "strings"

// Compare orders names as an operator reads them: runs of digits
// compare by value (vol2 < vol10 < vol100), everything else byte by byte.
// Names equal but for leading zeros (vol01, vol1) fall back to plain order,
// so the order is total and every sort over it is deterministic.
func Compare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			ei, ej := digitsEnd(a, i), digitsEnd(b, j)
			// Value order of two digit runs: fewer significant digits is
			// smaller, then the digits themselves.
			na, nb := strings.TrimLeft(a[i:ei], "0"), strings.TrimLeft(b[j:ej], "0")
			if len(na) != len(nb) {
				if len(na) < len(nb) {
					return -1
				}
				return 1
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			i, j = ei, ej
			continue
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
		i++
		j++
	}
	switch {
	case len(a)-i < len(b)-j:
		return -1
	case len(a)-i > len(b)-j:
		return 1
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitsEnd(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
