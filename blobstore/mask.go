package blobstore

import "math/bits"

const maskHeaderSize = 5 // type u8, length u32 (bits)

// Mask is one of the three bit masks (used md pages, used clusters, used
// blob ids). Bit i is bit i%8 of byte i/8. On disk the masks are current
// only when the super block says clean.
type Mask struct {
	Type   uint8
	Length uint32 // in bits
	Bits   []byte // ceil(Length/8) bytes
}

// NewMask returns an all-clear mask of n bits.
func NewMask(typ uint8, n uint32) *Mask {
	return &Mask{Type: typ, Length: n, Bits: make([]byte, (uint64(n)+7)/8)}
}

// DecodeMask decodes a mask region (all its pages). The type must be want
// and the bit length must fit the buffer. Bits past Length are ignored.
func DecodeMask(b []byte, want uint8) (*Mask, error) {
	if len(b) < maskHeaderSize {
		return nil, formatErr(ErrTruncated, -1, 0, "mask needs %d header bytes, have %d", maskHeaderSize, len(b))
	}
	m := &Mask{Type: b[0], Length: le.Uint32(b[1:])}
	if m.Type != want {
		return nil, formatErr(ErrMask, -1, 0, "mask type %d, want %d", m.Type, want)
	}
	n := (uint64(m.Length) + 7) / 8
	if n > uint64(len(b)-maskHeaderSize) {
		return nil, formatErr(ErrMask, -1, 1, "mask of %d bits does not fit %d bytes", m.Length, len(b))
	}
	m.Bits = make([]byte, n)
	copy(m.Bits, b[maskHeaderSize:])
	if r := m.Length % 8; r != 0 {
		m.Bits[n-1] &= byte(1)<<r - 1
	}
	return m, nil
}

// Encode returns the mask region of pages pages: header, bits, zeros. Bits
// that do not fit are dropped; size the region with MaskPages.
func (m *Mask) Encode(pages uint32) []byte {
	b := make([]byte, int(pages)*PageSize)
	if len(b) < maskHeaderSize {
		return b
	}
	b[0] = m.Type
	le.PutUint32(b[1:], m.Length)
	copy(b[maskHeaderSize:], m.Bits)
	return b
}

// MaskPages is the number of pages a mask of n bits occupies.
func MaskPages(n uint64) uint32 { return uint32(maskPages(n)) }

// Test reports bit i; false when i is out of range.
func (m *Mask) Test(i uint64) bool {
	if i >= uint64(m.Length) || i/8 >= uint64(len(m.Bits)) {
		return false
	}
	return m.Bits[i/8]&(1<<(i%8)) != 0
}

// Set sets bit i; out of range is ignored.
func (m *Mask) Set(i uint64) {
	if i < uint64(m.Length) && i/8 < uint64(len(m.Bits)) {
		m.Bits[i/8] |= 1 << (i % 8)
	}
}

// Clear clears bit i; out of range is ignored.
func (m *Mask) Clear(i uint64) {
	if i < uint64(m.Length) && i/8 < uint64(len(m.Bits)) {
		m.Bits[i/8] &^= 1 << (i % 8)
	}
}

// Count is the number of set bits.
func (m *Mask) Count() uint64 {
	var n int
	for _, x := range m.Bits {
		n += bits.OnesCount8(x)
	}
	return uint64(n)
}

// Each calls fn for every set bit, in order.
func (m *Mask) Each(fn func(i uint64)) {
	for j, x := range m.Bits {
		for x != 0 {
			k := bits.TrailingZeros8(x)
			i := uint64(j)*8 + uint64(k)
			if i >= uint64(m.Length) {
				return
			}
			fn(i)
			x &^= 1 << k
		}
	}
}
