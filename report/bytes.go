package report

import (
	"math/bits"
	"strconv"
)

var byteUnits = []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// Bytes renders a size for humans, 1024-based, with at most one decimal:
// "512 B", "12 MiB", "1.5 GiB". Rounding is exact (no float), half up, and
// moves to the next unit when it reaches 1024 of the current one.
func Bytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	u := 0 // index in byteUnits; unit size is 1024^(u+1)
	for u+1 < len(byteUnits) && n >= uint64(1)<<(10*(u+2)) {
		u++
	}
	for {
		unit := uint64(1) << (10 * (u + 1))
		// tenths = round(n*10/unit), in 128 bits so 16 EiB does not overflow.
		hi, lo := bits.Mul64(n, 10)
		lo, carry := bits.Add64(lo, unit/2, 0)
		tenths, _ := bits.Div64(hi+carry, lo, unit)
		if tenths >= 10240 && u+1 < len(byteUnits) {
			u++ // 1023.96 KiB rounds to 1024.0 KiB: say 1 MiB instead
			continue
		}
		s := strconv.FormatUint(tenths/10, 10)
		if d := tenths % 10; d != 0 {
			s += "." + strconv.FormatUint(d, 10)
		}
		return s + " " + byteUnits[u]
	}
}
